using System.Runtime.InteropServices;

namespace Husk.Linux;

/// <summary>
/// Signal names and numbers as `kill` accepts them ("KILL", "SIGKILL" or "9"), and wait statuses
/// described as Go's os/exec describes them ("exit status 3", "signal: killed"), which is what
/// runc's messages carry and its clients and tests look for.
/// </summary>
public static class Signals
{
    // By number (index 0 unused): the name without "SIG", and Go's description (syscall's signal table).
    static readonly (string Name, string Description)[] Table =
    [
        ("", ""), ("HUP", "hangup"), ("INT", "interrupt"), ("QUIT", "quit"), ("ILL", "illegal instruction"),
        ("TRAP", "trace/breakpoint trap"), ("ABRT", "aborted"), ("BUS", "bus error"), ("FPE", "floating point exception"),
        ("KILL", "killed"), ("USR1", "user defined signal 1"), ("SEGV", "segmentation fault"), ("USR2", "user defined signal 2"),
        ("PIPE", "broken pipe"), ("ALRM", "alarm clock"), ("TERM", "terminated"), ("STKFLT", "stack fault"),
        ("CHLD", "child exited"), ("CONT", "continued"), ("STOP", "stopped (signal)"), ("TSTP", "stopped"),
        ("TTIN", "stopped (tty input)"), ("TTOU", "stopped (tty output)"), ("URG", "urgent I/O condition"),
        ("XCPU", "CPU time limit exceeded"), ("XFSZ", "file size limit exceeded"), ("VTALRM", "virtual timer expired"),
        ("PROF", "profiling timer expired"), ("WINCH", "window changed"), ("IO", "I/O possible"), ("PWR", "power failure"),
        ("SYS", "bad system call"),
    ];

    static readonly Dictionary<string, int> Numbers = BuildNumbers();

    static Dictionary<string, int> BuildNumbers()
    {
        var numbers = new Dictionary<string, int> { ["IOT"] = 6, ["POLL"] = 29 };
        for (int n = 1; n < Table.Length; n++) numbers[Table[n].Name] = n;
        return numbers;
    }

    /// <summary>The Linux number of a signal .NET names (PosixSignal's own values are negative for these).</summary>
    public static int Number(PosixSignal s) => s switch
    {
        PosixSignal.SIGHUP => 1, PosixSignal.SIGINT => 2,
        PosixSignal.SIGQUIT => 3, PosixSignal.SIGTERM => 15,
        _ => (int)s,
    };

    /// <summary>
    /// A waitpid status as Go's exec.ExitError says it, with the signal's name added:
    /// "exit status 3", "signal: bad system call (SIGSYS)", "signal: signal 40 (SIGRTMIN+6) (core dumped)".
    /// </summary>
    public static string DescribeWaitStatus(int status)
    {
        if (Native.WIFEXITED(status)) return $"exit status {Native.WEXITSTATUS(status)}";
        int sig = Native.WTERMSIG(status);
        string signal = sig < Table.Length ? $"{Table[sig].Description} (SIG{Table[sig].Name})"
            : sig is >= 34 and <= 64 ? $"signal {sig} (SIGRTMIN+{sig - 34})"
            : "";
        if (signal.Length == 0) return $"wait status {status}";   // stopped or continued: not an end
        return $"signal: {signal}" + ((status & 0x80) != 0 ? " (core dumped)" : "");
    }

    public static int Parse(string text)
    {
        if (int.TryParse(text, out var n))
        {
            // 0 only asks whether the container is running (runc accepts it; `kill ID 0` is how scripts check).
            if (n is < 0 or > 64) throw new HuskException($"invalid signal \"{text}\": out of range 0-64");
            return n;
        }
        var name = text.ToUpperInvariant();
        if (name.StartsWith("SIG")) name = name[3..];
        if (name.StartsWith("RTMIN") || name.StartsWith("RTMAX"))
        {
            int rtmin = 34, rtmax = 64;
            var rest = name[5..];
            int off = rest.Length == 0 ? 0 : int.TryParse(rest, out var o) ? o : throw new HuskException($"invalid signal \"{text}\"");
            int sig = name.StartsWith("RTMIN") ? rtmin + off : rtmax + off;
            if (sig < rtmin || sig > rtmax) throw new HuskException($"invalid signal \"{text}\"");
            return sig;
        }
        return Numbers.TryGetValue(name, out var s) ? s : throw new HuskException($"unknown signal \"{text}\"");
    }
}
