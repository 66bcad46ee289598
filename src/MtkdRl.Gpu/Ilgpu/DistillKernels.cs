using ILGPU;
using ILGPU.Runtime;
using MtkdRl.Core.Distill;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// The compiled distillation kernels of one accelerator. Compiling is slow (seconds on the CPU simulator),
/// so each kernel is compiled on first use and kept for the accelerator's lifetime; every session of the
/// backend shares this object. Also decides the launch shape: one group per row, min(8, K) warps, and the
/// rows of C floats in dynamic shared memory when they fit in <see cref="SharedRowBudgetBytes"/>.
/// </summary>
public sealed class DistillKernels
{
    /// <summary>Dynamic shared memory a CUDA kernel may use without an opt-in attribute (48 KiB).</summary>
    public const int DefaultSharedBytesPerGroup = 48 * 1024;

    /// <summary>Room kept for the kernels' static shared arrays (per-warp partials).</summary>
    private const int StaticSharedReserveBytes = 2 * 1024;

    /// <summary>Warps per group at most: enough teachers in flight per row, small enough for many groups per SM.</summary>
    public const int MaxWarps = 8;

    /// <summary>
    /// Launch bounds for CUDA (.maxntid 256, .minnctapersm 4): ptxas keeps each kernel within 64 registers per
    /// thread, so four full groups (32 warps) stay resident per SM and enough loads are in flight to saturate
    /// memory. Without it ptxas may spend registers on the unrolled sweeps and halve the occupancy.
    /// </summary>
    public static KernelSpecialization CudaLaunchBounds => new(MaxWarps * 32, 4);

    private readonly Accelerator _accelerator;
    private readonly KernelSpecialization _specialization;
    private readonly Lazy<Action<KernelConfig, DistillKernelArgs>>[] _kernels;
    private readonly Lock _compileGate = new();
    private int _compiled;

    public DistillKernels(Accelerator accelerator, int? sharedRowBudgetBytes = null)
    {
        _accelerator = accelerator;
        _specialization = accelerator.AcceleratorType == AcceleratorType.Cuda ? CudaLaunchBounds : KernelSpecialization.Empty;
        int hardware = (int)Math.Min(accelerator.MaxSharedMemoryPerGroup, DefaultSharedBytesPerGroup);
        SharedRowBudgetBytes = sharedRowBudgetBytes ?? hardware - StaticSharedReserveBytes;
        WarpSize = accelerator.WarpSize;
        MaxWarpsPerGroup = Math.Min(MaxWarps, Math.Min(GroupSync.MaxWarpsPerGroup, accelerator.MaxNumThreadsPerGroup / WarpSize));
        _kernels =
        [
            Loader(StatsKernel.Run<SharedRowScratch>), Loader(StatsKernel.Run<GlobalRowScratch>),
            Loader(GradientKernel.Run<SharedRowScratch>), Loader(GradientKernel.Run<GlobalRowScratch>),
            Loader(FusedKernel.Run<SharedRowScratch>), Loader(FusedKernel.Run<GlobalRowScratch>),
        ];
        Catalog = new CatalogLossKernels(accelerator, _compileGate);
    }

    /// <summary>The sweeps of the catalog losses other than kl + mse, run after these kernels.</summary>
    public CatalogLossKernels Catalog { get; }

    /// <summary>Bytes of dynamic shared memory a group may use for its class rows.</summary>
    public int SharedRowBudgetBytes { get; }

    public int WarpSize { get; }

    public int MaxWarpsPerGroup { get; }

    /// <summary>How many kernels have been compiled so far (each at most once).</summary>
    public int CompiledCount => Volatile.Read(ref _compiled);

    /// <summary>Slots of C floats each pass keeps per group.</summary>
    public static int RowSlots(DistillPass pass) => pass switch
    {
        DistillPass.Stats => StatsKernel.RowSlots,
        DistillPass.Gradient => GradientKernel.RowSlots,
        DistillPass.Fused => FusedKernel.RowSlots,
        _ => throw new ArgumentOutOfRangeException(nameof(pass)),
    };

    /// <summary>True when the pass keeps its class rows in shared memory for this C.</summary>
    public bool RowsInShared(DistillPass pass, int c) => (long)RowSlots(pass) * c * sizeof(float) <= SharedRowBudgetBytes;

    /// <summary>Warps per group for K teachers: no more warps than teachers, since a warp owns a teacher.</summary>
    public int WarpsFor(int k) => Math.Clamp(k, 1, MaxWarpsPerGroup);

    /// <summary>Queues one pass on the accelerator's default stream (asynchronous on GPUs).</summary>
    public void Launch(DistillPass pass, in DistillKernelArgs args)
    {
        bool shared = RowsInShared(pass, args.C);
        int index = 2 * (int)pass + (shared ? 0 : 1);
        var groupSize = new Index1D(WarpsFor(args.K) * WarpSize);
        var config = shared
            ? new KernelConfig(new Index1D(args.B), groupSize, SharedMemoryConfig.RequestDynamic<float>(RowSlots(pass) * args.C))
            : new KernelConfig(new Index1D(args.B), groupSize);
        _kernels[index].Value(config, args);
    }

    private Lazy<Action<KernelConfig, DistillKernelArgs>> Loader(Action<DistillKernelArgs> kernel) =>
        new(() =>
        {
            // One compilation at a time per accelerator: sessions on several threads may ask for different kernels.
            lock (_compileGate)
            {
                var loaded = _accelerator.LoadStreamKernel(kernel, _specialization);
                Interlocked.Increment(ref _compiled);
                return loaded;
            }
        }, LazyThreadSafetyMode.ExecutionAndPublication);
}
