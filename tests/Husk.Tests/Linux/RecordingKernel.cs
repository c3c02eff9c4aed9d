using System.Runtime.InteropServices;
using System.Text;
using Husk.Linux;
using static Husk.Linux.Native;

namespace Husk.Tests.Linux;

/// <summary>
/// An <see cref="IKernel"/> that does nothing and writes down each call, one readable line each, e.g.
/// <c>mount(proc, &lt;/r/proc&gt;, proc, MS_NOSUID|MS_NODEV|MS_NOEXEC, -)</c>: an fd is shown as the path
/// it was opened at in angle brackets (so is a /proc/self/fd/N path), null as "-". Fds are fake numbers
/// from 1000 up, never real ones. Every path exists as a directory unless <see cref="Files"/> says
/// otherwise. <see cref="Fail"/> makes matching calls return an errno (the line then ends in " = EPERM").
/// </summary>
public sealed unsafe class RecordingKernel : IKernel
{
    public readonly List<string> Calls = [];

    /// <summary>What is at a path when it is not a plain directory (S_IF* type); 0: nothing there.</summary>
    public readonly Dictionary<string, (uint Type, uint Major, uint Minor)> Files = new(StringComparer.Ordinal);

    /// <summary>The ST_* flags fstatfs reports for the mount holding a path (default none).</summary>
    public readonly Dictionary<string, ulong> MountFlagsAt = new(StringComparer.Ordinal);

    /// <summary>Text of /proc files (<see cref="ReadProc"/>) and host files (<see cref="ReadFile"/>).</summary>
    public readonly Dictionary<string, string> Proc = new(StringComparer.Ordinal)
    {
        ["sys/kernel/cap_last_cap"] = "40",
        ["self/setgroups"] = "allow",
    };
    public readonly Dictionary<string, string> HostFiles = new(StringComparer.Ordinal)
    {
        ["/proc/self/mountinfo"] = "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n",
        ["/proc/self/cgroup"] = "0::/\n",
    };

    readonly Dictionary<int, string> _fds = [];
    readonly List<(string Prefix, int Errno, int Times)> _failures = [];
    int _nextFd = 1000;
    uint _umask = 0x12;
    string _cwd = "/";

    /// <summary>The fds opened and not closed yet (each a path).</summary>
    public IReadOnlyCollection<string> OpenFds => _fds.Values;

    /// <summary>Makes the next <paramref name="times"/> calls whose line starts with <paramref name="prefix"/> fail with <paramref name="errno"/>.</summary>
    public RecordingKernel Fail(string prefix, int errno, int times = 1)
    {
        _failures.Add((prefix, errno, times));
        return this;
    }

    /// <summary>The recorded lines of these calls only (by name: "mount", "pivot_root", ...).</summary>
    public List<string> Only(params string[] names) =>
        Calls.Where(c => names.Contains(c.IndexOf('(') is var open and > 0 ? c[..open] : c)).ToList();

    /// <summary>Thrown by <see cref="Exit"/>: the process would have ended here.</summary>
    public sealed class ExitedException(int status) : Exception($"_exit({status})")
    {
        public int Status { get; } = status;
    }

    int Record(string line, int success = 0)
    {
        for (int i = 0; i < _failures.Count; i++)
        {
            var (prefix, errno, times) = _failures[i];
            if (!line.StartsWith(prefix, StringComparison.Ordinal)) continue;
            if (times <= 1) _failures.RemoveAt(i); else _failures[i] = (prefix, errno, times - 1);
            Calls.Add($"{line} = {ErrnoName(errno)}");
            return -errno;
        }
        Calls.Add(line);
        return success;
    }

    static string ErrnoName(int errno) => errno switch
    {
        EPERM => "EPERM", ENOENT => "ENOENT", EACCES => "EACCES", EBUSY => "EBUSY", EEXIST => "EEXIST",
        EINVAL => "EINVAL", ENOSYS => "ENOSYS", _ => errno.ToString(),
    };

    // ---- paths and fds ----

    string PathOf(int fd) => fd == AT_FDCWD ? _cwd : _fds.TryGetValue(fd, out var p) ? p : $"bad fd {fd}";

    /// <summary>A path as a line shows it: /proc/self/fd/N as the path of fd N.</summary>
    string Show(string? path)
    {
        if (path is null) return "-";
        if (path.StartsWith("/proc/self/fd/", StringComparison.Ordinal) && int.TryParse(path[14..], out int fd))
            return $"<{PathOf(fd)}>";
        return path;
    }

    static string Join(string dir, string rel) =>
        rel is "" or "." ? dir : rel.StartsWith('/') ? rel : dir == "/" ? "/" + rel : dir + "/" + rel;

    string Resolve(int dirfd, string path) =>
        path.StartsWith("/proc/self/fd/", StringComparison.Ordinal) && int.TryParse(path[14..], out int fd)
            ? PathOf(fd) : Join(PathOf(dirfd), path);

    int NewFd(string path)
    {
        int fd = _nextFd++;
        _fds[fd] = path;
        return fd;
    }

    bool Missing(string path) => Files.TryGetValue(path, out var f) && f.Type == 0;

    int OpenPath(string line, string path, int flags)
    {
        if (Missing(path))
        {
            if ((flags & O_CREAT) == 0) return Record(line) is var r and < 0 ? r : Failed(line, ENOENT);
            Files[path] = (S_IFREG, 0, 0);
        }
        int rc = Record(line);
        return rc < 0 ? rc : NewFd(path);
    }

    // A lookup that finds nothing: recorded as failing with errno, as a configured failure is.
    int Failed(string line, int errno)
    {
        Calls[^1] = $"{line} = {ErrnoName(errno)}";
        return -errno;
    }

    public int Open(string path, int flags, uint mode = 0) => OpenPath($"open({path})", Resolve(AT_FDCWD, path), flags);
    public int OpenAt(int dirfd, string path, int flags, uint mode = 0) => OpenPath($"openat(<{PathOf(dirfd)}>, {path})", Resolve(dirfd, path), flags);
    public int OpenAt2(int dirfd, string path, ulong flags, ulong mode, ulong resolve) =>
        OpenPath($"openat2(<{PathOf(dirfd)}>, {path})", Join(PathOf(dirfd), path), (int)flags);

    public int Close(int fd)
    {
        if (!_fds.Remove(fd)) throw new InvalidOperationException($"close of fd {fd}, which is not open (closed twice?)");
        return 0;
    }

    public int StatxAt(int dirfd, string path, int flags, out Statx st)
    {
        string p = Resolve(dirfd, path);
        st = default;
        if (Missing(p)) return -ENOENT;
        var (type, major, minor) = Files.TryGetValue(p, out var f) ? f : (S_IFDIR, 0u, 0u);
        st.Mode = (ushort)(type | 0x1ed);
        st.RdevMajor = major;
        st.RdevMinor = minor;
        return 0;
    }

    public int StatFs(int fd, out long fsType, out ulong mountFlags)
    {
        string p = PathOf(fd);
        fsType = p == "/proc" || p.StartsWith("/proc/", StringComparison.Ordinal) ? PROC_SUPER_MAGIC : 0;
        mountFlags = MountFlagsAt.TryGetValue(p, out var m) ? m : 0;
        return 0;
    }

    public string? ReadLinkAt(int dirfd, string path) =>
        dirfd == AT_FDCWD && path.StartsWith("/proc/self/fd/", StringComparison.Ordinal) && int.TryParse(path[14..], out int fd) && _fds.TryGetValue(fd, out var p)
            ? p : null;

    public int MkdirAt(int dirfd, string path, uint mode) => Record($"mkdirat(<{PathOf(dirfd)}>, {path})");
    public int SymlinkAt(string target, int dirfd, string linkPath) => Record($"symlinkat({target}, <{PathOf(dirfd)}>, {linkPath})");
    public int UnlinkAt(int dirfd, string path, int flags) => Record($"unlinkat(<{PathOf(dirfd)}>, {path})");
    public int MknodAt(int dirfd, string path, uint mode, ulong dev) => Record($"mknodat(<{PathOf(dirfd)}>, {path}, {Octal(mode)})");
    public int FchownAt(int dirfd, string path, uint uid, uint gid, int flags) => Record($"fchownat(<{PathOf(dirfd)}>, {path}, {uid}, {gid})");
    public int Fchown(int fd, uint uid, uint gid) => Record($"fchown({fd}, {uid})");
    public int Fchmod(int fd, uint mode) => Record($"fchmod(<{PathOf(fd)}>, {Octal(mode)})");
    public int FchmodAt(int dirfd, string path, uint mode, int flags) => Record($"fchmodat(<{PathOf(dirfd)}>, {path}, {Octal(mode)})");
    public int SetXattr(string path, string name, string value) => Record($"setxattr({Show(path)}, {name}, {value})");
    public int Fcntl(int fd, int cmd, int arg) => Record($"fcntl({fd}, {cmd}, {arg})");
    public int CloseRange(uint first, uint last, uint flags) => Record($"close_range({first}, {(flags == CLOSE_RANGE_CLOEXEC ? "CLOEXEC" : flags)})");
    public string? ReadFile(string path) => HostFiles.GetValueOrDefault(path);
    public string? ReadProc(string path) => Proc.GetValueOrDefault(path);
    public int WriteProc(string path, string value) => Record($"write(/proc/{path}, {value})");

    // ---- mounts ----

    public int Mount(string? source, string target, string? fsType, ulong flags, string? data) =>
        Record($"mount({Show(source)}, {Show(target)}, {fsType ?? "-"}, {MsFlags(flags)}, {data ?? "-"})");
    public int Umount2(string target, int flags) => Record($"umount2({target}, {(flags == MNT_DETACH ? "MNT_DETACH" : flags)})");
    public int PivotRoot(string newRoot, string putOld) => Record($"pivot_root({newRoot}, {putOld})");
    public int Chroot(string path) => Record($"chroot({path})");

    public int Chdir(string path)
    {
        int rc = Record($"chdir({path})");
        if (rc == 0) _cwd = path;
        return rc;
    }

    public int Fchdir(int fd)
    {
        int rc = Record($"fchdir(<{PathOf(fd)}>)");
        if (rc == 0) _cwd = PathOf(fd);
        return rc;
    }

    public int GetCwd(out string cwd)
    {
        cwd = _cwd;
        return 0;
    }

    public int OpenTree(int dirfd, string path, uint flags)
    {
        int rc = Record($"open_tree(<{PathOf(dirfd)}>{((flags & AT_RECURSIVE) != 0 ? ", recursive" : "")})");
        return rc < 0 ? rc : NewFd($"clone of {PathOf(dirfd)}");
    }

    public int MoveMount(int fromDirfd, string fromPath, int toDirfd, string toPath, uint flags) =>
        Record($"move_mount(<{PathOf(fromDirfd)}>, <{PathOf(toDirfd)}>)");

    public int MountSetattr(int dirfd, string path, uint flags, ulong attrSet, ulong attrClear) =>
        Record($"mount_setattr(<{PathOf(dirfd)}>, {AttrFlags(attrSet)}, clear {AttrFlags(attrClear)}{((flags & AT_RECURSIVE) != 0 ? ", recursive" : "")})");

    public int FsOpen(string fsType, uint flags)
    {
        int rc = Record($"fsopen({fsType})");
        return rc < 0 ? rc : NewFd($"fs {fsType}");
    }

    public int FsConfigCmd(int fsfd, uint cmd) => Record($"fsconfig(<{PathOf(fsfd)}>, {cmd})");

    public int FsMount(int fsfd, uint flags, ulong attrFlags)
    {
        int rc = Record($"fsmount(<{PathOf(fsfd)}>, {AttrFlags(attrFlags)})");
        return rc < 0 ? rc : NewFd($"mount of {PathOf(fsfd)}");
    }

    public uint Umask(uint mask)
    {
        Record($"umask({Octal(mask)})");
        (_umask, mask) = (mask, _umask);
        return mask;
    }

    // ---- the process ----

    /// <summary>What PR_GET_PDEATHSIG reports.</summary>
    public int ParentDeathSignal { get; set; }

    public int Prctl(int option, nuint arg2, nuint arg3 = 0, nuint arg4 = 0, nuint arg5 = 0)
    {
        if (option == 2) *(int*)arg2 = ParentDeathSignal;   // PR_GET_PDEATHSIG
        string line = option switch
        {
            PR_SET_KEEPCAPS => $"prctl(PR_SET_KEEPCAPS, {arg2})",
            PR_CAPBSET_READ => $"prctl(PR_CAPBSET_READ, {arg2})",
            PR_CAPBSET_DROP => $"prctl(PR_CAPBSET_DROP, {arg2})",
            PR_SET_NO_NEW_PRIVS => $"prctl(PR_SET_NO_NEW_PRIVS, {arg2})",
            PR_CAP_AMBIENT when arg2 == PR_CAP_AMBIENT_CLEAR_ALL => "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
            PR_CAP_AMBIENT when arg2 == PR_CAP_AMBIENT_RAISE => $"prctl(PR_CAP_AMBIENT_RAISE, {arg3})",
            PR_SET_PDEATHSIG => $"prctl(PR_SET_PDEATHSIG, {arg2})",
            2 => "prctl(PR_GET_PDEATHSIG)",
            _ => $"prctl({option}, {arg2})",
        };
        // Every capability is in the bounding set until dropped.
        return Record(line, option == PR_CAPBSET_READ ? 1 : 0);
    }

    /// <summary>What capget reports as permitted (all by default).</summary>
    public ulong Permitted { get; set; } = (1UL << 41) - 1;

    public int CapGetPermitted(out ulong permitted)
    {
        permitted = Permitted;
        return Record("capget()");
    }

    public int CapSet(ulong effective, ulong permitted, ulong inheritable) =>
        Record($"capset(effective 0x{effective:x}, permitted 0x{permitted:x}, inheritable 0x{inheritable:x})");

    public int SetGroups(uint[] gids) => Record($"setgroups([{string.Join(", ", gids)}])");
    public int SetResGid(uint gid) => Record($"setresgid({gid})");
    public int SetResUid(uint uid) => Record($"setresuid({uid})");
    public int Prlimit(int resource, ulong soft, ulong hard) => Record($"prlimit({resource}, {soft}, {hard})");
    public int SetHostname(string name) => Record($"sethostname({name})");
    public int SetDomainname(string name) => Record($"setdomainname({name})");
    public int Personality(uint persona) => Record($"personality({persona})");

    /// <summary>What execve fails with (it never runs anything).</summary>
    public int ExecErrno { get; set; } = ENOENT;

    public int ExecVe(byte* path, byte** argv, byte** envp)
    {
        var args = new List<string>();
        for (byte** a = argv; *a != null; a++) args.Add(Marshal.PtrToStringUTF8((nint)(*a))!);
        Calls.Add($"execve({Marshal.PtrToStringUTF8((nint)path)}, [{string.Join(", ", args)}])");
        return -ExecErrno;
    }

    public void Write(int fd, byte* buf, int length) => Calls.Add($"write({fd}, {Encoding.UTF8.GetString(buf, length).TrimEnd('\n')})");

    public void Exit(int status) => throw new ExitedException(status);

    // ---- flags as names ----

    static readonly (ulong Bit, string Name)[] MsNames =
    [
        (MS_RDONLY, "MS_RDONLY"), (MS_NOSUID, "MS_NOSUID"), (MS_NODEV, "MS_NODEV"), (MS_NOEXEC, "MS_NOEXEC"),
        (MS_REMOUNT, "MS_REMOUNT"), (MS_NOATIME, "MS_NOATIME"), (MS_NODIRATIME, "MS_NODIRATIME"), (MS_BIND, "MS_BIND"),
        (MS_MOVE, "MS_MOVE"), (MS_REC, "MS_REC"), (MS_UNBINDABLE, "MS_UNBINDABLE"), (MS_PRIVATE, "MS_PRIVATE"),
        (MS_SLAVE, "MS_SLAVE"), (MS_SHARED, "MS_SHARED"), (MS_RELATIME, "MS_RELATIME"), (MS_STRICTATIME, "MS_STRICTATIME"),
    ];

    static readonly (ulong Bit, string Name)[] AttrNames =
        [(MOUNT_ATTR_RDONLY, "RDONLY"), (MOUNT_ATTR_NOSUID, "NOSUID"), (MOUNT_ATTR_NODEV, "NODEV"), (MOUNT_ATTR_NOEXEC, "NOEXEC")];

    static string Names(ulong flags, (ulong Bit, string Name)[] names)
    {
        var parts = names.Where(n => (flags & n.Bit) != 0).Select(n => n.Name).ToList();
        ulong rest = flags & ~names.Aggregate(0UL, (a, n) => a | n.Bit);
        if (rest != 0) parts.Add($"0x{rest:x}");
        return parts.Count == 0 ? "0" : string.Join('|', parts);
    }

    static string Octal(uint mode) => mode == 0 ? "0" : "0" + Convert.ToString(mode, 8);

    static string MsFlags(ulong flags) => Names(flags, MsNames);
    static string AttrFlags(ulong flags) => Names(flags, AttrNames);
}
