using System.Diagnostics;
using System.Text;
using Husk.Linux;
using Husk.Spec;

namespace Husk.Container;

/// <summary>
/// Runs OCI lifecycle hooks: each hook's program with its exact argv (argv[0] may differ from
/// the path) and exactly its environment, the container's state JSON on its stdin, stdout and
/// stderr inherited, bounded by its timeout. The hook is always reaped, also on timeout.
/// </summary>
public static unsafe class HookRunner
{
    /// <summary>
    /// Runs the hooks in order; the first that fails, times out or cannot be started throws a
    /// <see cref="HuskException"/>: "error running hook: {phase} hook #{i} ({path}): exit status 3" (runc's
    /// "error running hook", and a signal as Go names it, "signal: bad system call", are what runc's tests look for).
    /// </summary>
    public static void Run(IEnumerable<Hook> hooks, string stateJson, string phase)
    {
        int i = 0;
        foreach (var hook in hooks)
        {
            string? error = RunOne(hook, stateJson, phase, i++);
            if (error is not null) throw new HuskException(error);
        }
    }

    /// <summary>
    /// Runs every hook in order whatever happens (poststart, poststop: failures are only warnings);
    /// each failure's message goes to <paramref name="log"/>. Returns false when any hook failed.
    /// </summary>
    public static bool RunBestEffort(IEnumerable<Hook> hooks, string stateJson, string phase, Action<string> log)
    {
        bool ok = true;
        int i = 0;
        foreach (var hook in hooks)
        {
            string? error;
            try { error = RunOne(hook, stateJson, phase, i); }
            catch (HuskException e) { error = $"{Name(phase, i, hook)}: {e.Message}"; }
            i++;
            if (error is null) continue;
            ok = false;
            log(error);
        }
        return ok;
    }

    /// <summary>Runs one hook; null when it exited 0, else the one-line error.</summary>
    static string? RunOne(Hook hook, string stateJson, string phase, int index)
    {
        string name = Name(phase, index, hook);
        IReadOnlyList<string> argv = hook.Args.Count > 0 ? hook.Args : [hook.Path];
        byte[] input = Encoding.UTF8.GetBytes(stateJson);

        var p = stackalloc int[2];
        Native.Check(Native.pipe2(p, Native.O_CLOEXEC), "pipe2");
        int readFd = p[0], writeFd = p[1];
        int pid;
        try
        {
            // In a session (and process group) of its own, so a timeout kills what it started too.
            pid = Spawner.Spawn(hook.Path, argv, hook.Env, [(readFd, 0)], newSession: true);
        }
        catch (KernelException e)
        {
            Native.close(readFd);
            Native.close(writeFd);
            return $"{name}: cannot start: {Native.StrError(e.Errno)}";
        }
        Native.close(readFd);

        int flags = Native.fcntl(writeFd, Native.F_GETFL, 0);
        if (flags >= 0) Native.fcntl(writeFd, Native.F_SETFL, flags | Native.O_NONBLOCK);

        int status;
        try
        {
            if (!Wait(pid, ref writeFd, input, hook.Timeout, out status))
            {
                Native.kill(-pid, Native.SIGKILL);   // the hook's process group (it is not reaped yet: the id is still its)
                Native.kill(pid, Native.SIGKILL);
                Reap(pid, out _);
                return $"{name}: timed out after {hook.Timeout}s";
            }
        }
        catch (KernelException e) when (e.Errno == Native.ECHILD)
        {
            throw;   // already reaped by someone else: its pid may be reused, signal nothing
        }
        catch
        {
            // Never leave the hook running or a zombie behind.
            Native.kill(-pid, Native.SIGKILL);
            Native.kill(pid, Native.SIGKILL);
            Reap(pid, out _);
            throw;
        }
        finally
        {
            if (writeFd >= 0) Native.close(writeFd);
        }

        if (Native.WIFEXITED(status) && Native.WEXITSTATUS(status) == 0) return null;
        return $"{name}: {Signals.DescribeWaitStatus(status)}";
    }

    static string Name(string phase, int index, Hook hook) => $"error running hook: {phase} hook #{index} ({hook.Path})";

    /// <summary>
    /// Feeds <paramref name="input"/> to the hook's stdin (the hook may not read it) and waits for it to
    /// exit. Returns false when <paramref name="timeoutSeconds"/> passed first (the hook still runs).
    /// <paramref name="writeFd"/> is closed here once all is written or the reader is gone; it is set to -1 then.
    /// </summary>
    static bool Wait(int pid, ref int writeFd, byte[] input, int? timeoutSeconds, out int status)
    {
        long deadline = timeoutSeconds is int t ? Stopwatch.GetTimestamp() + (long)t * Stopwatch.Frequency : long.MaxValue;
        int pidfd = Native.pidfd_open(pid, 0);
        int written = 0;
        var fds = stackalloc Native.PollFd[2];
        try
        {
            while (true)
            {
                // Write what the pipe takes now.
                if (writeFd >= 0)
                {
                    bool done = false;
                    fixed (byte* b = input)
                        while (written < input.Length)
                        {
                            nint n = Native.write(writeFd, b + written, input.Length - written);
                            if (n >= 0) { written += (int)n; continue; }
                            int errno = Native.Errno;
                            if (errno == Native.EINTR) continue;
                            if (errno == Native.EAGAIN) break;
                            done = true;   // EPIPE: the hook closed its stdin without reading; that's its right
                            break;
                        }
                    if (done || written >= input.Length) { Native.close(writeFd); writeFd = -1; }
                }

                if (TryReap(pid, out status)) return true;

                int timeoutMs;
                if (deadline == long.MaxValue) timeoutMs = -1;
                else
                {
                    long left = deadline - Stopwatch.GetTimestamp();
                    if (left <= 0) return false;
                    timeoutMs = (int)Math.Min(int.MaxValue, (left * 1000 + Stopwatch.Frequency - 1) / Stopwatch.Frequency);
                }

                if (pidfd >= 0)
                {
                    fds[0] = new Native.PollFd { Fd = pidfd, Events = Native.POLLIN };
                    fds[1] = new Native.PollFd { Fd = writeFd, Events = Native.POLLOUT };   // fd -1 is ignored by poll
                    int rc = Native.poll(fds, 2, timeoutMs);
                    if (rc < 0 && Native.Errno != Native.EINTR)
                        throw new KernelException("poll", Native.Errno);
                }
                else
                {
                    // No pidfd (kernel before 5.3): poll the pipe alone with short sleeps.
                    int slice = timeoutMs < 0 ? 10 : Math.Min(timeoutMs, 10);
                    var fd = new Native.PollFd { Fd = writeFd, Events = Native.POLLOUT };
                    if (writeFd >= 0 && written < input.Length) Native.poll(&fd, 1, slice);
                    else Thread.Sleep(slice);
                }
            }
        }
        finally
        {
            if (pidfd >= 0) Native.close(pidfd);
        }
    }

    static bool TryReap(int pid, out int status)
    {
        int s;
        while (true)
        {
            int r = Native.waitpid(pid, &s, Native.WNOHANG);
            if (r == pid) { status = s; return true; }
            if (r == 0) { status = 0; return false; }
            if (Native.Errno == Native.EINTR) continue;
            throw new KernelException($"waitpid({pid})", Native.Errno);
        }
    }

    static void Reap(int pid, out int status)
    {
        int s = 0;
        while (Native.waitpid(pid, &s, 0) < 0 && Native.Errno == Native.EINTR) { }
        status = s;
    }
}
