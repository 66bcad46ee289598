namespace MtkdRl.Core;

/// <summary>
/// An error the user can act on: bad input, a missing file or library, an unavailable backend.
/// The CLI prints <see cref="Exception.Message"/> as one line and exits non-zero, without a stack trace.
/// Messages name the thing at fault (file, argument, teacher and row) and the problem.
/// </summary>
public class MtkdException : Exception
{
    public MtkdException(string message) : base(message) { }
    public MtkdException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Input data that cannot be processed: shapes that disagree, non-finite values, labels out of range.</summary>
public sealed class MtkdInputException : MtkdException
{
    public MtkdInputException(string message) : base(message) { }
}

/// <summary>A backend that cannot run here (no library, no device, unsupported CPU); the message says why.</summary>
public sealed class BackendUnavailableException : MtkdException
{
    public BackendUnavailableException(string message) : base(message) { }
}
