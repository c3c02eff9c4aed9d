using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Husk.Init;
using Husk.Linux;
using Husk.Rootfs;
using Husk.Seccomp;
using Husk.Spec;
using static Husk.Linux.Native;

namespace Husk.Container.Launch;

/// <summary>
/// The container's init compiled into operations that native/plan.c executes in the init, so the
/// .NET runtime never starts there (issue 18: one runtime start less per container, and a waiting
/// init as small as a C runtime's). Every decision is made here, where the managed init would make
/// it: paths, flags, modes, capability masks, the environment, error texts. The C resolves paths in
/// the rootfs with RESOLVE_IN_ROOT and, for mount destinations, RESOLVE_NO_SYMLINKS: this compiler
/// looked at the image and refuses (<see cref="Compile"/> returns null with the reason) wherever the
/// plan could not do exactly what the managed init does; the managed init then serves the container.
/// The same order as <see cref="ContainerInit"/> → RootfsSetup → ProcessSteps.BecomeProcess.
/// </summary>
public sealed class InitPlan
{
    /// <summary>Operation codes; keep in sync with native/plan.c.</summary>
    public enum Op : uint
    {
        Setsid = 1, Keyring, Mount, Open, MkdirAll, Close, Fchmod, Mknod, Symlink, Setattr, BindReadonly, Mask,
        CheckDevNull, NotSymlink, Pivot, Remount, ReadonlyRoot, Umask, Hostname, Domainname, WriteProc,
        Rlimit, MakeCwd, Arg, Env, Cwd, LookPath, Ready, WaitFifo, FixStdio, User, Group, NoNewPrivs, Exec, Bind, Seccomp,
    }

    /// <summary>Lookups inside the rootfs: in its root, no symlinks at all, no magic links.</summary>
    public const ulong StrictResolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    /// <summary>As the managed init's <see cref="SafeRoot"/>: in the root, symlinks followed inside it.</summary>
    public const ulong InRootResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

    /// <summary>
    /// One operation as plan.c reads it: code, four ints, five u64s, five strings (the last: what
    /// failed); a blob of bytes, when there is one, in the first string's place. Held inline, not
    /// in arrays of their own: a plan has ~200 operations, compiled in every `create`.
    /// </summary>
    readonly struct Operation
    {
        public readonly Op Code;
        public readonly Ints I;
        public readonly Longs U;
        public readonly Strings S;
        public readonly int IntCount, LongCount, StringCount;
        public readonly string? What;
        public readonly byte[]? Blob;

        public Operation(Op code, ReadOnlySpan<int> i, ReadOnlySpan<ulong> u, ReadOnlySpan<string?> s, string? what, byte[]? blob)
        {
            Code = code;
            i.CopyTo(I);
            u.CopyTo(U);
            s.CopyTo(S);
            (IntCount, LongCount, StringCount) = (i.Length, u.Length, s.Length);
            What = what;
            Blob = blob;
        }
    }

    [InlineArray(4)] struct Ints { int _first; }
    [InlineArray(5)] struct Longs { ulong _first; }
    [InlineArray(4)] struct Strings { string? _first; }

    // Room for a default spec's plan (~180 operations) without growing the list by copies.
    readonly List<Operation> _ops = new(256);
    int _nextReg;
    readonly Stack<int> _freeRegs = new();

    /// <summary>The encoded operations (the bootstrap's REC_PLAN record): fixed fields, then each string with its NUL (length 0: absent).</summary>
    public byte[] Bytes
    {
        get
        {
            const int Fixed = 4 + 16 + 40;
            int size = 0;
            foreach (ref readonly var o in CollectionsMarshal.AsSpan(_ops))
            {
                size += Fixed + 5 * 4;
                for (int k = 0; k < 5; k++) if (StringAt(o, k) is { } str) size += Encoding.UTF8.GetByteCount(str) + 1;
                if (o.Blob is not null) size += o.Blob.Length + 1;
            }
            // One array of the exact size (a growing stream touches several times the memory).
            var bytes = new byte[size];
            var span = bytes.AsSpan();
            foreach (ref readonly var o in CollectionsMarshal.AsSpan(_ops))
            {
                BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)o.Code);
                for (int k = 0; k < o.IntCount; k++) BinaryPrimitives.WriteInt32LittleEndian(span[(4 + 4 * k)..], o.I[k]);
                for (int k = 0; k < o.LongCount; k++) BinaryPrimitives.WriteUInt64LittleEndian(span[(20 + 8 * k)..], o.U[k]);
                span = span[Fixed..];
                for (int k = 0; k < 5; k++)
                {
                    string? str = StringAt(o, k);
                    int n;
                    if (k == 0 && o.Blob is not null)
                    {
                        o.Blob.CopyTo(span[4..]);
                        n = o.Blob.Length + 1;
                    }
                    else n = str is null ? 0 : Encoding.UTF8.GetBytes(str, span[4..]) + 1;
                    BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)n);
                    span = span[(4 + n)..];   // the NUL is the array's zero
                }
            }
            return bytes;
        }
    }

    static string? StringAt(in Operation o, int k) => k == 4 ? o.What : k < o.StringCount ? o.S[k] : null;

    /// <summary>One line per operation (without its error text), for tests. (Loops, not Linq: see bench/analysis.md, update 5.)</summary>
    public IReadOnlyList<string> Listing
    {
        get
        {
            var lines = new List<string>(_ops.Count);
            foreach (ref readonly var o in CollectionsMarshal.AsSpan(_ops))
            {
                var line = new StringBuilder(o.Code.ToString());
                if (o.IntCount > 0)
                {
                    line.Append(" i=");
                    for (int k = 0; k < o.IntCount; k++) line.Append(k > 0 ? "," : "").Append(o.I[k]);
                }
                if (o.LongCount > 0)
                {
                    line.Append(" u=");
                    for (int k = 0; k < o.LongCount; k++) line.Append(k > 0 ? ",0x" : "0x").Append(o.U[k].ToString("x"));
                }
                if (o.Blob is not null) line.Append(" blob=").Append(o.Blob.Length);
                if (o.StringCount > 0)
                {
                    line.Append(" s=");
                    for (int k = 0; k < o.StringCount; k++) line.Append(k > 0 ? "|" : "").Append(o.S[k] ?? "-");
                }
                lines.Add(line.ToString());
            }
            return lines;
        }
    }

    /// <summary>How many operations the plan has.</summary>
    public int Count => _ops.Count;

    /// <summary>A free fd register (plan.c has 64): closed ones are reused.</summary>
    int Reg() => _freeRegs.Count > 0 ? _freeRegs.Pop() : _nextReg < 64 ? _nextReg++ : throw new HuskException("init plan: out of fd registers");

    void Close(int reg)
    {
        Emit(Op.Close, i: [reg]);
        _freeRegs.Push(reg);
    }

    void Emit(Op op, ReadOnlySpan<int> i = default, ReadOnlySpan<ulong> u = default, ReadOnlySpan<string?> s = default, string? what = null, byte[]? blob = null) =>
        _ops.Add(new(op, i, u, s, what, blob));

    /// <summary>What any plan needs to know of this process and kernel (read by <see cref="ProcessFacts.Read"/>).</summary>
    public sealed record ProcessFacts(int LastCap, ulong PermittedCaps, bool HasOpenat2)
    {
        public static ProcessFacts Read()
        {
            var kernel = LinuxKernel.Instance;
            kernel.CapGetPermitted(out ulong permitted);
            int probe = kernel.OpenAt2(AT_FDCWD, "/", (ulong)(O_PATH | O_DIRECTORY | O_CLOEXEC), 0, RESOLVE_NO_MAGICLINKS);
            if (probe >= 0) kernel.Close(probe);
            return new ProcessFacts(new ProcessSteps(kernel).KernelLastCap, permitted, probe >= 0);
        }
    }

    /// <summary>What a container's plan also needs to know of the host and of its rootfs (read by <see cref="HostFacts.Read"/>).</summary>
    public sealed record HostFacts(ProcessFacts Process, string RootfsReal, string? SharedParentMount, bool CgroupUnified, bool HostHasKcore)
    {
        /// <summary>The host's mounts (the init's mount namespace starts as a copy of them).</summary>
        public IReadOnlyList<MountInfoEntry> Mounts { get; init; } = [];

        /// <summary>What the init's /proc/self/cgroup will say once it is in its cgroups (<see cref="OwnCgroups"/>); null: not known.</summary>
        public IReadOnlyList<(string Controllers, string Path)>? InitCgroups { get; init; }

        /// <summary>Whether the kernel has mount_setattr (5.12): the plan's bind operation needs it.</summary>
        public bool HasMountSetattr { get; init; }

        /// <summary>What a bind mount's source (an absolute host path) is on the host, symlinks followed; null when it is missing. Looked at only when asked, once per path.</summary>
        public Func<string, BindSource?> BindSourceOf { get; init; } = _ => null;

        /// <summary>The facts of this host for a rootfs at <paramref name="rootfs"/>; <paramref name="cgroupDirs"/>: the directories the init is placed in.</summary>
        public static HostFacts Read(string rootfs, IReadOnlyList<string>? cgroupDirs = null)
        {
            var kernel = LinuxKernel.Instance;
            string real;
            using (var fd = kernel.Owned(kernel.Open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC), $"open rootfs {rootfs}"))
                real = kernel.FdPath(fd.Fd) ?? rootfs;
            var mounts = MountInfoEntry.Parse(kernel.ReadFile("/proc/self/mountinfo") ?? "");
            var parent = MountInfoEntry.Containing(mounts, real);
            bool unified = true;
            int cg = kernel.Open("/sys/fs/cgroup", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (cg >= 0) using (var cgFd = new OwnedFd(kernel, cg)) unified = kernel.FsType(cgFd.Fd) == CgroupMounts.CGROUP2_SUPER_MAGIC;
            return new HostFacts(ProcessFacts.Read(), real, parent is { IsShared: true } ? parent.MountPoint : null, unified,
                kernel.StatxAt(AT_FDCWD, "/proc/kcore", 0, out _) == 0)
            {
                Mounts = mounts,
                // Only a cgroup v1 mount needs them (a tmpfs of binds of the init's cgroups).
                InitCgroups = unified ? null : OwnCgroups(kernel.ReadFile("/proc/self/cgroup") ?? "", mounts, cgroupDirs ?? []),
                // An invalid fd: EBADF where the call exists, ENOSYS where it does not.
                HasMountSetattr = kernel.MountSetattr(-1, "", (uint)AT_EMPTY_PATH, 0, 0) != -ENOSYS,
                BindSourceOf = BindSourceProbe(kernel),
            };
        }

        static Func<string, BindSource?> BindSourceProbe(LinuxKernel kernel)
        {
            var known = new Dictionary<string, BindSource?>(StringComparer.Ordinal);
            return path =>
            {
                if (known.TryGetValue(path, out var seen)) return seen;
                BindSource? source = null;
                int fd = kernel.Open(path, O_PATH | O_CLOEXEC);
                if (fd >= 0)
                {
                    using var f = new OwnedFd(kernel, fd);
                    if (kernel.StatxAt(f.Fd, "", AT_EMPTY_PATH, out var st) == 0)
                        source = new BindSource((st.Mode & S_IFMT) == S_IFDIR, kernel.FsType(f.Fd) == PROC_SUPER_MAGIC);
                }
                return known[path] = source;
            };
        }
    }

    /// <summary>A bind mount's source as the host has it: a directory or not, on a procfs or not.</summary>
    public readonly record struct BindSource(bool IsDirectory, bool IsProcfs);

    /// <summary>
    /// Pure: the /proc/self/cgroup lines of a process of <paramref name="selfCgroup"/>'s cgroups once it
    /// is moved into <paramref name="directories"/> (one per hierarchy, as the init is placed): each
    /// directory replaces the path of its hierarchy's line (found by the mount it is under).
    /// </summary>
    public static List<(string Controllers, string Path)> OwnCgroups(string selfCgroup, IReadOnlyList<MountInfoEntry> mounts, IReadOnlyList<string> directories)
    {
        var own = CgroupMounts.ParseProcCgroup(selfCgroup);
        foreach (var dir in directories)
        {
            MountInfoEntry? under = null;
            foreach (var m in mounts)
                if (m.FsType is "cgroup" or "cgroup2" && ContainerPath.IsWithin(dir, m.MountPoint) && (under is null || m.MountPoint.Length > under.MountPoint.Length))
                    under = m;
            if (under is null) continue;
            string rel = dir.Length > under.MountPoint.Length ? dir[under.MountPoint.Length..] : "";
            string path = ContainerPath.Clean((under.Root == "/" ? "" : under.Root) + rel);
            var super = under.FsType == "cgroup2" ? null : under.SuperOptions.Split(',');
            for (int i = 0; i < own.Count; i++)
            {
                var (controllers, _) = own[i];
                bool mine = super is null ? controllers == "" : controllers != "" && controllers.Split(',').All(super.Contains);
                if (mine) { own[i] = (controllers, path); break; }
            }
        }
        return own;
    }

    /// <summary>What the image has at a path of the container (looked at from the host, never following a symlink).</summary>
    public interface IImage
    {
        /// <summary>The file type and permission bits (st_mode) of <paramref name="path"/>, null when it does not exist.</summary>
        uint? ModeOf(string path);
        /// <summary>The image's /etc/passwd (read inside the rootfs), null when it has none.</summary>
        string? Passwd();
    }

    /// <summary>
    /// The plan for <paramref name="spec"/>, or null (with <paramref name="refusal"/>) where the managed
    /// init must serve it. Throws for a spec the managed init would fail on too (with its message).
    /// </summary>
    /// <param name="filterOf">The program of a seccomp filter (<see cref="SeccompFilter.ForPlan"/>), built only for a plan that will be used; null where it notifies.</param>
    public static InitPlan? Compile(Spec.Spec spec, NamespacePlan ns, string containerId, int preserveFds, bool noPivot,
        bool noNewKeyring, HostFacts host, IImage image, Func<LinuxSeccomp, SeccompProgram?> filterOf, out string? refusal)
    {
        var entries = spec.Mounts.Select(MountEntry.From).ToList();
        SeccompProgram? filter = null;
        refusal = Refusal(spec, entries, ns, noPivot, host, image) ?? FilterRefusal(spec.Linux?.Seccomp, filterOf, out filter);
        if (refusal is not null) return null;
        var plan = new InitPlan();
        plan.Build(spec, entries, ns, containerId, preserveFds, noNewKeyring, host, image, filter);
        return plan;
    }

    static string? FilterRefusal(LinuxSeccomp? seccomp, Func<LinuxSeccomp, SeccompProgram?> filterOf, out SeccompProgram? filter)
    {
        filter = seccomp is null ? null : filterOf(seccomp);
        return seccomp is not null && filter is null ? "a seccomp filter that notifies an agent" : null;
    }

    /// <summary>Why the plan cannot serve <paramref name="spec"/>; null when it can.</summary>
    static string? Refusal(Spec.Spec spec, List<MountEntry> entries, NamespacePlan ns, bool noPivot, HostFacts host, IImage image)
    {
        var p = spec.Process!;
        var linux = spec.Linux;
        if (!host.Process.HasOpenat2) return "the kernel has no openat2";
        if (ns.HasUserNamespace) return "a user namespace";
        if (ns.JoinsExisting(NamespaceKind.Mount)) return "a joined mount namespace";
        if (p.Terminal) return "a terminal";
        if (spec.Hooks is { } h && (h.Prestart.Count > 0 || h.CreateRuntime.Count > 0 || h.CreateContainer.Count > 0 || h.StartContainer.Count > 0))
            return "hooks that run during create or in the container";
        if (!string.IsNullOrEmpty(p.ApparmorProfile) || !string.IsNullOrEmpty(p.SelinuxLabel) || !string.IsNullOrEmpty(linux?.MountLabel))
            return "LSM labels";
        if (linux?.Personality is not null) return "a personality";
        if (noPivot) return "--no-pivot";
        if (!string.IsNullOrEmpty(linux?.RootfsPropagation)) return "linux.rootfsPropagation";
        if (IdmappedMounts.Plan(spec).Count > 0) return "id-mapped mounts";
        var earlier = new List<MountEntry>();
        foreach (var e in entries)
        {
            if (e.IsBind && e.Type != "cgroup")
            {
                if (!e.Source.StartsWith('/')) return "a bind mount whose source is not an absolute path";
                if (host.BindSourceOf(e.Source) is null) return $"a bind mount whose source is missing ({e.Source})";
                if (!host.HasMountSetattr) return "bind mounts on a kernel without mount_setattr";
            }
            if (earlier.Any(x => x.IsBind && ContainerPath.IsWithin(e.Destination, x.Destination)))
                return "a mount inside a bind mount";
            if (e.TmpCopyUp) return "tmpcopyup";
            if (!e.IsBind && e.Type.Length == 0) return "a mount without a type";
            if (e.Type == "cgroup" && !host.CgroupUnified && (host.InitCgroups is null || !host.HasMountSetattr))
                return "a cgroup mount on a cgroup v1 host (its cgroups or mount_setattr unknown)";
            if (!earlier.Any(x => ContainerPath.IsWithin(e.Destination, x.Destination)))
            {
                // In the image: no symlink on the way (the C refuses to follow one).
                string path = "";
                foreach (var part in ContainerPath.Components(e.Destination))
                {
                    path += "/" + part;
                    if (image.ModeOf(path) is not { } mode) break;
                    if ((mode & S_IFMT) == S_IFLNK) return $"a mount destination through a symlink ({path})";
                }
            }
            else if (e.Type == "tmpfs" && earlier.Any(x => x.Destination == e.Destination || x.Type != "tmpfs" && ContainerPath.IsWithin(e.Destination, x.Destination)))
                return "a tmpfs whose directory's mode is not known before";
            earlier.Add(e);
        }
        return null;
    }

    void Build(Spec.Spec spec, List<MountEntry> entries, NamespacePlan ns, string containerId, int preserveFds, bool noNewKeyring,
        HostFacts host, IImage image, SeccompProgram? filter)
    {
        var p = spec.Process!;
        var linux = spec.Linux;
        EmitSessionStart(containerId, noNewKeyring);

        // RootfsSetup.Prepare (a), (b).
        Emit(Op.Mount, i: [-1], u: [MS_SLAVE | MS_REC], s: [null, "/"], what: "set propagation of /");
        string rootfs = host.RootfsReal;
        if (host.SharedParentMount is { } shared)
            Emit(Op.Mount, i: [-1], u: [MS_PRIVATE], s: [null, shared], what: $"make {shared} private");
        Emit(Op.Mount, i: [-1], u: [MS_BIND | MS_REC], s: [rootfs, rootfs, "bind"], what: $"bind mount rootfs {rootfs}");
        int root = Reg();
        Emit(Op.Open, i: [root, -1], u: [(ulong)(O_PATH | O_DIRECTORY), 0], s: [rootfs], what: $"open {rootfs}");

        // (c) the spec's mounts.
        var mounted = new List<MountEntry>();
        foreach (var e in entries)
        {
            string what = $"mount {(e.IsBind ? e.Source : e.Type)} to {e.Destination}";
            if (e.Type == "cgroup")
            {
                EmitCgroupMount(root, e, linux?.Has(NamespaceKind.Cgroup) == true, host);
                mounted.Add(e);
                continue;
            }
            bool inImage = !mounted.Any(x => ContainerPath.IsWithin(e.Destination, x.Destination));
            uint? existing = inImage ? image.ModeOf(e.Destination) : null;
            if (e.IsBind)
            {
                EmitBind(root, e, host.BindSourceOf(e.Source)!.Value, existing, what);
                mounted.Add(e);
                continue;
            }
            if (MountEntry.CheckProcMount(e.Destination, e.Type == "proc") is { } err) throw new HuskException($"{what}: {err}");
            if (e.Type is "proc" or "sysfs" && existing is { } m && (m & S_IFMT) != S_IFDIR)
                throw new HuskException($"{what}: filesystem \"{e.Type}\" must be mounted on ordinary directory");
            int target = MkdirAll(root, e.Destination, what);
            Emit(Op.Mount, i: [target], u: [e.InitialFlags], s: [e.Source.Length > 0 ? e.Source : e.Type, null, e.Type, NullIfEmpty(e.Data)], what: what);
            Close(target);
            if (e.Type == "tmpfs" && existing is { } mode && (mode & S_IFMT) == S_IFDIR && !e.HasModeOption)
            {
                int rw = Reg();
                Emit(Op.Open, i: [rw, root], u: [(ulong)(O_RDONLY | O_DIRECTORY), StrictResolve], s: [Rel(e.Destination)], what: what);
                Emit(Op.Fchmod, i: [rw], u: [mode & 0xfffu], what: $"{what}: chmod");
                Close(rw);
            }
            bool remount = e.DelayReadonly && e.Readonly && e.Destination != "/dev";
            if (remount || e.Propagation.Count > 0 || e.AttrSet != 0 || e.AttrClear != 0)
            {
                int top = Reg();
                Emit(Op.Open, i: [top, root], u: [(ulong)(O_PATH | O_DIRECTORY), StrictResolve], s: [Rel(e.Destination)], what: what);
                if (remount) Emit(Op.Remount, i: [top], u: [MS_REMOUNT | e.RemountFlags], what: what);
                EmitPropagationAndAttrs(top, e, what);
                Close(top);
            }
            mounted.Add(e);
        }

        // (d) /dev.
        var dev = DevPlan.For(spec, host.HostHasKcore);
        if (dev.Setup)
        {
            foreach (var d in dev.Devices)
            {
                var (parentPath, name) = ContainerPath.Split(d.Path);
                string what = $"create device {d.Path}";
                int dir = MkdirAll(root, parentPath, what);
                Emit(Op.Mknod, i: [0, dir, (int)d.Uid, (int)d.Gid], u: [d.FileTypeBits | d.Mode, Makedev((ulong)d.Major, (ulong)d.Minor)],
                    s: [name, d.Path], what: what);
                Close(dir);
            }
            foreach (var (link, target) in dev.Symlinks) Symlink(root, link, target, replace: false);
            if (dev.Ptmx) Symlink(root, "/dev/ptmx", "pts/ptmx", replace: true);
        }
        Close(root);

        // (f) into the rootfs; the cwd is made before anything turns read-only.
        Emit(Op.Pivot, s: [rootfs]);
        if (p.Cwd != "") Emit(Op.MakeCwd, s: [p.Cwd]);
        // (g) read-only /dev and / last.
        foreach (var e in entries.Where(e => e.Destination == "/dev" && e.DelayReadonly && e.Readonly))
            Emit(Op.Remount, i: [-1], u: [MS_REMOUNT | e.RemountFlags], s: ["/dev"], what: "remount /dev read-only");
        if (spec.Root?.Readonly == true) Emit(Op.ReadonlyRoot);

        // ContainerInit.Run after the rootfs: hostname, sysctl, readonly and masked paths, rlimits.
        bool ownUts = ns.Creates(NamespaceKind.Uts) || ns.JoinsExisting(NamespaceKind.Uts);
        if (ownUts && !string.IsNullOrEmpty(spec.Hostname)) Emit(Op.Hostname, s: [spec.Hostname]);
        if (ownUts && !string.IsNullOrEmpty(spec.Domainname)) Emit(Op.Domainname, s: [spec.Domainname]);
        if (linux is not null)
        {
            foreach (var key in linux.Sysctl.Keys.Order(StringComparer.Ordinal))
                Emit(Op.WriteProc, s: ["sys/" + ProcessSetup.SysctlPath(key), linux.Sysctl[key]], what: $"write sysctl key {key}");
            if (linux.ReadonlyPaths.Count > 0 || linux.MaskedPaths.Count > 0)
            {
                int newRoot = Reg();
                Emit(Op.Open, i: [newRoot, -1], u: [(ulong)(O_PATH | O_DIRECTORY), 0], s: ["/"], what: "open /");
                foreach (var raw in linux.ReadonlyPaths)
                {
                    var path = ContainerPath.Clean(raw);
                    int fd = Target(newRoot, path, "readonly path");
                    Emit(Op.BindReadonly, i: [fd], what: $"make {path} read-only");
                    Close(fd);
                }
                if (linux.MaskedPaths.Count > 0)
                {
                    int devNull = Reg();
                    Emit(Op.Open, i: [devNull, newRoot], u: [(ulong)(O_PATH | O_NOFOLLOW), InRootResolve], s: ["dev/null"], what: "masked paths: open /dev/null");
                    Emit(Op.CheckDevNull, i: [devNull]);
                    foreach (var raw in linux.MaskedPaths)
                    {
                        var path = ContainerPath.Clean(raw);
                        int fd = Target(newRoot, path, "masked path");
                        Emit(Op.Mask, i: [fd, devNull], what: $"mask {path}");
                        Close(fd);
                    }
                    Close(devNull);
                }
                Close(newRoot);
            }
        }
        EmitRlimits(p);
        EmitProgram(p, image);
        Emit(Op.Ready);

        // After `start` (ProcessSteps.BecomeProcess).
        Emit(Op.WaitFifo, i: [InitLauncher.FifoFd(preserveFds)]);
        EmitBecomeProcess(p, host.Process, preserveFds, filter);
    }

    /// <summary>
    /// The plan of `husk exec`'s process (ExecInit's order), or null (with <paramref name="refusal"/>)
    /// where the managed exec init must serve it. nsexec.c has joined the container's namespaces.
    /// </summary>
    public static InitPlan? CompileExec(Process p, LinuxSeccomp? seccomp, IReadOnlyList<(uint Flag, string Path)> joins,
        string containerId, int preserveFds, ProcessFacts facts, IImage image, Func<LinuxSeccomp, SeccompProgram?> filterOf, out string? refusal)
    {
        SeccompProgram? filter = null;
        refusal = !facts.HasOpenat2 ? "the kernel has no openat2"
            : joins.Any(j => j.Flag == NamespaceKinds.CLONE_NEWUSER) ? "a user namespace"
            : p.Terminal ? "a terminal"
            : !string.IsNullOrEmpty(p.ApparmorProfile) || !string.IsNullOrEmpty(p.SelinuxLabel) ? "LSM labels"
            : FilterRefusal(seccomp, filterOf, out filter);
        if (refusal is not null) return null;
        var plan = new InitPlan();
        plan.EmitSessionStart(containerId, noNewKeyring: false);
        plan.EmitRlimits(p);
        plan.EmitProgram(p, image);
        // The channel stays open: errors until execve still reach `exec`, and its end-of-file (close-on-exec) says the program runs.
        plan.Emit(Op.Ready, i: [1]);
        plan.EmitBecomeProcess(p, facts, preserveFds, filter);
        return plan;
    }

    /// <summary>As runc's nsexec and init: lead a session; join a session keyring of the container's own (unless --no-new-keyring).</summary>
    void EmitSessionStart(string containerId, bool noNewKeyring)
    {
        Emit(Op.Setsid);
        if (!noNewKeyring) Emit(Op.Keyring, u: [0x80000 /* KEY_USR_SEARCH: not in a user namespace, ProcessSetup.JoinSessionKeyring */], s: ["_ses." + containerId]);
    }

    void EmitRlimits(Process p)
    {
        foreach (var r in p.Rlimits)
        {
            int resource = r.Resource ?? throw new HuskException($"unknown rlimit type {ProcessSteps.Quote(r.Type)}");
            if (r.Soft > r.Hard)
                throw new HuskException($"error setting rlimit type {r.Type}: soft limit {r.Soft} is above hard limit {r.Hard}");
            Emit(Op.Rlimit, i: [resource], u: [r.Soft, r.Hard], what: $"error setting rlimit type {r.Type}");
        }
    }

    /// <summary>
    /// The program: its arguments, environment (HOME from the image's /etc/passwd, as the managed init)
    /// and cwd; looked up at once so that create or exec fails, not later, when it is missing (as runc).
    /// </summary>
    void EmitProgram(Process p, IImage image)
    {
        if (p.Args.Count == 0) throw new HuskException("args must not be empty");
        foreach (var a in p.Args) Emit(Op.Arg, s: [a]);
        var env = ProcessSetup.EnvironmentWithHome(p.Env, () => ProcessSetup.HomeOf(p.User.UID, image.Passwd()));
        foreach (var v in env) Emit(Op.Env, s: [v]);
        if (p.Cwd != "") Emit(Op.Cwd, s: [p.Cwd]);
        Emit(Op.LookPath);
    }

    /// <summary>
    /// ProcessSteps.BecomeProcess without LSM labels (refused): stdio, the seccomp filter where loading
    /// it needs CAP_SYS_ADMIN (no no_new_privs), user and capabilities, no_new_privs, umask, execve
    /// (the filter, with no_new_privs, right before it: the Exec operation loads it).
    /// </summary>
    void EmitBecomeProcess(Process p, ProcessFacts facts, int preserveFds, SeccompProgram? filter)
    {
        Emit(Op.FixStdio, i: [(int)p.User.UID]);
        if (filter is not null && !p.NoNewPrivileges) EmitSeccomp(filter, atExec: false);
        var masks = ProcessSetup.ComputeMasks(p.Capabilities, facts.LastCap);
        ulong missing = masks.Permitted & ~facts.PermittedCaps;
        if (missing != 0)
            throw new HuskException($"apply capabilities: {string.Join(", ", Husk.Spec.Capabilities.Names(missing))} not in the runtime's permitted set (the host's bounding set lacks it)");
        foreach (var g in p.User.AdditionalGids) Emit(Op.Group, i: [(int)g]);
        Emit(Op.User, i: [(int)p.User.UID, (int)p.User.GID, facts.LastCap],
            u: [masks.Bounding, masks.Effective, masks.Permitted, masks.Inheritable, masks.Ambient]);
        if (p.NoNewPrivileges) Emit(Op.NoNewPrivs);
        Emit(Op.Umask, u: [(p.User.Umask ?? 0x12) & 0x1ff]);
        if (filter is not null && p.NoNewPrivileges) EmitSeccomp(filter, atExec: true);
        Emit(Op.Exec, i: [3 + Math.Max(0, preserveFds)]);
    }

    /// <summary>
    /// The filter loaded now, or (<paramref name="atExec"/>) handed to the next Exec, which loads it once
    /// the program's path is found; with SeccompFilter's error texts, and the line ProcessSteps.ExecVe
    /// writes when execve fails under the filter (around the path, which plan.c quotes).
    /// </summary>
    void EmitSeccomp(SeccompProgram filter, bool atExec) =>
        Emit(Op.Seccomp, i: [filter.Instructions.Length, atExec ? 1 : 0], u: [filter.Flags],
            s: [null, SeccompFilter.LoadNeedsCapSysAdmin, ProcessSteps.FilteredExecFailure + "\"", "\"" + ProcessSteps.FilteredExecFailureAfterPath],
            what: SeccompFilter.LoadFailure, blob: filter.Bytes);

    /// <summary>
    /// A bind mount as RootfsSetup.MountBind makes it: the destination a directory or a file, like the
    /// source; the source cloned (recursively for rbind) with its flags set while detached
    /// (mount_setattr), attached, then given its propagation. <paramref name="existing"/>: the
    /// destination's mode in the image, when it is there.
    /// </summary>
    void EmitBind(int root, MountEntry e, BindSource source, uint? existing, string what)
    {
        if (MountEntry.CheckProcMount(e.Destination, source.IsProcfs) is { } err) throw new HuskException($"{what}: {err}");
        int dst;
        if (source.IsDirectory) dst = MkdirAll(root, e.Destination, what);
        else if (existing is { } mode && (mode & S_IFMT) != S_IFREG)
        {
            // Not opened for reading: a device or fifo of the image stays untouched (the attach then fails on a directory).
            dst = Reg();
            Emit(Op.Open, i: [dst, root], u: [(ulong)O_PATH, StrictResolve], s: [Rel(e.Destination)], what: what);
        }
        else
        {
            // As SafeRoot.CreateFile: parents 0755, the file 0644; O_NONBLOCK|O_NOCTTY harmless should a fifo or tty appear.
            var (parentPath, name) = ContainerPath.Split(e.Destination);
            int dir = MkdirAll(root, parentPath, what);
            dst = Reg();
            Emit(Op.Open, i: [dst, dir], u: [(ulong)(O_CREAT | O_RDONLY | O_NONBLOCK | O_NOCTTY), StrictResolve, 0x1a4], s: [name], what: what);
            Close(dir);
        }
        var (set, clear) = e.BindAttributes;
        int tree = e.Propagation.Count > 0 ? Reg() : -1;
        Emit(Op.Bind, i: [dst, (e.Flags & MS_REC) != 0 ? 1 : 0, source.IsDirectory ? 1 : 2, tree], u: [set, clear, e.AttrSet, e.AttrClear],
            s: [e.Source], what: what);
        Close(dst);
        if (tree < 0) return;
        foreach (var prop in e.Propagation) Emit(Op.Mount, i: [tree], u: [prop], what: $"{what}: set propagation");
        Close(tree);
    }

    /// <summary>A "cgroup" spec mount as RootfsSetup.MountCgroup makes it (see <see cref="CgroupMounts"/>).</summary>
    void EmitCgroupMount(int root, MountEntry e, bool cgroupNs, HostFacts host)
    {
        string what = $"mount cgroup to {e.Destination}";
        const ulong restrict = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        ulong flags = (e.Flags & restrict) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        if (host.CgroupUnified)
        {
            int dir = MkdirAll(root, e.Destination, what);
            Emit(Op.Mount, i: [dir], u: [flags], s: ["cgroup2", null, "cgroup2", NullIfEmpty(e.Data)], what: what);
            Close(dir);
            return;
        }
        // v1 or hybrid: a tmpfs holding one directory per hierarchy, writable until the end.
        int tmpfs = MkdirAll(root, e.Destination, what);
        Emit(Op.Mount, i: [tmpfs], u: [flags & ~MS_RDONLY], s: ["tmpfs", null, "tmpfs", "mode=755"], what: $"mount tmpfs to {e.Destination}");
        Close(tmpfs);
        int top = Reg();
        Emit(Op.Open, i: [top, root], u: [(ulong)(O_PATH | O_DIRECTORY), StrictResolve], s: [Rel(e.Destination)], what: what);
        foreach (var h in CgroupMounts.PlanV1(host.Mounts, host.InitCgroups!))
        {
            string dest = ContainerPath.Join(e.Destination, h.Name);
            int dir = MkdirAll(root, dest, what);
            if (cgroupNs)
                Emit(Op.Mount, i: [dir], u: [flags], s: [h.FsType, null, h.FsType, NullIfEmpty(h.Data)], what: $"mount {h.FsType} to {dest}");
            else
            {
                var bind = new MountEntry(dest, "bind", h.HostSource, flags | MS_BIND | MS_REC, 0, [], "", 0, 0, false);
                var (set, clear) = bind.BindAttributes;
                Emit(Op.Bind, i: [dir, 1, 0, -1], u: [set, clear], s: [h.HostSource], what: $"mount {h.HostSource} to {dest}");
            }
            Close(dir);
            foreach (var alias in h.Aliases) Emit(Op.Symlink, i: [0, top, 0], s: [alias, h.Name], what: $"{what}: symlink {alias}");
        }
        if ((e.Flags & MS_RDONLY) != 0) Emit(Op.Remount, i: [top], u: [MS_REMOUNT | flags], what: what);
        EmitPropagationAndAttrs(top, e, what);
        Close(top);
    }

    /// <summary>Propagation options one by one, then the recursive attributes (as RootfsSetup.ApplyPropagationAndAttrs).</summary>
    void EmitPropagationAndAttrs(int mount, MountEntry e, string what)
    {
        foreach (var prop in e.Propagation) Emit(Op.Mount, i: [mount], u: [prop], what: $"{what}: set propagation");
        if (e.AttrSet != 0 || e.AttrClear != 0)
            Emit(Op.Setattr, i: [mount, 1], u: [e.AttrSet, e.AttrClear], what: $"{what}: set recursive mount attributes");
    }

    /// <summary>An O_PATH fd of the directory at <paramref name="path"/>, made with its parents (0755) where missing.</summary>
    int MkdirAll(int root, string path, string what)
    {
        int reg = Reg();
        Emit(Op.MkdirAll, i: [reg, root], u: [0x1ed, StrictResolve], s: [Rel(path)], what: what);
        return reg;
    }

    void Symlink(int root, string link, string target, bool replace)
    {
        var (parentPath, name) = ContainerPath.Split(link);
        string what = $"symlink {link} -> {target}";
        int dir = MkdirAll(root, parentPath, what);
        Emit(Op.Symlink, i: [0, dir, replace ? 1 : 0], s: [name, target], what: what);
        Close(dir);
    }

    /// <summary>A readonly or masked path: absent is skipped, a symlink refused (as RootfsSetup.OpenTarget).</summary>
    int Target(int root, string path, string kind)
    {
        int reg = Reg();
        Emit(Op.Open, i: [reg, root, 1], u: [(ulong)(O_PATH | O_NOFOLLOW), InRootResolve], s: [Rel(path)], what: $"{kind} {path}");
        Emit(Op.NotSymlink, i: [reg], what: $"{kind} {path}");
        return reg;
    }

    static string Rel(string containerPath)
    {
        var clean = ContainerPath.Clean(containerPath);
        return clean == "/" ? "." : clean[1..];
    }

    static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    /// <summary>
    /// The image as the host sees it under a root directory (a rootfs, or /proc/PID/root of a running
    /// container): lookups inside it (RESOLVE_IN_ROOT), never following a symlink at the end.
    /// </summary>
    public sealed class RootfsImage(string root) : IImage, IDisposable
    {
        readonly Dictionary<string, uint?> _modes = new(StringComparer.Ordinal);
        OwnedFd? _root;

        int Root()
        {
            var kernel = LinuxKernel.Instance;
            _root ??= kernel.Owned(kernel.OpenAt2(AT_FDCWD, root, (ulong)(O_PATH | O_DIRECTORY | O_CLOEXEC), 0, 0), $"open {root}");
            return _root.Fd;
        }

        public uint? ModeOf(string path)
        {
            if (_modes.TryGetValue(path, out var known)) return known;
            var kernel = LinuxKernel.Instance;
            uint? mode = null;
            int target = kernel.OpenAt2(Root(), Rel(path), (ulong)(O_PATH | O_NOFOLLOW | O_CLOEXEC), 0, InRootResolve);
            if (target >= 0)
            {
                using var t = new OwnedFd(kernel, target);
                if (kernel.StatxAt(t.Fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, out var st) == 0) mode = st.Mode;
            }
            return _modes[path] = mode;
        }

        public string? Passwd()
        {
            var kernel = LinuxKernel.Instance;
            // Non-blocking: a fifo or device placed at /etc/passwd must not hang create.
            int file = kernel.OpenAt2(Root(), "etc/passwd", (ulong)(O_RDONLY | O_NONBLOCK | O_CLOEXEC), 0, InRootResolve);
            if (file < 0) return null;
            using var f = new OwnedFd(kernel, file);
            try { return Encoding.UTF8.GetString(SmallFile.ReadFd(f.Fd, 1 << 20, "/etc/passwd")); }
            catch (HuskException) { return null; }
        }

        public void Dispose() => _root?.Dispose();
    }
}
