using Husk.Linux;
using Husk.Spec;
using static Husk.Linux.Native;
using OciSpec = Husk.Spec.Spec;
using MountOptionsTable = Husk.Spec.MountOptions;

namespace Husk.Rootfs;

/// <summary>Knobs of <see cref="RootfsBuilder.Prepare"/>.</summary>
public sealed class RootfsOptions
{
    /// <summary>--no-pivot: MS_MOVE the rootfs onto / and chroot instead of pivot_root (e.g. on a ramdisk root).</summary>
    public bool NoPivot { get; set; }

    /// <summary>The init runs in a new user namespace: mknod is refused, so device nodes are bind mounts of the host's.</summary>
    public bool InUserNamespace { get; set; }

    /// <summary>
    /// Called after pivot_root and before /dev and / are made read-only: the place to create
    /// /dev/console (runc sets up the console there), since a read-only /dev refuses it later.
    /// </summary>
    public Action? AfterPivot { get; set; }

    /// <summary>Detached id-mapped mounts made by `create` (spec mount index → fd), attached instead of mounted (<see cref="IdmappedMounts"/>).</summary>
    public IReadOnlyDictionary<int, int> IdmappedMountFds { get; set; } = new Dictionary<int, int>();

    /// <summary>Bind sources opened by `create` (spec mount index → O_PATH fd), bound from instead of their paths (<see cref="BindSources"/>).</summary>
    public IReadOnlyDictionary<int, int> BindSourceFds { get; set; } = new Dictionary<int, int>();
}

/// <summary>
/// Everything the container's init does to the file system, in the init, inside the container's
/// new mount namespace, as root (possibly root of a new user namespace). Follows runc's
/// libcontainer/rootfs_linux.go (prepareRootfs, pivotRoot, finalizeRootfs, readonlyPath, maskPath).
/// Every mount onto a path inside the rootfs goes through an fd resolved with RESOLVE_IN_ROOT
/// (<see cref="SafeRoot"/>), so a container's symlinks cannot redirect it outside (CVE-2021-30465).
/// Errors are one line: "mount proc to /proc: Operation not permitted".
/// </summary>
public static class RootfsBuilder
{
    const uint Mode0755 = 0x1ed;

    /// <summary>
    /// Builds the root file system from <paramref name="spec"/> at <paramref name="rootfsPath"/> (a host
    /// path), runs <paramref name="beforePivot"/> (createRuntime/createContainer hooks), pivots into it
    /// and finalizes it (/dev and / read-only as asked). The caller then applies readonly and masked
    /// paths and finally <see cref="ApplyRootPropagation"/>.
    /// </summary>
    public static void Prepare(OciSpec spec, string rootfsPath, RootfsOptions options, Action beforePivot)
    {
        // Decide everything that can be decided before touching anything (bad devices, options).
        // The requested propagation is also that of our copy of the host's mounts, as in runc, except
        // (r)unbindable: an unbindable "/" makes the bind of the rootfs below fail (EINVAL). That one
        // is applied to the container's own "/" only, by ApplyRootPropagation at the end.
        ulong rootPropagation = ParsePropagation(spec.Linux?.RootfsPropagation) is { } asked && (asked & MS_UNBINDABLE) == 0
            ? asked : MS_SLAVE | MS_REC;
        // linux.mountLabel: checked at create to be set only where SELinux is enabled (Lsm.CheckHost).
        string? mountLabel = spec.Linux?.MountLabel is { Length: > 0 } l ? l : null;
        var entries = spec.Mounts.Select(m => MountEntry.From(m).WithMountLabel(mountLabel)).ToList();
        var devPlan = DevPlan.For(spec, File.Exists("/proc/kcore"));
        bool cgroupNs = spec.Linux?.Has(NamespaceKind.Cgroup) == true;

        // (a) Our copy of the host's mounts must not send events back to the host: rslave by default.
        Check(mount(null, "/", null, rootPropagation, null), "set propagation of /");

        // (b) pivot_root needs the rootfs to be a mount point whose parent is not shared; binding it
        // onto itself makes it one. A shared parent (rootfsPropagation shared) is made private first
        // so the bind (a copy of the parent's propagation) is private and does not reach the host.
        string rootfsReal = RealPath(rootfsPath);
        // Read once: the cgroup mounts in it are also what the spec's cgroup mount shows (MountCgroup).
        var hostMounts = MountInfoEntry.ReadSelf();
        var parent = MountInfoEntry.Containing(hostMounts, rootfsReal);
        if (parent is { IsShared: true })
            Check(mount(null, parent.MountPoint, null, MS_PRIVATE, null), $"make {parent.MountPoint} private");
        Check(mount(rootfsReal, rootfsReal, "bind", MS_BIND | MS_REC, null), $"bind mount rootfs {rootfsReal}");

        using (var root = SafeRoot.Open(rootfsReal))
        {
            // (c) The spec's mounts, in order.
            int index = 0;
            foreach (var e in entries)
            {
                if (e.Type == "cgroup") MountCgroup(root, e, cgroupNs, hostMounts);
                else if (options.IdmappedMountFds.TryGetValue(index, out int detached)) IdmappedMounts.Attach(root, e, detached);
                else if (options.BindSourceFds.TryGetValue(index, out int source)) MountBind(root, e, Describe(e), source);
                else MountEntryInRoot(root, e, options, mountLabel);
                index++;
            }
            // (d) /dev, unless it is the host's.
            if (devPlan.Setup) SetupDev(root, devPlan, options.InUserNamespace);
        }

        // (e) Hooks that must see the finished rootfs before the pivot, run from the rootfs as runc's
        // prepareRootfs runs them: createContainer hooks name paths in it relative to their cwd.
        Check(chdir(rootfsReal), $"chdir {rootfsReal}");
        beforePivot();

        // (f) Into the rootfs.
        if (options.NoPivot) MoveRoot(rootfsReal);
        else PivotRoot(rootfsReal);
        options.AfterPivot?.Invoke();

        // (g) Read-only /dev and / last: everything above still wrote into them.
        foreach (var e in entries.Where(e => e.Destination == "/dev" && e.DelayReadonly && e.Readonly))
            RemountWithRetry("/dev", MS_REMOUNT | e.RemountFlags, "remount /dev read-only");
        if (spec.Root?.Readonly == true) SetReadonlyRoot();
    }

    /// <summary>
    /// linux.readonlyPaths, after the pivot: each path becomes a read-only (and nosuid, nodev, noexec)
    /// bind of itself, recursively. A missing path is skipped; a symlink is refused.
    /// </summary>
    public static void ApplyReadonlyPaths(IEnumerable<string> paths)
    {
        using var root = SafeRoot.Open("/");
        foreach (var raw in paths)
        {
            var p = ContainerPath.Clean(raw);
            int fd = OpenTarget(root, p, "readonly path");
            if (fd < 0) continue;
            try { BindReadonly(fd, p); }
            finally { close(fd); }
        }
    }

    /// <summary>
    /// linux.maskedPaths, after the pivot: /dev/null over a file, an empty read-only tmpfs over a
    /// directory. A missing path is skipped. /dev/null must be the real null device (1:3): a
    /// container that replaced it (symlink to something it wants writable) gets an error.
    /// </summary>
    public static void ApplyMaskedPaths(IEnumerable<string> paths)
    {
        using var root = SafeRoot.Open("/");
        int devNull = -1;
        try
        {
            foreach (var raw in paths)
            {
                var p = ContainerPath.Clean(raw);
                int fd = OpenTarget(root, p, "masked path");
                if (fd < 0) continue;
                try
                {
                    var st = FStatx(fd, $"masked path {p}: stat");
                    if ((st.Mode & S_IFMT) == S_IFDIR) MaskDirectory(fd, p);
                    else
                    {
                        if (devNull < 0) devNull = OpenVerifiedDevNull(root);
                        MaskFile(fd, devNull, p);
                    }
                }
                finally { close(fd); }
            }
        }
        finally { if (devNull >= 0) close(devNull); }
    }

    /// <summary>linux.rootfsPropagation applied to the container's "/" (last, as runc: only now is "/" the container's own).</summary>
    public static void ApplyRootPropagation(OciSpec spec)
    {
        var name = spec.Linux?.RootfsPropagation;
        if (ParsePropagation(name) is { } flags)
            Check(mount(null, "/", null, flags, null), $"set rootfs propagation {name} on /");
    }

    /// <summary>The MS_* flags of a linux.rootfsPropagation value; null when unset. Throws on an unknown value.</summary>
    public static ulong? ParsePropagation(string? name)
    {
        if (string.IsNullOrEmpty(name)) return null;
        if (MountOptionsTable.Table.TryGetValue(name, out var o) && o.Propagation) return o.Set;
        throw new HuskException($"linux.rootfsPropagation: invalid value \"{name}\" (want shared, rshared, slave, rslave, private, rprivate, unbindable or runbindable)");
    }

    // ---- spec mounts ----

    static string Describe(MountEntry e) => $"mount {(e.IsBind ? e.Source : e.Type)} to {e.Destination}";

    /// <summary>One spec mount (not cgroup) onto its destination inside <paramref name="root"/>.</summary>
    static void MountEntryInRoot(SafeRoot root, MountEntry e, RootfsOptions options, string? mountLabel)
    {
        string what = Describe(e);
        if (e.IsBind) { MountBind(root, e, what); return; }
        if (e.Type.Length == 0) throw new HuskException($"{what}: mount has no type");

        if (e.Type is "proc" or "sysfs")
        {
            // These must land on a real directory, never through a symlink or onto a file
            // (the /proc-over-a-volume tricks of CVE-2019-16884); runc's words.
            int probe = root.TryOpen(e.Destination, O_PATH | O_NOFOLLOW);
            if (probe >= 0)
            {
                var st = FStatx(probe, what);
                close(probe);
                if ((st.Mode & S_IFMT) != S_IFDIR)
                    throw new HuskException($"{what}: filesystem \"{e.Type}\" must be mounted on ordinary directory");
            }
        }

        int dirFd = root.TryOpen(e.Destination, O_PATH | O_DIRECTORY);
        uint? oldMode = null;
        if (dirFd >= 0) oldMode = FStatx(dirFd, what).Mode & 0xfffu;
        else dirFd = root.MkdirAll(e.Destination, Mode0755, what);
        // tmpcopyup: an fd of the directory below keeps reaching it after the tmpfs covers it.
        int copyFrom = -1;
        try
        {
            CheckProc(root, dirFd, e.Type == "proc", what);
            if (e.TmpCopyUp && e.Type == "tmpfs")
                copyFrom = root.Open(e.Destination, O_RDONLY | O_DIRECTORY, what);
            string source = e.Source.Length > 0 ? e.Source : e.Type;
            if (mount(source, SafeRoot.ProcFd(dirFd), e.Type, e.InitialFlags, NullIfEmpty(e.Data)) < 0)
            {
                int errno = Errno;
                // sysfs in a user namespace that does not own the network namespace is refused;
                // runc falls back to a recursive bind of the host's /sys, which the flags then restrict.
                if (errno == EPERM && e.Type == "sysfs" && options.InUserNamespace)
                {
                    close(dirFd);
                    dirFd = -1;
                    // The host's submounts of /sys come along: restrict them too (recursively, mount_setattr).
                    ulong attrs = 0;
                    if ((e.Flags & MS_RDONLY) != 0) attrs |= MOUNT_ATTR_RDONLY;
                    if ((e.Flags & MS_NOSUID) != 0) attrs |= MOUNT_ATTR_NOSUID;
                    if ((e.Flags & MS_NODEV) != 0) attrs |= MOUNT_ATTR_NODEV;
                    if ((e.Flags & MS_NOEXEC) != 0) attrs |= MOUNT_ATTR_NOEXEC;
                    MountBind(root, e with { Type = "bind", Source = "/sys", Flags = e.Flags | MS_BIND | MS_REC, AttrSet = e.AttrSet | attrs }, what);
                    return;
                }
                throw new KernelException(what, errno);
            }
        }
        catch
        {
            if (copyFrom >= 0) close(copyFrom);
            throw;
        }
        finally { if (dirFd >= 0) close(dirFd); }

        // Reopen: the fd we mounted on is the directory below; this one is the new mount's root.
        int fd = root.Open(e.Destination, O_PATH | O_DIRECTORY, what);
        try
        {
            if (copyFrom >= 0) CopyTree(copyFrom, fd, what);
            if (e.Type == "tmpfs" && oldMode is { } mode && !e.HasModeOption)
            {
                // A tmpfs over an existing directory keeps that directory's mode (runc), unless mode= says otherwise.
                int rw = root.Open(e.Destination, O_RDONLY | O_DIRECTORY, what);
                try { Check(fchmod(rw, mode), $"{what}: chmod"); }
                finally { close(rw); }
            }
            if (e.LabelsRootAfterMount && mountLabel != null)
                Check(setxattr(SafeRoot.ProcFd(fd), "security.selinux", mountLabel), $"{what}: label it {mountLabel}");
            if (e.DelayReadonly && e.Readonly && e.Destination != "/dev")
                Remount(fd, MS_REMOUNT | e.RemountFlags, what);
            ApplyPropagationAndAttrs(fd, e, what);
        }
        finally
        {
            close(fd);
            if (copyFrom >= 0) close(copyFrom);
        }
    }

    /// <summary>
    /// A bind mount: the destination is created as a directory or a file, like the source.
    /// <paramref name="source"/>: the source as `create` opened it (<see cref="BindSources"/>), taken
    /// over; -1: it is opened here, by its path.
    /// </summary>
    static void MountBind(SafeRoot root, MountEntry e, string what, int source = -1)
    {
        if (e.Source.Length == 0) throw new HuskException($"{what}: bind mount has no source");
        // The source is a host path from the spec (trusted). Pin it with an fd so the mount binds
        // what we looked at.
        int src = source >= 0 ? source : open(e.Source, O_PATH | O_CLOEXEC, 0);
        if (src < 0) throw new KernelException(what, Errno);
        try
        {
            bool isDir = (FStatx(src, what).Mode & S_IFMT) == S_IFDIR;
            int dst = isDir ? root.MkdirAll(e.Destination, Mode0755, what) : root.CreateFile(e.Destination, what);
            try
            {
                CheckProc(root, dst, FsType(src) == PROC_SUPER_MAGIC, what);
                if (AttachBindClone(src, dst, e, what)) return;
                Check(mount(SafeRoot.ProcFd(src), SafeRoot.ProcFd(dst), null, e.InitialFlags, null), what);
            }
            finally { close(dst); }
        }
        finally { close(src); }

        // Kernels without mount_setattr (before 5.12): the flags by a remount of the new mount, found
        // again by its path.
        int fd = root.Open(e.Destination, O_PATH, what);
        try
        {
            // mount(2) ignores ro/nosuid/... together with MS_BIND: a second, remount pass sets them.
            if (e.NeedsBindRemount) Remount(fd, MS_REMOUNT | e.RemountFlags, what);
            ApplyPropagationAndAttrs(fd, e, what);
        }
        finally { close(fd); }
    }

    /// <summary>
    /// The bind as a detached clone of <paramref name="src"/> (open_tree; recursive for rbind) that gets
    /// every attribute while detached (mount_setattr: its own flags, then the recursive ones), is then
    /// attached at <paramref name="dst"/> (move_mount) and given its propagation through its own fd.
    /// Nothing is looked up by path after the mount, so a path swapped meanwhile cannot make the flags
    /// land on another mount. False, with nothing done, where the kernel lacks these calls.
    /// </summary>
    static bool AttachBindClone(int src, int dst, MountEntry e, string what)
    {
        uint recursive = (e.Flags & MS_REC) != 0 ? (uint)AT_RECURSIVE : 0;
        int tree = open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | recursive);
        if (tree < 0)
        {
            if (Errno == ENOSYS) return false;
            throw new KernelException(what, Errno);
        }
        try
        {
            var (set, clear) = e.BindAttributes;
            if (mount_setattr(tree, "", (uint)AT_EMPTY_PATH, set, clear) < 0)
            {
                if (Errno == ENOSYS) return false;
                throw new KernelException($"{what}: set mount attributes", Errno);
            }
            if (e.AttrSet != 0 || e.AttrClear != 0)
                Check(mount_setattr(tree, "", (uint)(AT_EMPTY_PATH | AT_RECURSIVE), e.AttrSet, e.AttrClear),
                    $"{what}: set recursive mount attributes");
            Check(move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what);
            foreach (var p in e.Propagation)
                Check(mount(null, SafeRoot.ProcFd(tree), null, p, null), $"{what}: set propagation");
            return true;
        }
        finally { close(tree); }
    }

    /// <summary>Propagation options ("rslave", ...) one by one, then recursive attributes (rro, ...) with mount_setattr.</summary>
    static void ApplyPropagationAndAttrs(int fd, MountEntry e, string what)
    {
        foreach (var p in e.Propagation)
            Check(mount(null, SafeRoot.ProcFd(fd), null, p, null), $"{what}: set propagation");
        if (e.AttrSet != 0 || e.AttrClear != 0)
            Check(mount_setattr(fd, "", (uint)(AT_EMPTY_PATH | AT_RECURSIVE), e.AttrSet, e.AttrClear),
                $"{what}: set recursive mount attributes");
    }

    /// <summary>
    /// MS_REMOUNT of the mount at <paramref name="fd"/>. In a user namespace the flags the outer
    /// namespace set (nosuid, nodev, noexec, ro, atime) are locked and a remount that drops them
    /// fails with EPERM: retry keeping the ones the mount has now (runc does the same).
    /// </summary>
    static void Remount(int fd, ulong flags, string what, string? target = null)
    {
        target ??= SafeRoot.ProcFd(fd);
        if (mount(null, target, null, flags, null) == 0) return;
        int errno = Errno;
        if (errno != EPERM) throw new KernelException(what, errno);
        Check(mount(null, target, null, flags | LockedFlags(MountFlags(fd, what), flags), null), what);
    }

    /// <summary>The current mount flags a remount with <paramref name="wanted"/> must keep so as not to drop a locked one.</summary>
    internal static ulong LockedFlags(ulong current, ulong wanted)
    {
        ulong keep = current & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
        const ulong atime = MS_NOATIME | MS_RELATIME | MS_STRICTATIME | MS_NODIRATIME;
        if ((wanted & atime) == 0) keep |= current & atime;
        return keep;
    }

    /// <summary>Refuses a mount that would land inside /proc (see <see cref="MountEntry.CheckProcMount"/>).</summary>
    static void CheckProc(SafeRoot root, int fd, bool sourceIsProcfs, string what)
    {
        var resolved = root.ContainerPathOf(fd) ?? throw new HuskException($"{what}: destination resolves outside the rootfs");
        if (MountEntry.CheckProcMount(resolved, sourceIsProcfs) is { } err) throw new HuskException($"{what}: {err}");
    }

    // ---- cgroup ----

    /// <summary>A "cgroup" spec mount (see <see cref="CgroupMounts"/> for what and why).</summary>
    static void MountCgroup(SafeRoot root, MountEntry e, bool cgroupNs, List<MountInfoEntry> hostMounts)
    {
        string what = $"mount cgroup to {e.Destination}";
        const ulong restrict = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        ulong flags = (e.Flags & restrict) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        var own = CgroupMounts.ParseProcCgroup(SmallFile.ReadTextOrNull("/proc/self/cgroup") ?? "");

        bool unified;
        int cg = open("/sys/fs/cgroup", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        if (cg < 0) unified = true;
        else { unified = FsType(cg) == CgroupMounts.CGROUP2_SUPER_MAGIC; close(cg); }

        if (unified)
        {
            int fd = root.MkdirAll(e.Destination, Mode0755, what);
            try
            {
                CheckProc(root, fd, false, what);
                if (mount("cgroup2", SafeRoot.ProcFd(fd), "cgroup2", flags, NullIfEmpty(e.Data)) == 0) return;
                int errno = Errno;
                if (errno is not (EPERM or EBUSY)) throw new KernelException(what, errno);
            }
            finally { close(fd); }
            // Not allowed to mount a cgroup2 here: show our own cgroup directory instead.
            string path = own.FirstOrDefault(o => o.Controllers == "").Path ?? "/";
            MountBind(root, e with { Type = "bind", Source = ContainerPath.Join("/sys/fs/cgroup", path), Flags = flags | MS_BIND | MS_REC }, what);
            return;
        }

        // v1 or hybrid: a tmpfs holding one directory per hierarchy. Writable until the end.
        var tmpfs = new MountEntry(e.Destination, "tmpfs", "tmpfs", flags & ~MS_RDONLY, 0, [], "mode=755", 0, 0, false);
        MountEntryInRoot(root, tmpfs, new RootfsOptions(), mountLabel: null);
        int top = root.Open(e.Destination, O_PATH | O_DIRECTORY, what);
        try
        {
            foreach (var h in CgroupMounts.PlanV1(hostMounts, own))
            {
                string dest = ContainerPath.Join(e.Destination, h.Name);
                if (cgroupNs)
                {
                    // In a cgroup namespace a fresh mount of the hierarchy is rooted at our cgroup. The
                    // tmpfs was made just now, by us: its directories are made and mounted on through
                    // it directly, not by a walk from the root.
                    if (mkdirat(top, h.Name, Mode0755) < 0 && Errno != EEXIST) throw new KernelException($"{what}: mkdir {dest}", Errno);
                    int dir = Check(openat(top, h.Name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0), $"{what}: open {dest}");
                    try { Check(mount(h.FsType, SafeRoot.ProcFd(dir), h.FsType, flags, NullIfEmpty(h.Data)), $"mount {h.FsType} to {dest}"); }
                    finally { close(dir); }
                }
                else
                {
                    var bind = new MountEntry(dest, "bind", h.HostSource, flags | MS_BIND | MS_REC, 0, [], "", 0, 0, false);
                    MountBind(root, bind, $"mount {h.HostSource} to {dest}");
                }
                foreach (var alias in h.Aliases)
                    if (symlinkat(h.Name, top, alias) < 0 && Errno != EEXIST)
                        throw new KernelException($"{what}: symlink {alias}", Errno);
            }
            if ((e.Flags & MS_RDONLY) != 0) Remount(top, MS_REMOUNT | flags, what);
            ApplyPropagationAndAttrs(top, e, what);
        }
        finally { close(top); }
    }

    // ---- /dev ----

    static void SetupDev(SafeRoot root, DevPlan plan, bool inUserNs)
    {
        // Device modes are exact, not filtered by the init's umask.
        uint oldMask = umask(0);
        try
        {
            foreach (var d in plan.Devices) CreateDevice(root, d, inUserNs);
        }
        finally { umask(oldMask); }

        foreach (var (link, target) in plan.Symlinks) Symlink(root, link, target, replace: false);
        // With a devpts of its own the container's /dev/ptmx must be the one of that instance.
        if (plan.Ptmx) Symlink(root, "/dev/ptmx", "pts/ptmx", replace: true);
    }

    static void CreateDevice(SafeRoot root, DeviceNode d, bool inUserNs)
    {
        string what = $"create device {d.Path}";
        var (parentPath, name) = ContainerPath.Split(d.Path);
        int parent = root.MkdirAll(parentPath, Mode0755, what);
        try
        {
            if (!inUserNs)
            {
                if (mknodat(parent, name, d.FileTypeBits | d.Mode, Makedev((ulong)d.Major, (ulong)d.Minor)) == 0)
                {
                    Check(fchownat(parent, name, d.Uid, d.Gid, AT_SYMLINK_NOFOLLOW), $"{what}: chown");
                    return;
                }
                int errno = Errno;
                if (errno == EEXIST) return;              // the image has it already (runc keeps it)
                if (errno != EPERM) throw new KernelException(what, errno);
            }
        }
        finally { close(parent); }

        // mknod is refused in a user namespace: bind the host's node onto an empty file (runc).
        int src = open(d.Path, O_PATH | O_CLOEXEC, 0);
        if (src < 0) throw new KernelException($"{what}: bind from host", Errno);
        try
        {
            int dst = root.CreateFile(d.Path, what);
            try { Check(mount(SafeRoot.ProcFd(src), SafeRoot.ProcFd(dst), null, MS_BIND, null), $"{what}: bind from host"); }
            finally { close(dst); }
        }
        finally { close(src); }
    }

    static void Symlink(SafeRoot root, string link, string target, bool replace)
    {
        string what = $"symlink {link} -> {target}";
        var (parentPath, name) = ContainerPath.Split(link);
        int parent = root.MkdirAll(parentPath, Mode0755, what);
        try
        {
            if (replace && unlinkat(parent, name, 0) < 0 && Errno != ENOENT)
                throw new KernelException(what, Errno);
            if (symlinkat(target, parent, name) < 0 && Errno != EEXIST)
                throw new KernelException(what, Errno);
        }
        finally { close(parent); }
    }

    // ---- pivot ----

    /// <summary>
    /// runc's pivot_root(".", "."): no put_old directory needed. The old root ends up on top of the
    /// new one; we step onto it, make it rslave (so the unmount does not propagate to the host) and
    /// detach it.
    /// </summary>
    static void PivotRoot(string rootfs)
    {
        int oldRoot = Check(open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC, 0), "open /");
        try
        {
            int newRoot = Check(open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC, 0), $"open {rootfs}");
            try
            {
                Check(fchdir(newRoot), $"chdir {rootfs}");
                Check(pivot_root(".", "."), $"pivot_root {rootfs}");
            }
            finally { close(newRoot); }
            Check(fchdir(oldRoot), "chdir to old root");
            Check(mount(null, ".", null, MS_SLAVE | MS_REC, null), "make old root rslave");
            Check(umount2(".", MNT_DETACH), "unmount old root");
        }
        finally { close(oldRoot); }
        Check(chdir("/"), "chdir /");
    }

    /// <summary>
    /// --no-pivot: move the rootfs mount onto / and chroot. The host's full proc and sysfs mounts
    /// would stay reachable in this mount namespace, so they are unmounted (or covered) first, as runc does.
    /// </summary>
    static void MoveRoot(string rootfs)
    {
        Check(chdir(rootfs), $"chdir {rootfs}");
        foreach (var m in MountInfoEntry.ReadSelf())
        {
            if (m.FsType is not ("proc" or "sysfs") || ContainerPath.IsWithin(m.MountPoint, rootfs)) continue;
            if (mount(null, m.MountPoint, null, MS_SLAVE | MS_REC, null) < 0)
            {
                if (Errno is ENOENT or EINVAL) continue; // already gone with a parent
                throw new KernelException($"make {m.MountPoint} rslave", Errno);
            }
            if (umount2(m.MountPoint, MNT_DETACH) < 0)
            {
                if (Errno is not (EINVAL or EPERM)) throw new KernelException($"unmount {m.MountPoint}", Errno);
                Check(mount("tmpfs", m.MountPoint, "tmpfs", 0, null), $"cover {m.MountPoint}");
            }
        }
        Check(mount(rootfs, "/", null, MS_MOVE, null), $"move {rootfs} to /");
        Check(chroot("."), $"chroot {rootfs}");
        Check(chdir("/"), "chdir /");
    }

    // ---- finalize ----

    static void RemountWithRetry(string path, ulong flags, string what)
    {
        int fd = Check(open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0), what);
        try
        {
            // A remount read-only fails with EBUSY while something is being written; runc retries too.
            for (int i = 0; ; i++)
            {
                try { Remount(fd, flags, what, path); return; } // by path: after the pivot /proc may be absent
                catch (KernelException ex) when (ex.Errno == EBUSY && i < 5) { Thread.Sleep(100); }
            }
        }
        finally { close(fd); }
    }

    /// <summary>root.readonly: remount / read-only, keeping its other (possibly locked) flags.</summary>
    static void SetReadonlyRoot()
    {
        const string what = "remount / read-only";
        if (mount(null, "/", null, MS_BIND | MS_REMOUNT | MS_RDONLY, null) == 0) return;
        int fd = Check(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0), what);
        try
        {
            ulong current = MountFlags(fd, what) & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME);
            Check(mount(null, "/", null, MS_BIND | MS_REMOUNT | MS_RDONLY | current, null), what);
        }
        finally { close(fd); }
    }

    // ---- readonly and masked paths ----

    /// <summary>O_PATH|O_NOFOLLOW fd of a path below the container root; -1 when it does not exist.</summary>
    static int OpenTarget(SafeRoot root, string path, string kind)
    {
        int fd = root.TryOpen(path, O_PATH | O_NOFOLLOW);
        if (fd < 0)
        {
            if (-fd is ENOENT or ENOTDIR) return -1;
            throw new KernelException($"{kind} {path}", -fd);
        }
        if ((FStatx(fd, $"{kind} {path}").Mode & S_IFMT) == S_IFLNK)
        {
            close(fd);
            throw new HuskException($"{kind} {path}: is a symbolic link, refusing to follow it");
        }
        return fd;
    }

    /// <summary>
    /// A read-only recursive bind of the file at <paramref name="fd"/> onto itself. With the new mount
    /// API the clone is made read-only before it is attached (no window, no path); older kernels
    /// use bind + remount through /proc/self/fd.
    /// </summary>
    static void BindReadonly(int fd, string path)
    {
        string what = $"make {path} read-only";
        const ulong attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        int tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (tree >= 0)
        {
            try
            {
                if (mount_setattr(tree, "", (uint)(AT_EMPTY_PATH | AT_RECURSIVE), attrs, 0) == 0)
                {
                    Check(move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what);
                    return;
                }
                if (Errno != ENOSYS) throw new KernelException(what, Errno);
            }
            finally { close(tree); }
        }
        else if (Errno != ENOSYS) throw new KernelException(what, Errno);

        // Old kernel: the classic way, through the fd's /proc path.
        Check(mount(SafeRoot.ProcFd(fd), SafeRoot.ProcFd(fd), null, MS_BIND | MS_REC, null), what);
        int top = Check(open(SafeRoot.ProcFd(fd), O_PATH | O_CLOEXEC, 0), what); // the new mount
        try { Remount(top, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, what); }
        finally { close(top); }
    }

    /// <summary>/dev/null of the container, checked to be the character device 1:3 (runc GHSA 2025: a symlink there redirected masks).</summary>
    static int OpenVerifiedDevNull(SafeRoot root)
    {
        int fd = root.TryOpen("/dev/null", O_PATH | O_NOFOLLOW);
        if (fd < 0) throw new KernelException("masked paths: open /dev/null", -fd);
        var st = FStatx(fd, "masked paths: stat /dev/null");
        if ((st.Mode & S_IFMT) != S_IFCHR || st.RdevMajor != 1 || st.RdevMinor != 3)
        {
            close(fd);
            throw new HuskException("masked paths: /dev/null is not the null device (char 1:3)");
        }
        return fd;
    }

    static void MaskFile(int fd, int devNull, string path)
    {
        string what = $"mask {path}";
        int tree = open_tree(devNull, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (tree >= 0)
        {
            try { Check(move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what); }
            finally { close(tree); }
            return;
        }
        if (Errno != ENOSYS) throw new KernelException(what, Errno);
        Check(mount(SafeRoot.ProcFd(devNull), SafeRoot.ProcFd(fd), null, MS_BIND, null), what);
    }

    static void MaskDirectory(int fd, string path)
    {
        string what = $"mask {path}";
        int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs >= 0)
        {
            try
            {
                Check(fsconfig_cmd(fs, FSCONFIG_CMD_CREATE), what);
                int mnt = Check(fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY), what);
                try { Check(move_mount(mnt, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what); }
                finally { close(mnt); }
            }
            finally { close(fs); }
            return;
        }
        if (Errno != ENOSYS) throw new KernelException(what, Errno);
        Check(mount("tmpfs", SafeRoot.ProcFd(fd), "tmpfs", MS_RDONLY, null), what);
    }

    // ---- helpers ----

    static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    /// <summary>The path with symlinks resolved, as the kernel names it (mountinfo compares against this).</summary>
    static string RealPath(string path)
    {
        int fd = Check(open(path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0), $"open rootfs {path}");
        try { return SafeRoot.FdPath(fd) ?? path; }
        finally { close(fd); }
    }

    /// <summary>
    /// tmpcopyup: copies what was in the directory below a new tmpfs (<paramref name="from"/>, opened
    /// before the mount) into the tmpfs (<paramref name="to"/>), keeping modes, owners and links.
    /// Works through /proc/self/fd paths and never follows a symlink in the tree.
    /// </summary>
    static void CopyTree(int from, int to, string what)
    {
        try { CopyDir(SafeRoot.ProcFd(from), SafeRoot.ProcFd(to)); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HuskException($"{what}: tmpcopyup: {ex.Message}");
        }
    }

    static void CopyDir(string src, string dst)
    {
        foreach (var info in new DirectoryInfo(src).EnumerateFileSystemInfos())
        {
            string target = Path.Combine(dst, info.Name);
            var st = default(Statx);
            unsafe { Check(statx(AT_FDCWD, info.FullName, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st), $"stat {info.Name}"); }
            uint type = st.Mode & S_IFMT;
            if (type == S_IFLNK)
            {
                Check(symlinkat(info.LinkTarget ?? "", AT_FDCWD, target), $"symlink {info.Name}");
            }
            else if (type == S_IFDIR)
            {
                if (mkdirat(AT_FDCWD, target, st.Mode & 0xfffu) < 0 && Errno != EEXIST)
                    throw new KernelException($"mkdir {info.Name}", Errno);
                CopyDir(info.FullName, target);
            }
            else if (type == S_IFREG)
            {
                File.Copy(info.FullName, target, overwrite: true);
            }
            else
            {
                Check(mknodat(AT_FDCWD, target, st.Mode, Makedev(st.RdevMajor, st.RdevMinor)), $"mknod {info.Name}");
            }
            Check(fchownat(AT_FDCWD, target, st.Uid, st.Gid, AT_SYMLINK_NOFOLLOW), $"chown {info.Name}");
            if (type != S_IFLNK) // after chown, which drops setuid bits
                Check(fchmodat(AT_FDCWD, target, st.Mode & 0xfffu, 0), $"chmod {info.Name}");
        }
    }
}
