using MtkdRl.Core;
using MtkdRl.Native;

namespace MtkdRl.Tests.Native;

/// <summary>A missing or broken library is a BackendUnavailableException saying how to build it.</summary>
public sealed class NativeLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mtkd-loader-").FullName;

    [Fact]
    public void A_missing_library_names_the_directories_and_the_build_command()
    {
        string other = Path.Combine(_dir, "elsewhere");
        var e = Assert.Throws<BackendUnavailableException>(() => NativeLibraryLoader.Load([_dir, other]));
        Assert.Equal(
            $"{NativeLibraryLoader.FileName} was not found in {_dir}, {other}: build with `dotnet build MtkdRl.Native.sln -c Release` " +
            "(it runs CMake on native/ and copies the library next to the assemblies)",
            e.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_library_is_reported_as_unloadable()
    {
        string path = Path.Combine(_dir, NativeLibraryLoader.FileName);
        File.WriteAllText(path, "not a shared library");
        var e = Assert.Throws<BackendUnavailableException>(() => NativeLibraryLoader.Load([_dir]));
        Assert.StartsWith($"{NativeLibraryLoader.FileName} at {path} could not be loaded (", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void The_built_library_is_found_next_to_the_assemblies()
    {
        Assert.Contains(Path.GetFullPath(AppContext.BaseDirectory), NativeLibraryLoader.DefaultDirectories());
        Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, NativeLibraryLoader.FileName)));
        Assert.NotEqual(0, NativeLibraryLoader.Load(NativeLibraryLoader.DefaultDirectories()));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
