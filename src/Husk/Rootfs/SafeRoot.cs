using Husk.Linux;
using static Husk.Linux.Native;

namespace Husk.Rootfs;

/// <summary>
/// An O_PATH handle on a root directory and the safe way to reach paths below it.
///
/// Every lookup goes through openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS relative to
/// the root fd: the kernel resolves symlinks and ".." as if the root were "/", so nothing the
/// container planted (a symlink "/etc/x -> /../../host", a swapped directory in a shared volume,
/// CVE-2021-30465) can make a lookup leave the root. Mounts then target "/proc/self/fd/N" of the
/// fd we resolved, never a path string that could be swapped between the check and the mount.
/// </summary>
internal sealed class SafeRoot : IDisposable
{
    const ulong Resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const int MaxSymlinkHops = 40;

    /// <summary>The O_PATH fd of the root directory.</summary>
    public int Fd { get; private set; }

    /// <summary>The root as the kernel names it in this mount namespace (readlink of its fd).</summary>
    public string HostPath { get; }

    SafeRoot(int fd, string hostPath) { Fd = fd; HostPath = hostPath; }

    /// <summary>Opens <paramref name="hostPath"/> (a directory) as the root.</summary>
    public static SafeRoot Open(string hostPath)
    {
        int fd = Check(open(hostPath, O_PATH | O_DIRECTORY | O_CLOEXEC, 0), $"open {hostPath}");
        return new SafeRoot(fd, FdPath(fd) ?? hostPath);
    }

    public void Dispose()
    {
        if (Fd >= 0) close(Fd);
        Fd = -1;
    }

    /// <summary>"/proc/self/fd/N": the path through which the kernel reaches exactly the file behind fd N.</summary>
    public static string ProcFd(int fd) => $"/proc/self/fd/{fd}";

    /// <summary>What the kernel says fd N is (readlink /proc/self/fd/N), or null.</summary>
    public static string? FdPath(int fd) => ReadLinkAt(AT_FDCWD, ProcFd(fd));

    /// <summary>The container path of an fd opened below this root (for checks and messages).</summary>
    public string? ContainerPathOf(int fd) =>
        FdPath(fd) is { } p ? ContainerPath.RelativeToRoot(p, HostPath) : null;

    /// <summary>
    /// Where <paramref name="path"/> leads below the root once its symlinks are followed inside it
    /// (runc's SecureJoin): the container path a mount on it really sits on. The cleaned path itself
    /// when it cannot be opened.
    /// </summary>
    public string Resolved(string path)
    {
        int fd = TryOpen(path, O_PATH);
        if (fd < 0) return ContainerPath.Clean(path);
        try { return ContainerPathOf(fd) ?? ContainerPath.Clean(path); }
        finally { close(fd); }
    }

    /// <summary>openat2 below the root; returns the fd or -errno. Retries the EAGAIN a concurrent rename can cause.</summary>
    public int TryOpen(string path, int flags, uint mode = 0)
    {
        var rel = ContainerPath.Clean(path);
        rel = rel == "/" ? "." : rel[1..];
        for (int i = 0; ; i++)
        {
            int fd = openat2(Fd, rel, (ulong)(flags | O_CLOEXEC), mode, Resolve);
            if (fd >= 0) return fd;
            int e = Errno;
            if ((e == EAGAIN || e == EINTR) && i < 100) continue;
            return -e;
        }
    }

    /// <summary>Opens <paramref name="path"/> below the root, throwing "<paramref name="what"/>: error".</summary>
    public int Open(string path, int flags, string what)
    {
        int fd = TryOpen(path, flags);
        if (fd < 0) throw new KernelException(what, -fd);
        return fd;
    }

    /// <summary>
    /// mkdir -p of <paramref name="path"/> below the root; returns an O_PATH fd of the directory.
    /// A dangling symlink on the way is followed (inside the root) and its target created, as
    /// runc does for images whose /var/run points to a missing /run.
    /// </summary>
    public int MkdirAll(string path, uint mode, string what) => MkdirAll(ContainerPath.Clean(path), mode, what, 0);

    int MkdirAll(string path, uint mode, string what, int hops)
    {
        int fd = TryOpen(path, O_PATH | O_DIRECTORY);
        if (fd >= 0) return fd;
        if (-fd != ENOENT) throw new KernelException(what, -fd);

        var parts = ContainerPath.Components(path);
        int parent = Check(openat2(Fd, ".", (ulong)(O_PATH | O_DIRECTORY | O_CLOEXEC), 0, 0), what);
        string prefix = "";
        try
        {
            for (int i = 0; i < parts.Length; i++)
            {
                string next = prefix + "/" + parts[i];
                fd = TryOpen(next, O_PATH | O_DIRECTORY);
                if (fd < 0 && -fd == ENOENT)
                {
                    // The parent exists (we hold it); create the component in it. mkdirat never
                    // follows a symlink in its last component, so this lands in `parent`.
                    if (mkdirat(parent, parts[i], mode) < 0)
                    {
                        int e = Errno;
                        if (e != EEXIST) throw new KernelException(what, e);
                        // EEXIST although the lookup said ENOENT: a dangling symlink. Follow it
                        // lexically (a relative target from the parent, an absolute one from the
                        // root; both stay inside the root) and create what it points to.
                        var target = ReadLinkAt(parent, parts[i]);
                        if (target is null) throw new KernelException(what, e);
                        if (hops >= MaxSymlinkHops) throw new KernelException(what, ELOOP);
                        string resolved = target.StartsWith('/') ? target : prefix + "/" + target;
                        string rest = string.Join('/', parts[(i + 1)..]);
                        return MkdirAll(ContainerPath.Clean(resolved + "/" + rest), mode, what, hops + 1);
                    }
                    fd = TryOpen(next, O_PATH | O_DIRECTORY);
                }
                if (fd < 0) throw new KernelException(what, -fd);
                close(parent);
                parent = fd;
                prefix = next;
            }
            int result = parent;
            parent = -1;
            return result;
        }
        finally
        {
            if (parent >= 0) close(parent);
        }
    }

    /// <summary>
    /// Makes sure a non-directory file exists at <paramref name="path"/> (creating it and its
    /// parents, empty, mode 0644, when missing) and returns an O_PATH fd of it.
    /// </summary>
    public int CreateFile(string path, string what)
    {
        int fd = TryOpen(path, O_PATH);
        if (fd >= 0) return fd;
        if (-fd != ENOENT) throw new KernelException(what, -fd);
        var (parent, _) = ContainerPath.Split(path);
        close(MkdirAll(parent, 0x1ed /* 0755 */, what));
        // O_CREAT through openat2 stays inside the root too (a dangling symlink is created at its
        // target, inside the root). O_NONBLOCK|O_NOCTTY: harmless should a fifo or tty appear.
        fd = TryOpen(path, O_CREAT | O_RDONLY | O_NONBLOCK | O_NOCTTY, 0x1a4 /* 0644 */);
        if (fd < 0) throw new KernelException(what, -fd);
        close(fd);
        return Open(path, O_PATH, what);
    }
}
