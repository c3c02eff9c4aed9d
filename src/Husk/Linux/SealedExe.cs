using System.Diagnostics;

namespace Husk.Linux;

/// <summary>
/// A sealed in-memory copy of the running husk binary, for the processes that enter a container
/// (the init of `create`, the process of `exec`): CVE-2019-5736 let a container overwrite runc on
/// the host through /proc/&lt;runc-pid&gt;/exe. A process started from this copy has a memfd as its
/// /proc/PID/exe, sealed against writes, growth and shrinking (F_SEAL_WRITE, F_SEAL_GROW,
/// F_SEAL_SHRINK, F_SEAL_SEAL), so there is nothing of the host to write to. runc 1.1 does the
/// same (ensure_cloned_binary). Measured here: a ~7 MB copy costs about 1-2 ms.
/// </summary>
public sealed unsafe class SealedExe : IDisposable
{
    int _fd;

    /// <summary>The memfd (close-on-exec).</summary>
    public int Fd => _fd;

    /// <summary>
    /// A path another process can execute while this one lives: /proc/&lt;our pid&gt;/fd/N. (Not
    /// /proc/self/fd/N: posix_spawn's child closes the fds it does not keep before it execs.)
    /// </summary>
    public string ExecPath => $"/proc/{Environment.ProcessId}/fd/{_fd}";

    /// <summary>Milliseconds the last copy took (for --debug).</summary>
    public double CopyMilliseconds { get; private set; }

    SealedExe(int fd) { _fd = fd; }

    public const int AllSeals = Native.F_SEAL_SEAL | Native.F_SEAL_SHRINK | Native.F_SEAL_GROW | Native.F_SEAL_WRITE;

    static Task<SealedExe>? s_prefetch;

    /// <summary>
    /// Starts making the copy on a pool thread, so that it overlaps the rest of `create` (the spec,
    /// the state directory, the cgroup); <see cref="Take"/> then waits for it.
    /// </summary>
    public static void Prefetch()
    {
        if (Volatile.Read(ref s_prefetch) is null) Interlocked.CompareExchange(ref s_prefetch, Task.Run(Create), null);
    }

    /// <summary>The prefetched copy (waiting for it), else a new one.</summary>
    public static SealedExe Take()
    {
        var t = Interlocked.Exchange(ref s_prefetch, null);
        return t is not null ? t.GetAwaiter().GetResult() : Create();
    }

    /// <summary>Copies /proc/self/exe into a new memfd and seals it.</summary>
    public static SealedExe Create()
    {
        long start = Stopwatch.GetTimestamp();
        int src = Native.open("/proc/self/exe", Native.O_RDONLY | Native.O_CLOEXEC, 0);
        if (src < 0) throw new KernelException("open /proc/self/exe", Native.Errno);
        int mfd = -1;
        try
        {
            mfd = Native.memfd_create("husk", Native.MFD_CLOEXEC | Native.MFD_ALLOW_SEALING | Native.MFD_EXEC);
            if (mfd < 0 && Native.Errno == Native.EINVAL)   // kernels before 6.3 have no MFD_EXEC
                mfd = Native.memfd_create("husk", Native.MFD_CLOEXEC | Native.MFD_ALLOW_SEALING);
            if (mfd < 0) throw new KernelException("memfd_create for a sealed copy of husk", Native.Errno);
            while (true)
            {
                nint n = Native.sendfile(mfd, src, null, 1 << 30);
                if (n == 0) break;
                if (n < 0)
                {
                    if (Native.Errno == Native.EINTR) continue;
                    throw new KernelException("copy husk into a memfd", Native.Errno);
                }
            }
            Native.Check(Native.fcntl(mfd, Native.F_ADD_SEALS, AllSeals), "seal the copy of husk");
            var exe = new SealedExe(mfd) { CopyMilliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds };
            mfd = -1;
            return exe;
        }
        finally
        {
            Native.close(src);
            if (mfd >= 0) Native.close(mfd);
        }
    }

    /// <summary>Whether <paramref name="fd"/> is a memfd carrying every seal of <see cref="AllSeals"/>.</summary>
    public static bool IsSealed(int fd)
    {
        int seals = Native.fcntl(fd, Native.F_GET_SEALS, 0);
        return seals >= 0 && (seals & AllSeals) == AllSeals;
    }

    public void Dispose()
    {
        if (_fd >= 0) Native.close(_fd);
        _fd = -1;
    }
}
