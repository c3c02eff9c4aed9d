using Husk.Linux;

namespace Husk.Container;

/// <summary>Killing and reaping processes when a container goes away or a create fails.</summary>
public static class Cleanup
{
    public const int SIGKILL = 9;

    /// <summary>SIGKILLs the init (if it is still the process recorded) and waits until it is gone.</summary>
    public static void KillInit(int pid, ulong startTime)
    {
        if (pid <= 0 || !ProcFs.IsAlive(pid, startTime)) return;
        Native.kill(pid, SIGKILL);
        WaitGone(pid, startTime, TimeSpan.FromSeconds(5));
    }

    /// <summary>Waits until the process is dead (a zombie counts: its parent reaps it); reaps it if it is our child.</summary>
    public static bool WaitGone(int pid, ulong startTime, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (ProcFs.IsAlive(pid, startTime))
        {
            if (DateTime.UtcNow > deadline) return false;
            TryReap(pid);
            Thread.Sleep(2);
        }
        TryReap(pid);
        return true;
    }

    /// <summary>
    /// SIGKILLs our child and reaps it; gives up after 5 s with a warning, so a failed command still
    /// ends: in a frozen cgroup v1 a process dies only once thawed.
    /// </summary>
    public static void KillAndReap(int pid)
    {
        Native.kill(pid, SIGKILL);
        if (!WaitGone(pid, 0, TimeSpan.FromSeconds(5))) Log.Warn($"process {pid} did not exit after SIGKILL (is its cgroup frozen?)");
    }

    /// <summary>Blocks until our child <paramref name="pid"/> exits; returns its wait status (-1 if not our child).</summary>
    public static unsafe int Reap(int pid)
    {
        int status;
        while (Native.waitpid(pid, &status, Native.__WALL) < 0)
        {
            if (Native.Errno != Native.EINTR) return -1;
        }
        return status;
    }

    static unsafe void TryReap(int pid)
    {
        int status;
        Native.waitpid(pid, &status, Native.WNOHANG | Native.__WALL);
    }

    /// <summary>Shell-style exit code of a wait status: the exit status, or 128+signal.</summary>
    public static int ExitCode(int status) => (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);

    public static string DescribeExit(int pid)
    {
        int status = Reap(pid);
        if (status < 0) return "exit status unknown";
        return Signals.DescribeWaitStatus(status);
    }
}
