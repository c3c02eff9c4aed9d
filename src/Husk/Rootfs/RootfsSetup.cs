using Husk.Linux;
using Husk.Spec;
using static Husk.Linux.KernelCalls;
using static Husk.Linux.Native;
using OciSpec = Husk.Spec.Spec;
using MountOptionsTable = Husk.Spec.MountOptions;

namespace Husk.Rootfs;

/// <summary>Knobs of <see cref="RootfsSetup.Prepare"/>.</summary>
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
/// Every call goes through <paramref name="kernel"/>: <see cref="LinuxKernel"/> in the init (through
/// <see cref="RootfsBuilder"/>), a recording double in unit tests.
/// Errors are one line: "mount proc to /proc: Operation not permitted".
/// </summary>
public sealed class RootfsSetup(IKernel kernel)
{
    const uint Mode0755 = 0x1ed;

    /// <summary>
    /// Builds the root file system from <paramref name="spec"/> at <paramref name="rootfsPath"/> (a host
    /// path), runs <paramref name="beforePivot"/> (createRuntime/createContainer hooks), pivots into it
    /// and finalizes it (/dev and / read-only as asked). The caller then applies readonly and masked
    /// paths and finally <see cref="ApplyRootPropagation"/>.
    /// </summary>
    public void Prepare(OciSpec spec, string rootfsPath, RootfsOptions options, Action beforePivot)
    {
        // Decide everything that can be decided before touching anything (bad devices, options).
        // The requested propagation is also that of our copy of the host's mounts, as in runc, except
        // (r)unbindable: an unbindable "/" makes the bind of the rootfs below fail (EINVAL). That one
        // is applied to the container's own "/" only, by ApplyRootPropagation at the end.
        ulong rootPropagation = RootfsBuilder.ParsePropagation(spec.Linux?.RootfsPropagation) is { } asked && (asked & MS_UNBINDABLE) == 0
            ? asked : MS_SLAVE | MS_REC;
        // linux.mountLabel: checked at create to be set only where SELinux is enabled (Lsm.CheckHost).
        string? mountLabel = spec.Linux?.MountLabel is { Length: > 0 } l ? l : null;
        var entries = spec.Mounts.Select(m => MountEntry.From(m).WithMountLabel(mountLabel)).ToList();
        var devPlan = DevPlan.For(spec, kernel.StatxAt(AT_FDCWD, "/proc/kcore", 0, out _) == 0);
        bool cgroupNs = spec.Linux?.Has(NamespaceKind.Cgroup) == true;

        // (a) Our copy of the host's mounts must not send events back to the host: rslave by default.
        Ok(kernel.Mount(null, "/", null, rootPropagation, null), "set propagation of /");

        // (b) pivot_root needs the rootfs to be a mount point whose parent is not shared; binding it
        // onto itself makes it one. A shared parent (rootfsPropagation shared) is made private first
        // so the bind (a copy of the parent's propagation) is private and does not reach the host.
        string rootfsReal = RealPath(rootfsPath);
        // Read once: the cgroup mounts in it are also what the spec's cgroup mount shows (MountCgroup).
        var hostMounts = ReadMountInfo();
        var parent = MountInfoEntry.Containing(hostMounts, rootfsReal);
        if (parent is { IsShared: true })
            Ok(kernel.Mount(null, parent.MountPoint, null, MS_PRIVATE, null), $"make {parent.MountPoint} private");
        Ok(kernel.Mount(rootfsReal, rootfsReal, "bind", MS_BIND | MS_REC, null), $"bind mount rootfs {rootfsReal}");

        using (var root = SafeRoot.Open(kernel, rootfsReal))
        {
            // (c) The spec's mounts, in order.
            int index = 0;
            foreach (var e in entries)
            {
                if (e.Type == "cgroup") MountCgroup(root, e, cgroupNs, hostMounts);
                else if (options.IdmappedMountFds.TryGetValue(index, out int detached)) IdmappedMounts.Attach(kernel, root, e, new OwnedFd(kernel, detached));
                else if (options.BindSourceFds.TryGetValue(index, out int source)) MountBind(root, e, Describe(e), new OwnedFd(kernel, source));
                else MountEntryInRoot(root, e, options, mountLabel);
                index++;
            }
            // (d) /dev, unless it is the host's.
            if (devPlan.Setup) SetupDev(root, devPlan, options.InUserNamespace);
        }

        // (e) Hooks that must see the finished rootfs before the pivot, run from the rootfs as runc's
        // prepareRootfs runs them: createContainer hooks name paths in it relative to their cwd.
        Ok(kernel.Chdir(rootfsReal), $"chdir {rootfsReal}");
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
    public void ApplyReadonlyPaths(IEnumerable<string> paths)
    {
        using var root = SafeRoot.Open(kernel, "/");
        foreach (var raw in paths)
        {
            var p = ContainerPath.Clean(raw);
            using var fd = OpenTarget(root, p, "readonly path");
            if (fd is not null) BindReadonly(fd.Fd, p);
        }
    }

    /// <summary>
    /// linux.maskedPaths, after the pivot: /dev/null over a file, an empty read-only tmpfs over a
    /// directory. A missing path is skipped. /dev/null must be the real null device (1:3): a
    /// container that replaced it (symlink to something it wants writable) gets an error.
    /// </summary>
    public void ApplyMaskedPaths(IEnumerable<string> paths)
    {
        using var root = SafeRoot.Open(kernel, "/");
        OwnedFd? devNull = null;
        try
        {
            foreach (var raw in paths)
            {
                var p = ContainerPath.Clean(raw);
                using var fd = OpenTarget(root, p, "masked path");
                if (fd is null) continue;
                var st = kernel.FStatx(fd.Fd, $"masked path {p}: stat");
                if ((st.Mode & S_IFMT) == S_IFDIR) MaskDirectory(fd.Fd, p);
                else
                {
                    devNull ??= OpenVerifiedDevNull(root);
                    MaskFile(fd.Fd, devNull.Fd, p);
                }
            }
        }
        finally { devNull?.Dispose(); }
    }

    /// <summary>linux.rootfsPropagation applied to the container's "/" (last, as runc: only now is "/" the container's own).</summary>
    public void ApplyRootPropagation(OciSpec spec)
    {
        var name = spec.Linux?.RootfsPropagation;
        if (RootfsBuilder.ParsePropagation(name) is { } flags)
            Ok(kernel.Mount(null, "/", null, flags, null), $"set rootfs propagation {name} on /");
    }

    // ---- spec mounts ----

    static string Describe(MountEntry e) => $"mount {(e.IsBind ? e.Source : e.Type)} to {e.Destination}";

    /// <summary>One spec mount (not cgroup) onto its destination inside <paramref name="root"/>.</summary>
    void MountEntryInRoot(SafeRoot root, MountEntry e, RootfsOptions options, string? mountLabel)
    {
        string what = Describe(e);
        if (e.IsBind) { MountBind(root, e, what); return; }
        if (e.Type.Length == 0) throw new HuskException($"{what}: mount has no type");

        if (e.Type is "proc" or "sysfs")
        {
            // These must land on a real directory, never through a symlink or onto a file
            // (the /proc-over-a-volume tricks of CVE-2019-16884); runc's words.
            using var probe = root.TryOpenOwned(e.Destination, O_PATH | O_NOFOLLOW, out _);
            if (probe is not null && (kernel.FStatx(probe.Fd, what).Mode & S_IFMT) != S_IFDIR)
                throw new HuskException($"{what}: filesystem \"{e.Type}\" must be mounted on ordinary directory");
        }

        var dirFd = root.TryOpenOwned(e.Destination, O_PATH | O_DIRECTORY, out _);
        uint? oldMode = null;
        if (dirFd is not null) oldMode = kernel.FStatx(dirFd.Fd, what).Mode & 0xfffu;
        else dirFd = root.MkdirAll(e.Destination, Mode0755, what);
        // tmpcopyup: an fd of the directory below keeps reaching it after the tmpfs covers it.
        OwnedFd? copyFrom = null;
        try
        {
            using (dirFd)
            {
                CheckProc(root, dirFd.Fd, e.Type == "proc", what);
                if (e.TmpCopyUp && e.Type == "tmpfs")
                    copyFrom = root.Open(e.Destination, O_RDONLY | O_DIRECTORY, what);
                string source = e.Source.Length > 0 ? e.Source : e.Type;
                int rc = kernel.Mount(source, ProcFd(dirFd.Fd), e.Type, e.InitialFlags, NullIfEmpty(e.Data));
                if (rc < 0)
                {
                    // sysfs in a user namespace that does not own the network namespace is refused;
                    // runc falls back to a recursive bind of the host's /sys, which the flags then restrict.
                    if (rc == -EPERM && e.Type == "sysfs" && options.InUserNamespace)
                    {
                        dirFd.Dispose();
                        // The host's submounts of /sys come along: restrict them too (recursively, mount_setattr).
                        ulong attrs = 0;
                        if ((e.Flags & MS_RDONLY) != 0) attrs |= MOUNT_ATTR_RDONLY;
                        if ((e.Flags & MS_NOSUID) != 0) attrs |= MOUNT_ATTR_NOSUID;
                        if ((e.Flags & MS_NODEV) != 0) attrs |= MOUNT_ATTR_NODEV;
                        if ((e.Flags & MS_NOEXEC) != 0) attrs |= MOUNT_ATTR_NOEXEC;
                        MountBind(root, e with { Type = "bind", Source = "/sys", Flags = e.Flags | MS_BIND | MS_REC, AttrSet = e.AttrSet | attrs }, what);
                        return;
                    }
                    throw new KernelException(what, -rc);
                }
            }

            // Reopen: the fd we mounted on is the directory below; this one is the new mount's root.
            using var fd = root.Open(e.Destination, O_PATH | O_DIRECTORY, what);
            if (copyFrom is not null) CopyTree(copyFrom.Fd, fd.Fd, what);
            if (e.Type == "tmpfs" && oldMode is { } mode && !e.HasModeOption)
            {
                // A tmpfs over an existing directory keeps that directory's mode (runc), unless mode= says otherwise.
                using var rw = root.Open(e.Destination, O_RDONLY | O_DIRECTORY, what);
                Ok(kernel.Fchmod(rw.Fd, mode), $"{what}: chmod");
            }
            if (e.LabelsRootAfterMount && mountLabel != null)
                Ok(kernel.SetXattr(ProcFd(fd.Fd), "security.selinux", mountLabel), $"{what}: label it {mountLabel}");
            if (e.DelayReadonly && e.Readonly && e.Destination != "/dev")
                Remount(fd.Fd, MS_REMOUNT | e.RemountFlags, what);
            ApplyPropagationAndAttrs(fd.Fd, e, what);
        }
        finally { copyFrom?.Dispose(); }
    }

    /// <summary>
    /// A bind mount: the destination is created as a directory or a file, like the source.
    /// <paramref name="source"/>: the source as `create` opened it (<see cref="BindSources"/>), taken
    /// over; null: it is opened here, by its path.
    /// </summary>
    void MountBind(SafeRoot root, MountEntry e, string what, OwnedFd? source = null)
    {
        using (source)
        {
            if (e.Source.Length == 0) throw new HuskException($"{what}: bind mount has no source");
            // The source is a host path from the spec (trusted). Pin it with an fd so the mount binds
            // what we looked at.
            using var src = source is null ? kernel.Owned(kernel.Open(e.Source, O_PATH | O_CLOEXEC), what) : null;
            int srcFd = (source ?? src)!.Fd;
            bool isDir = (kernel.FStatx(srcFd, what).Mode & S_IFMT) == S_IFDIR;
            using var dst = isDir ? root.MkdirAll(e.Destination, Mode0755, what) : root.CreateFile(e.Destination, what);
            CheckProc(root, dst.Fd, kernel.FsType(srcFd) == PROC_SUPER_MAGIC, what);
            if (AttachBindClone(srcFd, dst.Fd, e, what)) return;
            Ok(kernel.Mount(ProcFd(srcFd), ProcFd(dst.Fd), null, e.InitialFlags, null), what);
        }

        // Kernels without mount_setattr (before 5.12): the flags by a remount of the new mount, found
        // again by its path.
        using var fd = root.Open(e.Destination, O_PATH, what);
        // mount(2) ignores ro/nosuid/... together with MS_BIND: a second, remount pass sets them.
        if (e.NeedsBindRemount) Remount(fd.Fd, MS_REMOUNT | e.RemountFlags, what);
        ApplyPropagationAndAttrs(fd.Fd, e, what);
    }

    /// <summary>
    /// The bind as a detached clone of <paramref name="src"/> (open_tree; recursive for rbind) that gets
    /// every attribute while detached (mount_setattr: its own flags, then the recursive ones), is then
    /// attached at <paramref name="dst"/> (move_mount) and given its propagation through its own fd.
    /// Nothing is looked up by path after the mount, so a path swapped meanwhile cannot make the flags
    /// land on another mount. False, with nothing done, where the kernel lacks these calls.
    /// </summary>
    bool AttachBindClone(int src, int dst, MountEntry e, string what)
    {
        uint recursive = (e.Flags & MS_REC) != 0 ? (uint)AT_RECURSIVE : 0;
        int rc = kernel.OpenTree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | recursive);
        if (rc == -ENOSYS) return false;
        using var tree = kernel.Owned(rc, what);
        var (set, clear) = e.BindAttributes;
        rc = kernel.MountSetattr(tree.Fd, "", (uint)AT_EMPTY_PATH, set, clear);
        if (rc == -ENOSYS) return false;
        Ok(rc, $"{what}: set mount attributes");
        if (e.AttrSet != 0 || e.AttrClear != 0)
            Ok(kernel.MountSetattr(tree.Fd, "", (uint)(AT_EMPTY_PATH | AT_RECURSIVE), e.AttrSet, e.AttrClear),
                $"{what}: set recursive mount attributes");
        Ok(kernel.MoveMount(tree.Fd, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what);
        foreach (var p in e.Propagation)
            Ok(kernel.Mount(null, ProcFd(tree.Fd), null, p, null), $"{what}: set propagation");
        return true;
    }

    /// <summary>Propagation options ("rslave", ...) one by one, then recursive attributes (rro, ...) with mount_setattr.</summary>
    void ApplyPropagationAndAttrs(int fd, MountEntry e, string what)
    {
        foreach (var p in e.Propagation)
            Ok(kernel.Mount(null, ProcFd(fd), null, p, null), $"{what}: set propagation");
        if (e.AttrSet != 0 || e.AttrClear != 0)
            Ok(kernel.MountSetattr(fd, "", (uint)(AT_EMPTY_PATH | AT_RECURSIVE), e.AttrSet, e.AttrClear),
                $"{what}: set recursive mount attributes");
    }

    /// <summary>
    /// MS_REMOUNT of the mount at <paramref name="fd"/>. In a user namespace the flags the outer
    /// namespace set (nosuid, nodev, noexec, ro, atime) are locked and a remount that drops them
    /// fails with EPERM: retry keeping the ones the mount has now (runc does the same).
    /// </summary>
    void Remount(int fd, ulong flags, string what, string? target = null)
    {
        target ??= ProcFd(fd);
        int rc = kernel.Mount(null, target, null, flags, null);
        if (rc == 0) return;
        if (rc != -EPERM) throw new KernelException(what, -rc);
        Ok(kernel.Mount(null, target, null, flags | RootfsBuilder.LockedFlags(kernel.MountFlags(fd, what), flags), null), what);
    }

    /// <summary>Refuses a mount that would land inside /proc (see <see cref="MountEntry.CheckProcMount"/>).</summary>
    static void CheckProc(SafeRoot root, int fd, bool sourceIsProcfs, string what)
    {
        var resolved = root.ContainerPathOf(fd) ?? throw new HuskException($"{what}: destination resolves outside the rootfs");
        if (MountEntry.CheckProcMount(resolved, sourceIsProcfs) is { } err) throw new HuskException($"{what}: {err}");
    }

    // ---- cgroup ----

    /// <summary>A "cgroup" spec mount (see <see cref="CgroupMounts"/> for what and why).</summary>
    void MountCgroup(SafeRoot root, MountEntry e, bool cgroupNs, List<MountInfoEntry> hostMounts)
    {
        string what = $"mount cgroup to {e.Destination}";
        const ulong restrict = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        ulong flags = (e.Flags & restrict) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        var own = CgroupMounts.ParseProcCgroup(kernel.ReadFile("/proc/self/cgroup") ?? "");

        bool unified;
        int cg = kernel.Open("/sys/fs/cgroup", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cg < 0) unified = true;
        else using (var cgFd = new OwnedFd(kernel, cg)) unified = kernel.FsType(cgFd.Fd) == CgroupMounts.CGROUP2_SUPER_MAGIC;

        if (unified)
        {
            using (var fd = root.MkdirAll(e.Destination, Mode0755, what))
            {
                CheckProc(root, fd.Fd, false, what);
                int rc = kernel.Mount("cgroup2", ProcFd(fd.Fd), "cgroup2", flags, NullIfEmpty(e.Data));
                if (rc == 0) return;
                if (rc is not (-EPERM or -EBUSY)) throw new KernelException(what, -rc);
            }
            // Not allowed to mount a cgroup2 here: show our own cgroup directory instead.
            string path = own.FirstOrDefault(o => o.Controllers == "").Path ?? "/";
            MountBind(root, e with { Type = "bind", Source = ContainerPath.Join("/sys/fs/cgroup", path), Flags = flags | MS_BIND | MS_REC }, what);
            return;
        }

        // v1 or hybrid: a tmpfs holding one directory per hierarchy. Writable until the end.
        var tmpfs = new MountEntry(e.Destination, "tmpfs", "tmpfs", flags & ~MS_RDONLY, 0, [], "mode=755", 0, 0, false);
        MountEntryInRoot(root, tmpfs, new RootfsOptions(), mountLabel: null);
        using var top = root.Open(e.Destination, O_PATH | O_DIRECTORY, what);
        foreach (var h in CgroupMounts.PlanV1(hostMounts, own))
        {
            string dest = ContainerPath.Join(e.Destination, h.Name);
            if (cgroupNs)
            {
                // In a cgroup namespace a fresh mount of the hierarchy is rooted at our cgroup. The
                // tmpfs was made just now, by us: its directories are made and mounted on through
                // it directly, not by a walk from the root.
                int made = kernel.MkdirAt(top.Fd, h.Name, Mode0755);
                if (made < 0 && made != -EEXIST) throw new KernelException($"{what}: mkdir {dest}", -made);
                using var dir = kernel.Owned(kernel.OpenAt(top.Fd, h.Name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), $"{what}: open {dest}");
                Ok(kernel.Mount(h.FsType, ProcFd(dir.Fd), h.FsType, flags, NullIfEmpty(h.Data)), $"mount {h.FsType} to {dest}");
            }
            else
            {
                var bind = new MountEntry(dest, "bind", h.HostSource, flags | MS_BIND | MS_REC, 0, [], "", 0, 0, false);
                MountBind(root, bind, $"mount {h.HostSource} to {dest}");
            }
            foreach (var alias in h.Aliases)
                if (kernel.SymlinkAt(h.Name, top.Fd, alias) is var rc and < 0 && rc != -EEXIST)
                    throw new KernelException($"{what}: symlink {alias}", -rc);
        }
        if ((e.Flags & MS_RDONLY) != 0) Remount(top.Fd, MS_REMOUNT | flags, what);
        ApplyPropagationAndAttrs(top.Fd, e, what);
    }

    // ---- /dev ----

    void SetupDev(SafeRoot root, DevPlan plan, bool inUserNs)
    {
        // Device modes are exact, not filtered by the init's umask.
        uint oldMask = kernel.Umask(0);
        try
        {
            foreach (var d in plan.Devices) CreateDevice(root, d, inUserNs);
        }
        finally { kernel.Umask(oldMask); }

        foreach (var (link, target) in plan.Symlinks) Symlink(root, link, target, replace: false);
        // With a devpts of its own the container's /dev/ptmx must be the one of that instance.
        if (plan.Ptmx) Symlink(root, "/dev/ptmx", "pts/ptmx", replace: true);
    }

    void CreateDevice(SafeRoot root, DeviceNode d, bool inUserNs)
    {
        string what = $"create device {d.Path}";
        var (parentPath, name) = ContainerPath.Split(d.Path);
        using (var parent = root.MkdirAll(parentPath, Mode0755, what))
        {
            if (!inUserNs)
            {
                int rc = kernel.MknodAt(parent.Fd, name, d.FileTypeBits | d.Mode, Makedev((ulong)d.Major, (ulong)d.Minor));
                if (rc == 0)
                {
                    Ok(kernel.FchownAt(parent.Fd, name, d.Uid, d.Gid, AT_SYMLINK_NOFOLLOW), $"{what}: chown");
                    return;
                }
                if (rc == -EEXIST) return;              // the image has it already (runc keeps it)
                if (rc != -EPERM) throw new KernelException(what, -rc);
            }
        }

        // mknod is refused in a user namespace: bind the host's node onto an empty file (runc).
        using var src = kernel.Owned(kernel.Open(d.Path, O_PATH | O_CLOEXEC), $"{what}: bind from host");
        using var dst = root.CreateFile(d.Path, what);
        Ok(kernel.Mount(ProcFd(src.Fd), ProcFd(dst.Fd), null, MS_BIND, null), $"{what}: bind from host");
    }

    void Symlink(SafeRoot root, string link, string target, bool replace)
    {
        string what = $"symlink {link} -> {target}";
        var (parentPath, name) = ContainerPath.Split(link);
        using var parent = root.MkdirAll(parentPath, Mode0755, what);
        if (replace && kernel.UnlinkAt(parent.Fd, name, 0) is var unlinked and < 0 && unlinked != -ENOENT)
            throw new KernelException(what, -unlinked);
        if (kernel.SymlinkAt(target, parent.Fd, name) is var rc and < 0 && rc != -EEXIST)
            throw new KernelException(what, -rc);
    }

    // ---- pivot ----

    /// <summary>
    /// runc's pivot_root(".", "."): no put_old directory needed. The old root ends up on top of the
    /// new one; we step onto it, make it rslave (so the unmount does not propagate to the host) and
    /// detach it.
    /// </summary>
    void PivotRoot(string rootfs)
    {
        using (var oldRoot = kernel.Owned(kernel.Open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC), "open /"))
        {
            using (var newRoot = kernel.Owned(kernel.Open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC), $"open {rootfs}"))
            {
                Ok(kernel.Fchdir(newRoot.Fd), $"chdir {rootfs}");
                Ok(kernel.PivotRoot(".", "."), $"pivot_root {rootfs}");
            }
            Ok(kernel.Fchdir(oldRoot.Fd), "chdir to old root");
            Ok(kernel.Mount(null, ".", null, MS_SLAVE | MS_REC, null), "make old root rslave");
            Ok(kernel.Umount2(".", MNT_DETACH), "unmount old root");
        }
        Ok(kernel.Chdir("/"), "chdir /");
    }

    /// <summary>
    /// --no-pivot: move the rootfs mount onto / and chroot. The host's full proc and sysfs mounts
    /// would stay reachable in this mount namespace, so they are unmounted (or covered) first, as runc does.
    /// </summary>
    void MoveRoot(string rootfs)
    {
        Ok(kernel.Chdir(rootfs), $"chdir {rootfs}");
        foreach (var m in ReadMountInfo())
        {
            if (m.FsType is not ("proc" or "sysfs") || ContainerPath.IsWithin(m.MountPoint, rootfs)) continue;
            int rc = kernel.Mount(null, m.MountPoint, null, MS_SLAVE | MS_REC, null);
            if (rc < 0)
            {
                if (rc is -ENOENT or -EINVAL) continue; // already gone with a parent
                throw new KernelException($"make {m.MountPoint} rslave", -rc);
            }
            rc = kernel.Umount2(m.MountPoint, MNT_DETACH);
            if (rc < 0)
            {
                if (rc is not (-EINVAL or -EPERM)) throw new KernelException($"unmount {m.MountPoint}", -rc);
                Ok(kernel.Mount("tmpfs", m.MountPoint, "tmpfs", 0, null), $"cover {m.MountPoint}");
            }
        }
        Ok(kernel.Mount(rootfs, "/", null, MS_MOVE, null), $"move {rootfs} to /");
        Ok(kernel.Chroot("."), $"chroot {rootfs}");
        Ok(kernel.Chdir("/"), "chdir /");
    }

    // ---- finalize ----

    void RemountWithRetry(string path, ulong flags, string what)
    {
        using var fd = kernel.Owned(kernel.Open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), what);
        // A remount read-only fails with EBUSY while something is being written; runc retries too.
        for (int i = 0; ; i++)
        {
            try { Remount(fd.Fd, flags, what, path); return; } // by path: after the pivot /proc may be absent
            catch (KernelException ex) when (ex.Errno == EBUSY && i < 5) { Thread.Sleep(100); }
        }
    }

    /// <summary>root.readonly: remount / read-only, keeping its other (possibly locked) flags.</summary>
    void SetReadonlyRoot()
    {
        const string what = "remount / read-only";
        if (kernel.Mount(null, "/", null, MS_BIND | MS_REMOUNT | MS_RDONLY, null) == 0) return;
        using var fd = kernel.Owned(kernel.Open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), what);
        ulong current = kernel.MountFlags(fd.Fd, what) & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME);
        Ok(kernel.Mount(null, "/", null, MS_BIND | MS_REMOUNT | MS_RDONLY | current, null), what);
    }

    // ---- readonly and masked paths ----

    /// <summary>O_PATH|O_NOFOLLOW fd of a path below the container root; null when it does not exist.</summary>
    OwnedFd? OpenTarget(SafeRoot root, string path, string kind)
    {
        var fd = root.TryOpenOwned(path, O_PATH | O_NOFOLLOW, out int errno);
        if (fd is null)
        {
            if (errno is ENOENT or ENOTDIR) return null;
            throw new KernelException($"{kind} {path}", errno);
        }
        if ((kernel.FStatx(fd.Fd, $"{kind} {path}").Mode & S_IFMT) == S_IFLNK)
        {
            fd.Dispose();
            throw new HuskException($"{kind} {path}: is a symbolic link, refusing to follow it");
        }
        return fd;
    }

    /// <summary>
    /// A read-only recursive bind of the file at <paramref name="fd"/> onto itself. With the new mount
    /// API the clone is made read-only before it is attached (no window, no path); older kernels
    /// use bind + remount through /proc/self/fd.
    /// </summary>
    void BindReadonly(int fd, string path)
    {
        string what = $"make {path} read-only";
        const ulong attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        int rc = kernel.OpenTree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (rc != -ENOSYS)
        {
            using var tree = kernel.Owned(rc, what);
            rc = kernel.MountSetattr(tree.Fd, "", (uint)(AT_EMPTY_PATH | AT_RECURSIVE), attrs, 0);
            if (rc == 0)
            {
                Ok(kernel.MoveMount(tree.Fd, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what);
                return;
            }
            if (rc != -ENOSYS) throw new KernelException(what, -rc);
        }

        // Old kernel: the classic way, through the fd's /proc path.
        Ok(kernel.Mount(ProcFd(fd), ProcFd(fd), null, MS_BIND | MS_REC, null), what);
        using var top = kernel.Owned(kernel.Open(ProcFd(fd), O_PATH | O_CLOEXEC), what); // the new mount
        Remount(top.Fd, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, what);
    }

    /// <summary>/dev/null of the container, checked to be the character device 1:3 (runc GHSA 2025: a symlink there redirected masks).</summary>
    OwnedFd OpenVerifiedDevNull(SafeRoot root)
    {
        var fd = root.TryOpenOwned("/dev/null", O_PATH | O_NOFOLLOW, out int errno)
            ?? throw new KernelException("masked paths: open /dev/null", errno);
        var st = kernel.FStatx(fd.Fd, "masked paths: stat /dev/null");
        if ((st.Mode & S_IFMT) != S_IFCHR || st.RdevMajor != 1 || st.RdevMinor != 3)
        {
            fd.Dispose();
            throw new HuskException("masked paths: /dev/null is not the null device (char 1:3)");
        }
        return fd;
    }

    void MaskFile(int fd, int devNull, string path)
    {
        string what = $"mask {path}";
        int rc = kernel.OpenTree(devNull, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (rc != -ENOSYS)
        {
            using var tree = kernel.Owned(rc, what);
            Ok(kernel.MoveMount(tree.Fd, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what);
            return;
        }
        Ok(kernel.Mount(ProcFd(devNull), ProcFd(fd), null, MS_BIND, null), what);
    }

    void MaskDirectory(int fd, string path)
    {
        string what = $"mask {path}";
        int rc = kernel.FsOpen("tmpfs", FSOPEN_CLOEXEC);
        if (rc != -ENOSYS)
        {
            using var fs = kernel.Owned(rc, what);
            Ok(kernel.FsConfigCmd(fs.Fd, FSCONFIG_CMD_CREATE), what);
            using var mnt = kernel.Owned(kernel.FsMount(fs.Fd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY), what);
            Ok(kernel.MoveMount(mnt.Fd, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what);
            return;
        }
        Ok(kernel.Mount("tmpfs", ProcFd(fd), "tmpfs", MS_RDONLY, null), what);
    }

    // ---- helpers ----

    static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    List<MountInfoEntry> ReadMountInfo() =>
        MountInfoEntry.Parse(kernel.ReadFile("/proc/self/mountinfo") ?? throw new HuskException("/proc/self/mountinfo: no such file"));

    /// <summary>The path with symlinks resolved, as the kernel names it (mountinfo compares against this).</summary>
    string RealPath(string path)
    {
        using var fd = kernel.Owned(kernel.Open(path, O_PATH | O_DIRECTORY | O_CLOEXEC), $"open rootfs {path}");
        return kernel.FdPath(fd.Fd) ?? path;
    }

    /// <summary>
    /// tmpcopyup: copies what was in the directory below a new tmpfs (<paramref name="from"/>, opened
    /// before the mount) into the tmpfs (<paramref name="to"/>), keeping modes, owners and links.
    /// Works through /proc/self/fd paths and never follows a symlink in the tree.
    /// </summary>
    void CopyTree(int from, int to, string what)
    {
        try { CopyDir(ProcFd(from), ProcFd(to)); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HuskException($"{what}: tmpcopyup: {ex.Message}");
        }
    }

    void CopyDir(string src, string dst)
    {
        foreach (var info in new DirectoryInfo(src).EnumerateFileSystemInfos())
        {
            string target = Path.Combine(dst, info.Name);
            Ok(kernel.StatxAt(AT_FDCWD, info.FullName, AT_SYMLINK_NOFOLLOW, out var st), $"stat {info.Name}");
            uint type = st.Mode & S_IFMT;
            if (type == S_IFLNK)
            {
                Ok(kernel.SymlinkAt(info.LinkTarget ?? "", AT_FDCWD, target), $"symlink {info.Name}");
            }
            else if (type == S_IFDIR)
            {
                if (kernel.MkdirAt(AT_FDCWD, target, st.Mode & 0xfffu) is var rc and < 0 && rc != -EEXIST)
                    throw new KernelException($"mkdir {info.Name}", -rc);
                CopyDir(info.FullName, target);
            }
            else if (type == S_IFREG)
            {
                File.Copy(info.FullName, target, overwrite: true);
            }
            else
            {
                Ok(kernel.MknodAt(AT_FDCWD, target, st.Mode, Makedev(st.RdevMajor, st.RdevMinor)), $"mknod {info.Name}");
            }
            Ok(kernel.FchownAt(AT_FDCWD, target, st.Uid, st.Gid, AT_SYMLINK_NOFOLLOW), $"chown {info.Name}");
            if (type != S_IFLNK) // after chown, which drops setuid bits
                Ok(kernel.FchmodAt(AT_FDCWD, target, st.Mode & 0xfffu, 0), $"chmod {info.Name}");
        }
    }
}
