using System.Runtime.InteropServices;

namespace MtkdRl.Core.Cluster;

/// <summary>
/// The few functions of Open MPI's C API (libmpi.so.40, Open MPI 4.x) the communicator calls. Open MPI's
/// predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are the addresses of exported globals
/// (ompi_mpi_comm_world, ...), read with <see cref="NativeLibrary.GetExport"/>. The library is opened with
/// RTLD_GLOBAL first: Open MPI's components (mca_*.so) are loaded by libmpi itself and resolve some of its
/// symbols from the global scope, which a plain dlopen (RTLD_LOCAL, what .NET uses) does not give them.
/// </summary>
internal static partial class OpenMpi
{
    public const string Library = "libmpi.so.40";

    /// <summary>MPI_IN_PLACE in Open MPI.</summary>
    public static readonly nint InPlace = 1;

    private const int RtldNow = 2;
    private const int RtldGlobal = 0x100;

    public static nint CommWorld { get; private set; }
    public static nint Float { get; private set; }
    public static nint Double { get; private set; }
    public static nint Byte { get; private set; }
    public static nint Int { get; private set; }
    public static nint Sum { get; private set; }

    /// <summary>Opens libmpi with RTLD_GLOBAL and reads the predefined handles; a one-line error when it is missing.</summary>
    public static void Load()
    {
        nint handle = dlopen(Library, RtldNow | RtldGlobal);
        if (handle == 0)
            throw new MtkdException($"{Library}: cannot be loaded ({Marshal.PtrToStringUTF8(dlerror()) ?? "unknown reason"}); the process was started by an MPI launcher, install Open MPI 4 (Debian: openmpi-bin libopenmpi-dev)");
        CommWorld = NativeLibrary.GetExport(handle, "ompi_mpi_comm_world");
        Float = NativeLibrary.GetExport(handle, "ompi_mpi_float");
        Double = NativeLibrary.GetExport(handle, "ompi_mpi_double");
        Byte = NativeLibrary.GetExport(handle, "ompi_mpi_byte");
        Int = NativeLibrary.GetExport(handle, "ompi_mpi_int");
        Sum = NativeLibrary.GetExport(handle, "ompi_mpi_op_sum");
    }

    public static void Check(int code, string function)
    {
        if (code != 0) throw new MtkdException($"MPI: {function} failed with error {code}");
    }

    [LibraryImport("libc", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint dlopen(string file, int mode);

    [LibraryImport("libc", EntryPoint = "dlerror")]
    private static partial nint dlerror();

    [LibraryImport("libc", EntryPoint = "_exit")]
    public static partial void ExitNow(int status);

    [LibraryImport(Library)] public static partial int MPI_Init(nint argc, nint argv);
    [LibraryImport(Library)] public static partial int MPI_Initialized(out int flag);
    [LibraryImport(Library)] public static partial int MPI_Finalized(out int flag);
    [LibraryImport(Library)] public static partial int MPI_Finalize();
    [LibraryImport(Library)] public static partial int MPI_Abort(nint comm, int errorCode);
    [LibraryImport(Library)] public static partial int MPI_Comm_rank(nint comm, out int rank);
    [LibraryImport(Library)] public static partial int MPI_Comm_size(nint comm, out int size);
    [LibraryImport(Library)] public static partial int MPI_Barrier(nint comm);
    [LibraryImport(Library)] public static unsafe partial int MPI_Allreduce(void* send, void* receive, int count, nint type, nint op, nint comm);
    [LibraryImport(Library)] public static unsafe partial int MPI_Bcast(void* buffer, int count, nint type, int root, nint comm);
    [LibraryImport(Library)] public static unsafe partial int MPI_Allgather(void* send, int sendCount, nint sendType, void* receive, int receiveCount, nint receiveType, nint comm);
    [LibraryImport(Library)] public static unsafe partial int MPI_Gather(void* send, int sendCount, nint sendType, void* receive, int receiveCount, nint receiveType, int root, nint comm);
    [LibraryImport(Library)] public static unsafe partial int MPI_Gatherv(void* send, int sendCount, nint sendType, void* receive, int* receiveCounts, int* displacements, nint receiveType, int root, nint comm);
}
