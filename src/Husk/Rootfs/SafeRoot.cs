using Husk.Linux;
using static Husk.Linux.KernelCalls;
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

    readonly IKernel _kernel;
    readonly OwnedFd _fd;

    /// <summary>The O_PATH fd of the root directory.</summary>
    public int Fd => _fd.Fd;

    /// <summary>The root as the kernel names it in this mount namespace (readlink of its fd).</summary>
    public string HostPath { get; }

    SafeRoot(IKernel kernel, OwnedFd fd, string hostPath) { _kernel = kernel; _fd = fd; HostPath = hostPath; }

    /// <summary>Opens <paramref name="hostPath"/> (a directory) as the root.</summary>
    public static SafeRoot Open(string hostPath) => Open(LinuxKernel.Instance, hostPath);

    /// <inheritdoc cref="Open(string)"/>
    public static SafeRoot Open(IKernel kernel, string hostPath)
    {
        var fd = kernel.Owned(kernel.Open(hostPath, O_PATH | O_DIRECTORY | O_CLOEXEC), $"open {hostPath}");
        return new SafeRoot(kernel, fd, kernel.FdPath(fd.Fd) ?? hostPath);
    }

    public void Dispose() => _fd.Dispose();

    /// <summary>The container path of an fd opened below this root (for checks and messages).</summary>
    public string? ContainerPathOf(int fd) =>
        _kernel.FdPath(fd) is { } p ? ContainerPath.RelativeToRoot(p, HostPath) : null;

    /// <summary>
    /// Where <paramref name="path"/> leads below the root once its symlinks are followed inside it
    /// (runc's SecureJoin): the container path a mount on it really sits on. The cleaned path itself
    /// when it cannot be opened.
    /// </summary>
    public string Resolved(string path)
    {
        using var fd = TryOpenOwned(path, O_PATH, out _);
        return (fd is null ? null : ContainerPathOf(fd.Fd)) ?? ContainerPath.Clean(path);
    }

    /// <summary>openat2 below the root; returns the fd or -errno. Retries the EAGAIN a concurrent rename can cause.</summary>
    public int TryOpen(string path, int flags, uint mode = 0)
    {
        var rel = ContainerPath.Clean(path);
        rel = rel == "/" ? "." : rel[1..];
        for (int i = 0; ; i++)
        {
            int fd = _kernel.OpenAt2(Fd, rel, (ulong)(flags | O_CLOEXEC), mode, Resolve);
            if (fd >= 0) return fd;
            if ((fd == -EAGAIN || fd == -EINTR) && i < 100) continue;
            return fd;
        }
    }

    /// <summary><see cref="TryOpen"/> as an owned fd; null, with <paramref name="errno"/>, when it fails.</summary>
    public OwnedFd? TryOpenOwned(string path, int flags, out int errno)
    {
        int fd = TryOpen(path, flags);
        errno = fd < 0 ? -fd : 0;
        return fd < 0 ? null : new OwnedFd(_kernel, fd);
    }

    /// <summary>Opens <paramref name="path"/> below the root, throwing "<paramref name="what"/>: error".</summary>
    public OwnedFd Open(string path, int flags, string what) => _kernel.Owned(TryOpen(path, flags), what);

    /// <summary>
    /// mkdir -p of <paramref name="path"/> below the root; returns an O_PATH fd of the directory.
    /// A dangling symlink on the way is followed (inside the root) and its target created, as
    /// runc does for images whose /var/run points to a missing /run.
    /// </summary>
    public OwnedFd MkdirAll(string path, uint mode, string what) => MkdirAll(ContainerPath.Clean(path), mode, what, 0);

    OwnedFd MkdirAll(string path, uint mode, string what, int hops)
    {
        int fd = TryOpen(path, O_PATH | O_DIRECTORY);
        if (fd >= 0) return new OwnedFd(_kernel, fd);
        if (fd != -ENOENT) throw new KernelException(what, -fd);

        var parts = ContainerPath.Components(path);
        var parent = _kernel.Owned(_kernel.OpenAt2(Fd, ".", (ulong)(O_PATH | O_DIRECTORY | O_CLOEXEC), 0, 0), what);
        string prefix = "";
        try
        {
            for (int i = 0; i < parts.Length; i++)
            {
                string next = prefix + "/" + parts[i];
                fd = TryOpen(next, O_PATH | O_DIRECTORY);
                if (fd == -ENOENT)
                {
                    // The parent exists (we hold it); create the component in it. mkdirat never
                    // follows a symlink in its last component, so this lands in `parent`.
                    int made = _kernel.MkdirAt(parent.Fd, parts[i], mode);
                    if (made < 0)
                    {
                        if (made != -EEXIST) throw new KernelException(what, -made);
                        // EEXIST although the lookup said ENOENT: a dangling symlink. Follow it
                        // lexically (a relative target from the parent, an absolute one from the
                        // root; both stay inside the root) and create what it points to.
                        var target = _kernel.ReadLinkAt(parent.Fd, parts[i]);
                        if (target is null) throw new KernelException(what, EEXIST);
                        if (hops >= MaxSymlinkHops) throw new KernelException(what, ELOOP);
                        string resolved = target.StartsWith('/') ? target : prefix + "/" + target;
                        string rest = string.Join('/', parts[(i + 1)..]);
                        return MkdirAll(ContainerPath.Clean(resolved + "/" + rest), mode, what, hops + 1);
                    }
                    fd = TryOpen(next, O_PATH | O_DIRECTORY);
                }
                if (fd < 0) throw new KernelException(what, -fd);
                parent.Dispose();
                parent = new OwnedFd(_kernel, fd);
                prefix = next;
            }
            return new OwnedFd(_kernel, parent.Release());
        }
        finally { parent.Dispose(); }
    }

    /// <summary>
    /// Makes sure a non-directory file exists at <paramref name="path"/> (creating it and its
    /// parents, empty, mode 0644, when missing) and returns an O_PATH fd of it.
    /// </summary>
    public OwnedFd CreateFile(string path, string what)
    {
        int fd = TryOpen(path, O_PATH);
        if (fd >= 0) return new OwnedFd(_kernel, fd);
        if (fd != -ENOENT) throw new KernelException(what, -fd);
        var (parent, _) = ContainerPath.Split(path);
        MkdirAll(parent, 0x1ed /* 0755 */, what).Dispose();
        // O_CREAT through openat2 stays inside the root too (a dangling symlink is created at its
        // target, inside the root). O_NONBLOCK|O_NOCTTY: harmless should a fifo or tty appear.
        _kernel.Owned(TryOpen(path, O_CREAT | O_RDONLY | O_NONBLOCK | O_NOCTTY, 0x1a4 /* 0644 */), what).Dispose();
        return Open(path, O_PATH, what);
    }
}
