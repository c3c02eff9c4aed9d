using System.Runtime.InteropServices;
using System.Text;

namespace Husk.Linux;

/// <summary>
/// Mounts, pivot_root and the *at() calls the rootfs setup needs (Husk.Rootfs).
/// Syscalls newer than glibc's wrappers (openat2, the new mount API) go through
/// <see cref="syscall"/>; their numbers (>= 424) are the same on every architecture.
/// </summary>
public static unsafe partial class Native
{
    // mount(2) flags (same values as Husk.Spec.MountOptions.MS_*).
    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_SYNCHRONOUS = 16,
        MS_REMOUNT = 32, MS_MANDLOCK = 64, MS_NOATIME = 1024, MS_NODIRATIME = 2048, MS_BIND = 4096,
        MS_MOVE = 8192, MS_REC = 16384, MS_UNBINDABLE = 1 << 17, MS_PRIVATE = 1 << 18, MS_SLAVE = 1 << 19,
        MS_SHARED = 1 << 20, MS_RELATIME = 1 << 21, MS_STRICTATIME = 1 << 24;

    public const int MNT_DETACH = 2;
    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200,
        AT_EMPTY_PATH = 0x1000, AT_RECURSIVE = 0x8000;

    public const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFCHR = 0x2000, S_IFBLK = 0x6000,
        S_IFREG = 0x8000, S_IFIFO = 0x1000, S_IFLNK = 0xA000;

    public const int ELOOP = 40, EXDEV = 18, ENOTEMPTY = 39, EROFS = 30, EISDIR = 21;

    // openat2(2) resolve flags.
    public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04,
        RESOLVE_BENEATH = 0x08, RESOLVE_IN_ROOT = 0x10;

    // The new mount API.
    public const uint OPEN_TREE_CLONE = 1, OPEN_TREE_CLOEXEC = 0x80000;
    public const uint MOVE_MOUNT_F_EMPTY_PATH = 0x04, MOVE_MOUNT_T_EMPTY_PATH = 0x40;
    public const ulong MOUNT_ATTR_RDONLY = 0x1, MOUNT_ATTR_NOSUID = 0x2, MOUNT_ATTR_NODEV = 0x4,
        MOUNT_ATTR_NOEXEC = 0x8;

    public const uint FSOPEN_CLOEXEC = 1, FSMOUNT_CLOEXEC = 1, FSCONFIG_CMD_CREATE = 6;

    const long SYS_open_tree = 428, SYS_move_mount = 429, SYS_fsopen = 430, SYS_fsconfig = 431,
        SYS_fsmount = 432, SYS_openat2 = 437, SYS_mount_setattr = 442;

    /// <summary>pivot_root has no glibc wrapper and the old syscalls are numbered per architecture.</summary>
    static long SYS_pivot_root => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 155,
        Architecture.Arm64 or Architecture.RiscV64 or Architecture.LoongArch64 => 41,
        _ => throw new PlatformNotSupportedException("pivot_root: unsupported architecture"),
    };

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string? source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);

    [LibraryImport(Libc, EntryPoint = "setxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setxattr_(string path, string name, byte[] value, nuint size, int flags);

    /// <summary>setxattr(2) of a text value (an SELinux label: security.selinux).</summary>
    public static int setxattr(string path, string name, string value)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(value);
        return setxattr_(path, name, bytes, (nuint)bytes.Length, 0);
    }

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chroot(string path);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fchdir(int fd);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mkdirat(int dirfd, string path, uint mode);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int symlinkat(string target, int dirfd, string linkpath);

    /// <summary>mknodat(2); <paramref name="dev"/> from <see cref="Makedev"/>.</summary>
    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mknodat(int dirfd, string path, uint mode, ulong dev);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int fchownat(int dirfd, string path, uint uid, uint gid, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fchmod(int fd, uint mode);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int fchmodat(int dirfd, string path, uint mode, int flags);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int unlinkat(int dirfd, string path, int flags);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint readlinkat(int dirfd, string path, byte* buf, nuint size);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string path, int flags, uint mask, Statx* buf);

    public const uint STATX_TYPE = 1, STATX_MODE = 2, STATX_BASIC_STATS = 0x7ff;

    /// <summary>struct statx (256 bytes, the same layout on every architecture). Only the fields Husk reads are named.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct Statx
    {
        [FieldOffset(0)] public uint Mask;
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(24)] public uint Gid;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Ino;
        [FieldOffset(128)] public uint RdevMajor;
        [FieldOffset(132)] public uint RdevMinor;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;
    }

    /// <summary>glibc's makedev(3) encoding of a device number.</summary>
    public static ulong Makedev(ulong major, ulong minor) =>
        ((major & 0xfffff000UL) << 32) | ((major & 0xfffUL) << 8) | ((minor & 0xffffff00UL) << 12) | (minor & 0xffUL);

    /// <summary>pivot_root(2).</summary>
    public static int pivot_root(string newRoot, string putOld)
    {
        fixed (byte* n = Utf8Z(newRoot), o = Utf8Z(putOld))
            return (int)syscall(SYS_pivot_root, (long)n, (long)o, 0, 0, 0, 0);
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    /// <summary>openat2(2) (Linux 5.6): open with path-resolution restrictions (RESOLVE_IN_ROOT, ...).</summary>
    public static int openat2(int dirfd, string path, ulong flags, ulong mode, ulong resolve)
    {
        var how = new OpenHow { Flags = flags, Mode = mode, Resolve = resolve };
        fixed (byte* p = Utf8Z(path))
            return (int)syscall(SYS_openat2, dirfd, (long)p, (long)&how, sizeof(OpenHow), 0, 0);
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MountAttr
    {
        public ulong AttrSet;
        public ulong AttrClr;
        public ulong Propagation;
        public ulong UsernsFd;
    }

    /// <summary>mount_setattr(2) (Linux 5.12) on the mount at <paramref name="dirfd"/>/<paramref name="path"/>.</summary>
    public static int mount_setattr(int dirfd, string path, uint flags, ulong attrSet, ulong attrClr, ulong propagation = 0)
    {
        var attr = new MountAttr { AttrSet = attrSet, AttrClr = attrClr, Propagation = propagation };
        fixed (byte* p = Utf8Z(path))
            return (int)syscall(SYS_mount_setattr, dirfd, (long)p, flags, (long)&attr, sizeof(MountAttr), 0);
    }

    /// <summary>open_tree(2) (Linux 5.2): with OPEN_TREE_CLONE, a detached bind mount of the path.</summary>
    public static int open_tree(int dirfd, string path, uint flags)
    {
        fixed (byte* p = Utf8Z(path))
            return (int)syscall(SYS_open_tree, dirfd, (long)p, flags, 0, 0, 0);
    }

    /// <summary>move_mount(2) (Linux 5.2): attaches a detached mount (or moves one).</summary>
    public static int move_mount(int fromDirfd, string fromPath, int toDirfd, string toPath, uint flags)
    {
        fixed (byte* f = Utf8Z(fromPath), t = Utf8Z(toPath))
            return (int)syscall(SYS_move_mount, fromDirfd, (long)f, toDirfd, (long)t, flags, 0);
    }

    /// <summary>fsopen(2) (Linux 5.2): a filesystem context for <paramref name="fsType"/>.</summary>
    public static int fsopen(string fsType, uint flags)
    {
        fixed (byte* p = Utf8Z(fsType))
            return (int)syscall(SYS_fsopen, (long)p, flags, 0, 0, 0, 0);
    }

    public const uint FSCONFIG_SET_STRING = 1;

    /// <summary>fsconfig(2) FSCONFIG_SET_STRING: one "key=value" mount parameter.</summary>
    public static int fsconfig_string(int fsfd, string key, string value)
    {
        fixed (byte* k = Utf8Z(key), v = Utf8Z(value))
            return (int)syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, (long)k, (long)v, 0, 0);
    }

    /// <summary>fsconfig(2) without key or value (FSCONFIG_CMD_CREATE).</summary>
    public static int fsconfig_cmd(int fsfd, uint cmd) => (int)syscall(SYS_fsconfig, fsfd, cmd, 0, 0, 0, 0);

    /// <summary>fsmount(2): a detached mount of a created filesystem context, with MOUNT_ATTR_* attributes.</summary>
    public static int fsmount(int fsfd, uint flags, ulong attrFlags) => (int)syscall(SYS_fsmount, fsfd, flags, (long)attrFlags, 0, 0, 0);

    /// <summary>The target of the symlink <paramref name="dirfd"/>/<paramref name="path"/>, or null (errno set) on failure.</summary>
    public static string? ReadLinkAt(int dirfd, string path)
    {
        var buf = stackalloc byte[4096];
        nint n = readlinkat(dirfd, path, buf, 4096);
        return n < 0 ? null : Encoding.UTF8.GetString(buf, (int)n);
    }

    /// <summary>statx of an open fd (AT_EMPTY_PATH).</summary>
    public static Statx FStatx(int fd, string what)
    {
        Statx st;
        Check(statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st), what);
        return st;
    }

    /// <summary>f_flags of fstatfs(2): the ST_* mount flags (ST_RDONLY = MS_RDONLY, ...) of the mount holding <paramref name="fd"/>.</summary>
    public static ulong MountFlags(int fd, string what)
    {
        // struct statfs on 64-bit Linux: f_type, f_bsize, f_blocks, f_bfree, f_bavail,
        // f_files, f_ffree, f_fsid, f_namelen, f_frsize, then f_flags (word 10).
        var buf = stackalloc long[32];
        Check(fstatfs(fd, buf), what);
        return (ulong)buf[10];
    }

    static byte[] Utf8Z(string s)
    {
        var b = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, b);
        return b;
    }
}
