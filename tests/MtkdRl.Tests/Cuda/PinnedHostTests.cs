using System.Runtime.CompilerServices;
using MtkdRl.Gpu.Cuda;

namespace MtkdRl.Tests.Cuda;

/// <summary>
/// A copy that turns the host span's reference into a raw address (as ILGPU's CopyFromCPU/CopyToCPU(ref T, long)
/// do) must find the array where it was after compacting garbage collections during the copy.
/// </summary>
public unsafe class PinnedHostTests
{
    /// <summary>Young garbage around the array, so a compacting collection has a reason to move it.</summary>
    private static float[] ArrayAmongGarbage(int length)
    {
        var keep = new List<object>();
        for (int i = 0; i < 2000; i++)
        {
            _ = new byte[512];
            if (i % 7 == 0) keep.Add(new byte[64]);
        }
        var array = new float[length];
        for (int i = 0; i < length; i++) array[i] = i;
        GC.KeepAlive(keep);
        return array;
    }

    private static void CollectAndCompact()
    {
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 1000; j++) _ = new byte[256];
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_copy_finds_the_array_at_its_address_through_forced_collections(bool write)
    {
        var array = ArrayAmongGarbage(4096);
        PinnedHost.Copy<float> copy = (ref float first, long count) =>
        {
            float* raw = (float*)Unsafe.AsPointer(ref first); // what ILGPU's copies do with the reference
            CollectAndCompact();
            Assert.Equal(array.Length, count);
            Assert.True(raw == (float*)Unsafe.AsPointer(ref array[0]), "the array moved during the copy");
            for (int i = 0; i < count; i++)
            {
                if (write) raw[i] = -i;
                else Assert.Equal(i, raw[i]);
            }
        };
        if (write) PinnedHost.Write<float>(array, copy);
        else PinnedHost.Read<float>(array, copy);
        if (write) Assert.All(array.Select((v, i) => (v, i)), p => Assert.Equal(-p.i, p.v));
    }
}
