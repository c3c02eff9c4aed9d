using System.Buffers.Binary;
using System.Text;
using Husk.Container;
using Husk.Container.Launch;
using Husk.Rootfs;
using Husk.Seccomp;
using Husk.Spec;
using OciSpec = Husk.Spec.Spec;
using Xunit;
using static Husk.Linux.Native;

namespace Husk.Tests.Container;

/// <summary>
/// The init plan (native/plan.c's operations) compiled from specs, without root: what it does for
/// `husk spec`'s default, where it refuses and leaves the container to the managed init, and its
/// wire format. The e2e suite runs the plans (every default bundle in the cgroup v2 view).
/// </summary>
public class InitPlanTests
{
    const uint Dir = S_IFDIR | 0x1ed;

    sealed class FakeImage(Dictionary<string, uint> modes, string? passwd = null) : InitPlan.IImage
    {
        public uint? ModeOf(string path) => modes.TryGetValue(path, out var m) ? m : null;
        public string? Passwd() => passwd;
    }

    static readonly InitPlan.ProcessFacts Facts = new(LastCap: 40, PermittedCaps: ~0UL, HasOpenat2: true);

    static readonly InitPlan.HostFacts Host = new(Facts, "/b/rootfs", null, CgroupUnified: true, HostHasKcore: false)
    {
        HasMountSetattr = true,
        BindSourceOf = path => path switch
        {
            "/srv/data" => new InitPlan.BindSource(IsDirectory: true, IsProcfs: false),
            "/srv/hosts" => new InitPlan.BindSource(IsDirectory: false, IsProcfs: false),
            "/proc/self/fd" => new InitPlan.BindSource(IsDirectory: true, IsProcfs: true),
            _ => null,
        },
    };

    /// <summary>Stands in for libseccomp (SeccompFilter.ForPlan): one instruction (RET ALLOW), flags 4 (SPEC_ALLOW); null where a rule notifies.</summary>
    static SeccompProgram? Filter(LinuxSeccomp s) =>
        s.Syscalls.Any(x => x.Action == "SCMP_ACT_NOTIFY") ? null : new SeccompProgram([new(0x06, 0, 0, 0x7fff0000)], 4);

    static FakeImage Busybox(string? passwd = "root:x:0:0:root:/root:/bin/sh\n") => new(new()
    {
        ["/proc"] = Dir, ["/dev"] = Dir, ["/sys"] = Dir, ["/tmp"] = S_IFDIR | 0x3ff, ["/etc"] = Dir,
    }, passwd);

    /// <summary>`husk spec`'s default, as bundles use it: without a terminal.</summary>
    static OciSpec Default()
    {
        var spec = DefaultSpec.Create(rootless: false);
        spec.Process!.Terminal = false;
        return spec;
    }

    static InitPlan Compile(OciSpec spec, InitPlan.IImage? image = null, InitPlan.HostFacts? host = null, int preserveFds = 0)
    {
        var plan = InitPlan.Compile(spec, NamespacePlan.From(spec), "c1", preserveFds, noPivot: false, noNewKeyring: false,
            host ?? Host, image ?? Busybox(), Filter, out var refusal);
        Assert.True(plan is not null, $"refused: {refusal}");
        return plan!;
    }

    static string? Refusal(OciSpec spec, InitPlan.IImage? image = null, InitPlan.HostFacts? host = null, bool noPivot = false)
    {
        var plan = InitPlan.Compile(spec, NamespacePlan.From(spec), "c1", 0, noPivot, noNewKeyring: false, host ?? Host, image ?? Busybox(), Filter, out var refusal);
        Assert.Null(plan);
        return refusal;
    }

    static int IndexOf(InitPlan plan, string prefix)
    {
        for (int i = 0; i < plan.Listing.Count; i++) if (plan.Listing[i].StartsWith(prefix, StringComparison.Ordinal)) return i;
        Assert.Fail($"no operation starting with \"{prefix}\" in:\n{string.Join('\n', plan.Listing)}");
        return -1;
    }

    [Fact]
    public void Default_spec_runs_in_the_managed_inits_order()
    {
        var plan = Compile(Default());
        int[] order =
        [
            IndexOf(plan, "Setsid"), IndexOf(plan, "Keyring"), IndexOf(plan, "Mount i=-1 u=0x84000 s=-|/"),
            IndexOf(plan, "Mount i=-1 u=0x5000 s=/b/rootfs|/b/rootfs|bind"), IndexOf(plan, "MkdirAll i=1,0 u=0x1ed,0x16 s=proc"),
            IndexOf(plan, "Mknod"), IndexOf(plan, "Symlink"), IndexOf(plan, "Pivot s=/b/rootfs"), IndexOf(plan, "ReadonlyRoot"),
            IndexOf(plan, "Hostname"), IndexOf(plan, "BindReadonly"), IndexOf(plan, "CheckDevNull"), IndexOf(plan, "Mask"),
            IndexOf(plan, "Rlimit i=7"), IndexOf(plan, "Arg s=sh"), IndexOf(plan, "LookPath"), IndexOf(plan, "Ready"),
            IndexOf(plan, "WaitFifo i=4"), IndexOf(plan, "FixStdio"), IndexOf(plan, "User i=0,0,40"), IndexOf(plan, "NoNewPrivs"),
            IndexOf(plan, "Umask u=0x12"), IndexOf(plan, "Exec i=3"),
        ];
        Assert.Equal(order.Order(), order);
        Assert.Equal("Exec i=3", plan.Listing[^1]);
    }

    [Fact]
    public void Tmpfs_over_an_image_directory_keeps_its_mode_unless_mode_is_given()
    {
        var spec = Default();
        spec.Mounts.Add(new Mount { Destination = "/tmp", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid"] });
        spec.Mounts.Add(new Mount { Destination = "/etc", Type = "tmpfs", Source = "tmpfs", Options = ["mode=700"] });
        var plan = Compile(spec);
        Assert.Contains("Fchmod i=1 u=0x3ff", plan.Listing);
        Assert.Single(plan.Listing, l => l.StartsWith("Fchmod", StringComparison.Ordinal));
    }

    [Fact]
    public void Environment_gets_home_from_the_images_passwd_unless_set()
    {
        var spec = Default();
        spec.Process!.User = new User { UID = 1000, GID = 1000, AdditionalGids = [5, 7] };
        var plan = Compile(spec, Busybox("root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n"));
        Assert.Contains("Env s=HOME=/home/u", plan.Listing);
        Assert.Contains("Group i=5", plan.Listing);
        Assert.Contains("Group i=7", plan.Listing);
        Assert.Contains(plan.Listing, l => l.StartsWith("User i=1000,1000,40", StringComparison.Ordinal));
        Assert.Contains("Env s=HOME=/", Compile(spec, Busybox(passwd: null)).Listing);
        spec.Process.Env.Add("HOME=/x");
        Assert.DoesNotContain(Compile(spec).Listing, l => l.StartsWith("Env s=HOME=/h", StringComparison.Ordinal) || l == "Env s=HOME=/");
    }

    [Fact]
    public void Preserved_fds_move_the_fifo_and_the_first_fd_closed_on_exec()
    {
        var plan = Compile(Default(), preserveFds: 2);
        Assert.Contains("WaitFifo i=6", plan.Listing);
        Assert.Equal("Exec i=5", plan.Listing[^1]);
        Assert.Equal(6, InitLauncher.FifoFd(2));
    }

    [Fact]
    public void An_exec_plan_keeps_the_channel_and_has_no_rootfs_or_fifo()
    {
        var p = Default().Process!;
        p.Args = ["sh", "-c", "true"];
        var plan = InitPlan.CompileExec(p, null, [], "c1", 0, Facts, Busybox(), Filter, out var refusal);
        Assert.Null(refusal);
        Assert.Equal(["Setsid", "Keyring u=0x80000 s=_ses.c1", "Rlimit i=7 u=0x400,0x400", "Arg s=sh", "Arg s=-c", "Arg s=true"],
            plan!.Listing.Take(6));
        Assert.Contains("Ready i=1", plan.Listing);
        Assert.DoesNotContain(plan.Listing, l => l.StartsWith("Mount", StringComparison.Ordinal) || l.StartsWith("WaitFifo", StringComparison.Ordinal));
        Assert.Equal("Exec i=3", plan.Listing[^1]);
        Assert.Null(InitPlan.CompileExec(p, Notifying(), [], "c1", 0, Facts, Busybox(), Filter, out refusal));
        Assert.Equal("a seccomp filter that notifies an agent", refusal);
        var filtered = InitPlan.CompileExec(p, new LinuxSeccomp { DefaultAction = "SCMP_ACT_ALLOW" }, [], "c1", 0, Facts, Busybox(), Filter, out refusal);
        Assert.Equal(["Umask u=0x12", "Seccomp i=1,1 u=0x4 blob=8 s=-| (without no_new_privs it needs CAP_SYS_ADMIN)|husk: exec \"|\" failed (denied by the seccomp filter?): errno ", "Exec i=3"], filtered!.Listing.TakeLast(3));
        p.Terminal = true;
        Assert.Null(InitPlan.CompileExec(p, null, [], "c1", 0, Facts, Busybox(), Filter, out refusal));
        Assert.Equal("a terminal", refusal);
    }

    public static TheoryData<string, Action<OciSpec>> Refused => new()
    {
        { "a terminal", s => s.Process!.Terminal = true },
        { "a user namespace", s => s.Linux!.Namespaces.Add(new LinuxNamespace { Type = "user" }) },
        { "a seccomp filter that notifies an agent", s => s.Linux!.Seccomp = Notifying() },
        { "a bind mount whose source is missing (/nonexistent)", s => s.Mounts.Add(Bind("/nonexistent", "/data")) },
        { "a bind mount whose source is not an absolute path", s => s.Mounts.Add(Bind("data", "/data")) },
        { "id-mapped mounts", s => s.Mounts.Add(new Mount { Destination = "/data", Type = "bind", Source = "/srv/data", Options = ["rbind", "idmap"],
            UIDMappings = [new LinuxIDMapping { ContainerID = 0, HostID = 1000, Size = 1 }], GIDMappings = [new LinuxIDMapping { ContainerID = 0, HostID = 1000, Size = 1 }] }) },
        { "a mount inside a bind mount", s => s.Mounts.AddRange([Bind("/srv/data", "/data"), new Mount { Destination = "/data/tmp", Type = "tmpfs", Source = "tmpfs" }]) },
        { "hooks that run during create or in the container", s => s.Hooks = new Hooks { StartContainer = [new Hook { Path = "/bin/true" }] } },
        { "LSM labels", s => s.Process!.ApparmorProfile = "p" },
        { "a personality", s => s.Linux!.Personality = new LinuxPersonality { Domain = "LINUX32" } },
        { "linux.rootfsPropagation", s => s.Linux!.RootfsPropagation = "shared" },
    };

    static Mount Bind(string source, string destination, params string[] options) =>
        new() { Destination = destination, Type = "bind", Source = source, Options = ["rbind", .. options] };

    static LinuxSeccomp Notifying() => new()
    {
        DefaultAction = "SCMP_ACT_ALLOW", ListenerPath = "/run/agent.sock",
        Syscalls = [new LinuxSyscall { Names = ["mkdir"], Action = "SCMP_ACT_NOTIFY" }],
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Leaves_to_the_managed_init(string reason, Action<OciSpec> change)
    {
        var spec = Default();
        change(spec);
        Assert.Equal(reason, Refusal(spec));
    }

    [Fact]
    public void Refuses_a_mount_destination_through_a_symlink_of_the_image_and_v1_cgroup_mounts()
    {
        var spec = Default();
        var image = new FakeImage(new() { ["/proc"] = Dir, ["/dev"] = Dir, ["/sys"] = S_IFLNK | 0x1ff });
        Assert.Equal("a mount destination through a symlink (/sys)", Refusal(spec, image));
        Assert.Equal("a cgroup mount on a cgroup v1 host (its cgroups or mount_setattr unknown)", Refusal(spec, host: Host with { CgroupUnified = false }));
        Assert.Equal("the kernel has no openat2", Refusal(spec, host: Host with { Process = Facts with { HasOpenat2 = false } }));
        spec.Mounts.Add(Bind("/srv/data", "/data"));
        Assert.Equal("bind mounts on a kernel without mount_setattr", Refusal(spec, host: Host with { HasMountSetattr = false }));
        Assert.Equal("--no-pivot", Refusal(spec, noPivot: true));
    }

    static readonly MountInfoEntry[] HybridMounts =
    [
        new("/", "/sys/fs/cgroup", "", "tmpfs", "tmpfs", "rw"),
        new("/", "/sys/fs/cgroup/cpu,cpuacct", "", "cgroup", "cgroup", "rw,cpu,cpuacct"),
        new("/", "/sys/fs/cgroup/memory", "", "cgroup", "cgroup", "rw,memory"),
        new("/", "/sys/fs/cgroup/unified", "", "cgroup2", "cgroup2", "rw"),
    ];

    [Fact]
    public void The_inits_cgroups_are_the_placements_directories_in_each_hierarchy()
    {
        var own = InitPlan.OwnCgroups("2:memory:/user.slice\n1:cpu,cpuacct:/user.slice\n0::/user.slice\n", HybridMounts,
            ["/sys/fs/cgroup/memory/husk/c1", "/sys/fs/cgroup/cpu,cpuacct/husk/c1"]);
        Assert.Equal([("memory", "/husk/c1"), ("cpu,cpuacct", "/husk/c1"), ("", "/user.slice")], own);
    }

    [Fact]
    public void A_cgroup_v1_mount_is_a_tmpfs_with_a_bind_per_hierarchy_and_the_aliases()
    {
        var host = Host with
        {
            CgroupUnified = false, HasMountSetattr = true, Mounts = HybridMounts,
            InitCgroups = [("memory", "/husk/c1"), ("cpu,cpuacct", "/husk/c1"), ("", "/husk/c1")],
        };
        var plan = Compile(Default(), host: host);
        int tmpfs = IndexOf(plan, "Mount i=1 u=0xe s=tmpfs|-|tmpfs|mode=755");
        int memory = IndexOf(plan, "Bind i=2,1,0,-1 u=0xf,0x0 s=/sys/fs/cgroup/memory/husk/c1");
        Assert.Contains("Symlink i=0,1,0 s=cpu|cpu,cpuacct", plan.Listing);
        Assert.Contains("Symlink i=0,1,0 s=cpuacct|cpu,cpuacct", plan.Listing);
        Assert.Contains("Bind i=2,1,0,-1 u=0xf,0x0 s=/sys/fs/cgroup/unified/husk/c1", plan.Listing);
        int remount = IndexOf(plan, "Remount i=1 u=0x2f");
        Assert.True(tmpfs < memory && memory < remount);
    }

    [Fact]
    public void A_seccomp_filter_needing_CAP_SYS_ADMIN_is_loaded_before_the_capabilities_go_else_at_exec()
    {
        var spec = Default();
        spec.Linux!.Seccomp = new LinuxSeccomp { DefaultAction = "SCMP_ACT_ALLOW" };
        spec.Process!.NoNewPrivileges = false;
        var plan = Compile(spec);
        int filter = IndexOf(plan, "Seccomp i=1,0 u=0x4 blob=8");
        Assert.True(IndexOf(plan, "FixStdio") < filter && filter < IndexOf(plan, "User "));
        // With no_new_privs the op hands the filter to Exec, which loads it after the path lookup.
        spec.Process.NoNewPrivileges = true;
        plan = Compile(spec);
        Assert.Equal(plan.Listing.Count - 2, IndexOf(plan, "Seccomp i=1,1 u=0x4 blob=8"));
        // On the wire the program is the first string's bytes, its NUL after them.
        var bytes = plan.Bytes;
        var program = new byte[] { 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f, 0 };
        Assert.True(bytes.AsSpan().IndexOf(program) > 0);
    }

    [Fact]
    public void A_bind_mount_makes_its_destination_like_its_source_and_attaches_a_clone_with_its_flags()
    {
        var spec = Default();
        spec.Mounts.Add(Bind("/srv/data", "/data", "ro", "rslave"));
        spec.Mounts.Add(new Mount { Destination = "/etc/hosts", Type = "bind", Source = "/srv/hosts", Options = ["bind", "nosuid"] });
        var plan = Compile(spec);
        // A directory: made with its parents, the recursive clone read-only (MOUNT_ATTR_RDONLY), then rslave through the clone's fd.
        int dir = IndexOf(plan, "MkdirAll i=1,0 u=0x1ed,0x16 s=data");
        int bind = IndexOf(plan, "Bind i=1,1,1,2 u=0x1,0x0,0x0,0x0 s=/srv/data");
        Assert.Equal($"Mount i=2 u=0x{MS_SLAVE | MS_REC:x}", plan.Listing[bind + 2]);
        Assert.True(dir < bind);
        // A file: its parent made, the file created 0644 (O_CREAT|O_NONBLOCK|O_NOCTTY), not recursive, nosuid.
        ulong create = (ulong)(O_CREAT | O_RDONLY | O_NONBLOCK | O_NOCTTY);
        int file = IndexOf(plan, $"Open i=1,2 u=0x{create:x},0x16,0x1a4 s=hosts");
        Assert.True(IndexOf(plan, "MkdirAll i=2,0 u=0x1ed,0x16 s=etc") < file && file < IndexOf(plan, "Bind i=1,0,2,-1 u=0x2,0x0,0x0,0x0 s=/srv/hosts"));

        // Only a procfs may cover /proc (the source's file system, as the host has it).
        var proc = Default();
        proc.Mounts.Add(Bind("/srv/data", "/proc"));
        var e = Assert.Throws<HuskException>(() => Compile(proc));
        Assert.Equal("mount /srv/data to /proc: /proc cannot be mounted because it is not of type proc", e.Message);
        var procfs = Default();
        procfs.Mounts.Add(Bind("/proc/self/fd", "/proc"));
        Assert.Contains(Compile(procfs).Listing, l => l.EndsWith("s=/proc/self/fd", StringComparison.Ordinal));
    }

    [Fact]
    public void Fails_as_the_managed_init_would()
    {
        var spec = Default();
        spec.Process!.Rlimits = [new POSIXRlimit { Type = "RLIMIT_NOFILE", Soft = 10, Hard = 5 }];
        var e = Assert.Throws<HuskException>(() => Compile(spec));
        Assert.Equal("error setting rlimit type RLIMIT_NOFILE: soft limit 10 is above hard limit 5", e.Message);

        var onFile = Default();
        var image = new FakeImage(new() { ["/proc"] = S_IFREG | 0x1a4, ["/dev"] = Dir, ["/sys"] = Dir });
        e = Assert.Throws<HuskException>(() => Compile(onFile, image));
        Assert.Equal("mount proc to /proc: filesystem \"proc\" must be mounted on ordinary directory", e.Message);
    }

    [Fact]
    public void Operations_are_fixed_fields_then_five_nul_terminated_strings()
    {
        var spec = Default();
        var bytes = Compile(spec).Bytes;
        // The first operation: Setsid, no arguments, five absent strings.
        Assert.Equal((uint)InitPlan.Op.Setsid, BinaryPrimitives.ReadUInt32LittleEndian(bytes));
        Assert.All(Enumerable.Range(0, 5), k => Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(60 + 4 * k))));
        // The second: Keyring, u[0] = KEY_USR_SEARCH, s[0] = "_ses.c1\0".
        var op = bytes.AsSpan(80);
        Assert.Equal((uint)InitPlan.Op.Keyring, BinaryPrimitives.ReadUInt32LittleEndian(op));
        Assert.Equal(0x80000UL, BinaryPrimitives.ReadUInt64LittleEndian(op[20..]));
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32LittleEndian(op[60..]));
        Assert.Equal("_ses.c1\0", Encoding.UTF8.GetString(op.Slice(64, 8)));
    }
}
