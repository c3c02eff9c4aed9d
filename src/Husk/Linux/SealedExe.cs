using System.Diagnostics;

namespace Husk.Linux;

/// <summary>
/// An unwritable copy of the running husk binary for the processes that enter a container (the
/// init of `create`, the process of `exec`): CVE-2019-5736 let a container overwrite runc on the
/// host through /proc/&lt;runc-pid&gt;/exe. Two ways, cheapest first:
/// <list type="bullet">
/// <item>A read-only overlayfs of husk's directory (two lower layers, no upper layer), mounted
/// detached with the new mount API and never attached anywhere: the file is husk's own pages, no
/// copy, and an overlay without an upper layer can never be written, whatever is remounted
/// (runc 1.2 does the same).</item>
/// <item>Where overlayfs is not allowed (rootless) or the layers overlap: a memfd copy sealed
/// against writes, growth and shrinking (runc 1.1's ensure_cloned_binary). Costs a copy of the
/// binary (a few ms).</item>
/// </list>
/// </summary>
public sealed unsafe class SealedExe : IDisposable
{
    int _fd;

    /// <summary>The file's fd (close-on-exec).</summary>
    public int Fd => _fd;

    /// <summary>How the copy was made: "overlay" or "memfd".</summary>
    public string Kind { get; }

    /// <summary>
    /// A path another process can execute while this one lives: /proc/&lt;our pid&gt;/fd/N. (Not
    /// /proc/self/fd/N: posix_spawn's child closes the fds it does not keep before it execs.)
    /// </summary>
    public string ExecPath => $"/proc/{Environment.ProcessId}/fd/{_fd}";

    /// <summary>Milliseconds making it took (for --debug and `husk check`).</summary>
    public double CopyMilliseconds { get; private set; }

    SealedExe(int fd, string kind) { _fd = fd; Kind = kind; }

    public const int AllSeals = Native.F_SEAL_SEAL | Native.F_SEAL_SHRINK | Native.F_SEAL_GROW | Native.F_SEAL_WRITE;

    /// <summary>
    /// The second (empty enough) lower layer of the overlay: any directory that neither contains
    /// husk's directory nor lies in it. Names in husk's directory take precedence.
    /// </summary>
    const string SecondLayer = "/dev";

    public static SealedExe Create()
    {
        long start = Stopwatch.GetTimestamp();
        var exe = TryOverlay() ?? CopyToMemfd();
        exe.CopyMilliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return exe;
    }

    /// <summary>husk opened through a detached read-only overlay of its directory; null where that is not possible.</summary>
    static SealedExe? TryOverlay()
    {
        var self = SelfExe.Path;
        var dir = Path.GetDirectoryName(self);
        if (dir is null || dir == "/" || dir.StartsWith(SecondLayer + "/", StringComparison.Ordinal) || dir == SecondLayer) return null;
        int fsfd = Native.fsopen("overlay", Native.FSOPEN_CLOEXEC);
        if (fsfd < 0) return null;
        int mnt = -1;
        try
        {
            if (Native.fsconfig_string(fsfd, "lowerdir", $"{dir}:{SecondLayer}") < 0) return null;
            if (Native.fsconfig_cmd(fsfd, Native.FSCONFIG_CMD_CREATE) < 0) return null;
            mnt = Native.fsmount(fsfd, Native.FSMOUNT_CLOEXEC, Native.MOUNT_ATTR_RDONLY | Native.MOUNT_ATTR_NODEV | Native.MOUNT_ATTR_NOSUID);
            if (mnt < 0) return null;
            int fd = Native.openat(mnt, Path.GetFileName(self), Native.O_RDONLY | Native.O_CLOEXEC, 0);
            return fd < 0 ? null : new SealedExe(fd, "overlay");
        }
        finally
        {
            // The open file keeps the detached mount alive; nothing else refers to it.
            if (mnt >= 0) Native.close(mnt);
            Native.close(fsfd);
        }
    }

    /// <summary>Copies /proc/self/exe into a new memfd and seals it.</summary>
    static SealedExe CopyToMemfd()
    {
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
            var exe = new SealedExe(mfd, "memfd");
            mfd = -1;
            return exe;
        }
        finally
        {
            Native.close(src);
            if (mfd >= 0) Native.close(mfd);
        }
    }

    public void Dispose()
    {
        if (_fd >= 0) Native.close(_fd);
        _fd = -1;
    }
}

/// <summary>The path of the running husk binary.</summary>
public static class SelfExe
{
    public static string Path { get; } = ResolveSelf();

    static string ResolveSelf()
    {
        try { return new FileInfo("/proc/self/exe").LinkTarget ?? Environment.ProcessPath ?? "/proc/self/exe"; }
        catch (IOException) { return Environment.ProcessPath ?? "/proc/self/exe"; }
    }
}
