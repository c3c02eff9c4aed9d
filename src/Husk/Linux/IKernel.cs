namespace Husk.Linux;

/// <summary>
/// The kernel as the container's init sequence sees it (rootfs preparation and process setup): one
/// member per operation those steps make, so the order and arguments of the calls, and what is done
/// when one fails, can be checked against a recording double without root (youki's Syscall trait).
/// <see cref="LinuxKernel"/> is the real one. Calls that return an int return what the system call
/// does on success (0, or an fd) and -errno on failure: nothing depends on a thread's last error.
/// </summary>
public unsafe interface IKernel
{
    // ---- files and fds ----
    int Open(string path, int flags, uint mode = 0);
    int OpenAt(int dirfd, string path, int flags, uint mode = 0);
    int OpenAt2(int dirfd, string path, ulong flags, ulong mode, ulong resolve);
    int Close(int fd);
    int StatxAt(int dirfd, string path, int flags, out Native.Statx st);
    /// <summary>fstatfs(2): the filesystem type (f_type) and the ST_* mount flags (f_flags).</summary>
    int StatFs(int fd, out long fsType, out ulong mountFlags);
    /// <summary>The target of the symlink, or null when it cannot be read.</summary>
    string? ReadLinkAt(int dirfd, string path);
    int MkdirAt(int dirfd, string path, uint mode);
    int SymlinkAt(string target, int dirfd, string linkPath);
    int UnlinkAt(int dirfd, string path, int flags);
    int MknodAt(int dirfd, string path, uint mode, ulong dev);
    int FchownAt(int dirfd, string path, uint uid, uint gid, int flags);
    int Fchown(int fd, uint uid, uint gid);
    int Fchmod(int fd, uint mode);
    int FchmodAt(int dirfd, string path, uint mode, int flags);
    int SetXattr(string path, string name, string value);
    int Fcntl(int fd, int cmd, int arg);
    int CloseRange(uint first, uint last, uint flags);
    /// <summary>A small file of the host (mountinfo, /proc/self/cgroup); null when it cannot be read.</summary>
    string? ReadFile(string path);
    /// <summary>/proc/<paramref name="path"/> of the host's procfs (<see cref="ProcFs"/>); null when it cannot be read.</summary>
    string? ReadProc(string path);
    /// <summary>Writes /proc/<paramref name="path"/> of the host's procfs (<see cref="ProcFs"/>).</summary>
    int WriteProc(string path, string value);

    // ---- mounts and the root ----
    int Mount(string? source, string target, string? fsType, ulong flags, string? data);
    int Umount2(string target, int flags);
    int PivotRoot(string newRoot, string putOld);
    int Chroot(string path);
    int Chdir(string path);
    int Fchdir(int fd);
    /// <summary>getcwd(3): 0 and the path, or -errno.</summary>
    int GetCwd(out string cwd);
    int OpenTree(int dirfd, string path, uint flags);
    int MoveMount(int fromDirfd, string fromPath, int toDirfd, string toPath, uint flags);
    int MountSetattr(int dirfd, string path, uint flags, ulong attrSet, ulong attrClear);
    int FsOpen(string fsType, uint flags);
    int FsConfigCmd(int fsfd, uint cmd);
    int FsMount(int fsfd, uint flags, ulong attrFlags);
    uint Umask(uint mask);

    // ---- the process ----
    int Prctl(int option, nuint arg2, nuint arg3 = 0, nuint arg4 = 0, nuint arg5 = 0);
    /// <summary>capget v3 of this thread: the permitted set.</summary>
    int CapGetPermitted(out ulong permitted);
    /// <summary>capset v3 of this thread.</summary>
    int CapSet(ulong effective, ulong permitted, ulong inheritable);
    /// <summary>setgroups, setresgid, setresuid: of the calling thread only (raw system calls, see ProcessSteps.SetUser).</summary>
    int SetGroups(uint[] gids);
    int SetResGid(uint gid);
    int SetResUid(uint uid);
    int Prlimit(int resource, ulong soft, ulong hard);
    int SetHostname(string name);
    int SetDomainname(string name);
    int Personality(uint persona);
    /// <summary>execve(2) of strings built beforehand (nothing is allocated after a seccomp filter is in place).</summary>
    int ExecVe(byte* path, byte** argv, byte** envp);
    void Write(int fd, byte* buf, int length);
    /// <summary>_exit(2).</summary>
    void Exit(int status);
}

/// <summary>The checked forms of <see cref="IKernel"/> calls that most callers want.</summary>
public static class KernelCalls
{
    /// <summary><paramref name="result"/> when it is not negative; else a <see cref="KernelException"/> naming <paramref name="what"/>.</summary>
    public static int Ok(int result, string what) => result >= 0 ? result : throw new KernelException(what, -result);

    /// <summary>An owned fd of a call's result, or a <see cref="KernelException"/> naming <paramref name="what"/>.</summary>
    public static OwnedFd Owned(this IKernel kernel, int result, string what) => new(kernel, Ok(result, what));

    /// <summary>statx of an open fd (AT_EMPTY_PATH).</summary>
    public static Native.Statx FStatx(this IKernel kernel, int fd, string what)
    {
        Ok(kernel.StatxAt(fd, "", Native.AT_EMPTY_PATH | Native.AT_SYMLINK_NOFOLLOW, out var st), what);
        return st;
    }

    /// <summary>The filesystem type (f_type) of the file open at <paramref name="fd"/>.</summary>
    public static long FsType(this IKernel kernel, int fd)
    {
        Ok(kernel.StatFs(fd, out long type, out _), "fstatfs");
        return type;
    }

    /// <summary>The ST_* mount flags (ST_RDONLY = MS_RDONLY, ...) of the mount holding <paramref name="fd"/>.</summary>
    public static ulong MountFlags(this IKernel kernel, int fd, string what)
    {
        Ok(kernel.StatFs(fd, out _, out ulong flags), what);
        return flags;
    }

    /// <summary>What the kernel says fd N is (readlink /proc/self/fd/N), or null.</summary>
    public static string? FdPath(this IKernel kernel, int fd) => kernel.ReadLinkAt(Native.AT_FDCWD, ProcFd(fd));

    /// <summary>"/proc/self/fd/N": the path through which the kernel reaches exactly the file behind fd N.</summary>
    public static string ProcFd(int fd) => $"/proc/self/fd/{fd}";
}
