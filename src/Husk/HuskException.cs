namespace Husk;

/// <summary>
/// An error meant for the user: its message is one line saying what failed and why.
/// The CLI prints it (and logs it) without a stack trace and exits non-zero.
/// </summary>
public class HuskException : Exception
{
    public HuskException(string message) : base(message) { }
    public HuskException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The CLI's exit status for it: 1, or what runc uses for that command (exec: 255).</summary>
    public int ExitCode { get; init; } = 1;
}
