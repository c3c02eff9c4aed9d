using System.Text;
using static Husk.Linux.Native;

namespace Husk.Linux;

/// <summary>The real <see cref="IKernel"/>: each member is the <see cref="Native"/> call, with -errno for a failure.</summary>
public sealed unsafe class LinuxKernel : IKernel
{
    public static readonly LinuxKernel Instance = new();

    LinuxKernel() { }

    static int R(int rc) => rc < 0 ? -Errno : rc;
    static int R(long rc) => rc < 0 ? -Errno : (int)rc;

    public int Open(string path, int flags, uint mode = 0) => R(open(path, flags, (int)mode));
    public int OpenAt(int dirfd, string path, int flags, uint mode = 0) => R(openat(dirfd, path, flags, (int)mode));
    public int OpenAt2(int dirfd, string path, ulong flags, ulong mode, ulong resolve) => R(openat2(dirfd, path, flags, mode, resolve));
    public int Close(int fd) => R(close(fd));

    public int StatxAt(int dirfd, string path, int flags, out Statx st)
    {
        fixed (Statx* p = &st) return R(statx(dirfd, path, flags, STATX_BASIC_STATS, p));
    }

    public int StatFs(int fd, out long fsType, out ulong mountFlags)
    {
        // struct statfs on 64-bit Linux: f_type first, f_flags is word 10.
        var buf = stackalloc long[32];
        int rc = R(fstatfs(fd, buf));
        fsType = rc < 0 ? 0 : buf[0];
        mountFlags = rc < 0 ? 0 : (ulong)buf[10];
        return rc;
    }

    public string? ReadLinkAt(int dirfd, string path) => Native.ReadLinkAt(dirfd, path);
    public int MkdirAt(int dirfd, string path, uint mode) => R(mkdirat(dirfd, path, mode));
    public int SymlinkAt(string target, int dirfd, string linkPath) => R(symlinkat(target, dirfd, linkPath));
    public int UnlinkAt(int dirfd, string path, int flags) => R(unlinkat(dirfd, path, flags));
    public int MknodAt(int dirfd, string path, uint mode, ulong dev) => R(mknodat(dirfd, path, mode, dev));
    public int FchownAt(int dirfd, string path, uint uid, uint gid, int flags) => R(fchownat(dirfd, path, uid, gid, flags));
    public int Fchown(int fd, uint uid, uint gid) => R(fchown(fd, uid, gid));
    public int Fchmod(int fd, uint mode) => R(fchmod(fd, mode));
    public int FchmodAt(int dirfd, string path, uint mode, int flags) => R(fchmodat(dirfd, path, mode, flags));
    public int SetXattr(string path, string name, string value) => R(setxattr(path, name, value));
    public int Fcntl(int fd, int cmd, int arg) => R(fcntl(fd, cmd, arg));
    public int CloseRange(uint first, uint last, uint flags) => R(close_range(first, last, flags));
    public string? ReadFile(string path) => SmallFile.ReadTextOrNull(path);
    public string? ReadProc(string path) => ProcFs.ReadText(path);
    public int WriteProc(string path, string value) => ProcFs.TryWrite(path, value, out int errno) ? 0 : -errno;

    public int Mount(string? source, string target, string? fsType, ulong flags, string? data) => R(mount(source, target, fsType, flags, data));
    public int Umount2(string target, int flags) => R(umount2(target, flags));
    public int PivotRoot(string newRoot, string putOld) => R(pivot_root(newRoot, putOld));
    public int Chroot(string path) => R(chroot(path));
    public int Chdir(string path) => R(chdir(path));
    public int Fchdir(int fd) => R(fchdir(fd));

    public int GetCwd(out string cwd)
    {
        var buf = stackalloc byte[4097];
        if (getcwd(buf, 4097) == null) { cwd = ""; return -Errno; }
        cwd = Encoding.UTF8.GetString(buf, new ReadOnlySpan<byte>(buf, 4097).IndexOf((byte)0));
        return 0;
    }

    public int OpenTree(int dirfd, string path, uint flags) => R(open_tree(dirfd, path, flags));
    public int MoveMount(int fromDirfd, string fromPath, int toDirfd, string toPath, uint flags) => R(move_mount(fromDirfd, fromPath, toDirfd, toPath, flags));
    public int MountSetattr(int dirfd, string path, uint flags, ulong attrSet, ulong attrClear) => R(mount_setattr(dirfd, path, flags, attrSet, attrClear));
    public int FsOpen(string fsType, uint flags) => R(fsopen(fsType, flags));
    public int FsConfigCmd(int fsfd, uint cmd) => R(fsconfig_cmd(fsfd, cmd));
    public int FsMount(int fsfd, uint flags, ulong attrFlags) => R(fsmount(fsfd, flags, attrFlags));
    public uint Umask(uint mask) => umask(mask);

    public int Prctl(int option, nuint arg2, nuint arg3 = 0, nuint arg4 = 0, nuint arg5 = 0) => R(prctl(option, arg2, arg3, arg4, arg5));

    public int CapGetPermitted(out ulong permitted)
    {
        var hdr = new CapHeader { Version = _LINUX_CAPABILITY_VERSION_3, Pid = 0 };
        var cur = stackalloc CapData[2];
        int rc = R(capget(&hdr, cur));
        permitted = rc < 0 ? 0 : cur[0].Permitted | ((ulong)cur[1].Permitted << 32);
        return rc;
    }

    public int CapSet(ulong effective, ulong permitted, ulong inheritable)
    {
        var hdr = new CapHeader { Version = _LINUX_CAPABILITY_VERSION_3, Pid = 0 };
        var data = stackalloc CapData[2];
        data[0] = new CapData { Effective = (uint)effective, Permitted = (uint)permitted, Inheritable = (uint)inheritable };
        data[1] = new CapData { Effective = (uint)(effective >> 32), Permitted = (uint)(permitted >> 32), Inheritable = (uint)(inheritable >> 32) };
        return R(capset(&hdr, data));
    }

    // Raw system calls, not glibc's wrappers: those would stop every runtime thread to change its
    // credentials too (a signal round trip each); the threads die at the execve that follows on this one.
    const long SYS_setresuid = 117, SYS_setresgid = 119, SYS_setgroups = 116;

    public int SetGroups(uint[] gids)
    {
        fixed (uint* g = gids) return R(syscall(SYS_setgroups, gids.Length, (long)g, 0, 0, 0, 0));
    }

    public int SetResGid(uint gid) => R(syscall(SYS_setresgid, gid, gid, gid, 0, 0, 0));
    public int SetResUid(uint uid) => R(syscall(SYS_setresuid, uid, uid, uid, 0, 0, 0));

    public int Prlimit(int resource, ulong soft, ulong hard)
    {
        var lim = new RLimit { Cur = soft, Max = hard };
        return R(prlimit(0, resource, &lim, null));
    }

    public int SetHostname(string name)
    {
        var b = Encoding.UTF8.GetBytes(name);
        fixed (byte* p = b) return R(sethostname(p, (nuint)b.Length));
    }

    public int SetDomainname(string name)
    {
        var b = Encoding.UTF8.GetBytes(name);
        fixed (byte* p = b) return R(setdomainname(p, (nuint)b.Length));
    }

    public int Personality(uint persona) => R(personality(persona));
    public int ExecVe(byte* path, byte** argv, byte** envp) => R(execve(path, argv, envp));
    public void Write(int fd, byte* buf, int length) => write(fd, buf, length);
    public void Exit(int status) => _exit(status);
}
