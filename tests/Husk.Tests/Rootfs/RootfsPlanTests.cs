using Husk.Rootfs;
using Husk.Spec;
using Xunit;
using static Husk.Spec.MountOptions;
using OciSpec = Husk.Spec.Spec;

namespace Husk.Tests.Rootfs;

public class ContainerPathTests
{
    [Theory]
    [InlineData("/a/b", "/a/b")]
    [InlineData("a//b/./c/", "/a/b/c")]
    [InlineData("/../../etc/passwd", "/etc/passwd")]
    [InlineData("/dev/../../../proc", "/proc")]
    [InlineData("", "/")]
    [InlineData("/..", "/")]
    public void Clean_NeverClimbsAboveRoot(string input, string expected) =>
        Assert.Equal(expected, ContainerPath.Clean(input));

    [Fact]
    public void Join_CannotEscapeTheBase_Root() =>
        Assert.Equal("/etc", ContainerPath.Join("/", "../../../etc"));

    [Theory]
    [InlineData("/dev/null", "/dev", true)]
    [InlineData("/dev", "/dev", true)]
    [InlineData("/devil", "/dev", false)]
    [InlineData("/dev/../etc", "/dev", false)]
    [InlineData("/anything", "/", true)]
    public void IsWithin(string path, string dir, bool expected) =>
        Assert.Equal(expected, ContainerPath.IsWithin(path, dir));

    [Theory]
    [InlineData("/sys/fs/cgroup/cpu/husk", "/sys/fs/cgroup/cpu", true)]
    [InlineData("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu", false)]
    [InlineData("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu", false)]
    public void IsBelow_is_strict_and_takes_the_whole_last_name(string path, string dir, bool expected) =>
        Assert.Equal(expected, ContainerPath.IsBelow(path, dir));

    [Fact]
    public void Split_ParentAndName()
    {
        Assert.Equal(("/dev", "null"), ContainerPath.Split("/dev/null"));
        Assert.Equal(("/", "etc"), ContainerPath.Split("/etc"));
    }

    [Theory]
    [InlineData("/var/lib/c/rootfs/etc/x", "/var/lib/c/rootfs", "/etc/x")]
    [InlineData("/var/lib/c/rootfs", "/var/lib/c/rootfs", "/")]
    [InlineData("/var/lib/c/rootfs2/x", "/var/lib/c/rootfs", null)]
    [InlineData("/etc/shadow", "/var/lib/c/rootfs", null)]
    [InlineData("/etc/x", "/", "/etc/x")]
    public void RelativeToRoot(string host, string root, string? expected) =>
        Assert.Equal(expected, ContainerPath.RelativeToRoot(host, root));
}

public class DevPlanTests
{
    static OciSpec SpecWith(IEnumerable<Mount>? mounts = null, IEnumerable<LinuxDevice>? devices = null) => new()
    {
        Mounts = (mounts ?? []).ToList(),
        Linux = new Husk.Spec.Linux { Devices = (devices ?? []).ToList() },
    };

    static Mount M(string dest, string type, string source, params string[] options) =>
        new() { Destination = dest, Type = type, Source = source, Options = options.ToList() };

    [Fact]
    public void DefaultDevices_AreTheSixStandardNodes()
    {
        var d = DevPlan.DefaultDevices.ToDictionary(n => n.Path, n => (n.Type, n.Major, n.Minor, n.Mode));
        Assert.Equal(6, d.Count);
        Assert.Equal(('c', 1L, 3L, 0x1b6u), d["/dev/null"]);
        Assert.Equal(('c', 1L, 5L, 0x1b6u), d["/dev/zero"]);
        Assert.Equal(('c', 1L, 7L, 0x1b6u), d["/dev/full"]);
        Assert.Equal(('c', 1L, 8L, 0x1b6u), d["/dev/random"]);
        Assert.Equal(('c', 1L, 9L, 0x1b6u), d["/dev/urandom"]);
        Assert.Equal(('c', 5L, 0L, 0x1b6u), d["/dev/tty"]);
    }

    [Fact]
    public void NoSpec_Devices_GivesDefaults_AndSymlinks()
    {
        var plan = DevPlan.For(SpecWith([M("/dev", "tmpfs", "tmpfs")]), hostHasKcore: false);
        Assert.True(plan.Setup);
        Assert.Equal(6, plan.Devices.Count);
        Assert.Contains(("/dev/fd", "/proc/self/fd"), plan.Symlinks);
        Assert.Contains(("/dev/stdin", "/proc/self/fd/0"), plan.Symlinks);
        Assert.Contains(("/dev/stdout", "/proc/self/fd/1"), plan.Symlinks);
        Assert.Contains(("/dev/stderr", "/proc/self/fd/2"), plan.Symlinks);
        Assert.DoesNotContain(plan.Symlinks, l => l.Link == "/dev/core");
        Assert.False(plan.Ptmx);
    }

    [Fact]
    public void Kcore_GivesDevCore_AndDevPts_GivesPtmx()
    {
        var plan = DevPlan.For(SpecWith([M("/dev/pts", "devpts", "devpts")]), hostHasKcore: true);
        Assert.Contains(("/dev/core", "/proc/kcore"), plan.Symlinks);
        Assert.True(plan.Ptmx);
    }

    [Fact]
    public void NullLinux_IsLikeEmpty()
    {
        var plan = DevPlan.For(new OciSpec(), hostHasKcore: false);
        Assert.True(plan.Setup);
        Assert.Equal(6, plan.Devices.Count);
    }

    [Theory]
    [InlineData("bind", "rbind")]
    [InlineData("none", "bind")]
    [InlineData("bind")]
    public void HostDevBindMount_MeansNothingToCreate(string type, params string[] options)
    {
        var plan = DevPlan.For(SpecWith([M("/dev/", type, "/dev", options)]), hostHasKcore: true);
        Assert.False(plan.Setup);
        Assert.Empty(plan.Devices);
        Assert.Empty(plan.Symlinks);
    }

    [Fact]
    public void SpecDevice_ReplacesDefaultOfSamePath_AndAddsNew()
    {
        var plan = DevPlan.For(SpecWith(devices:
        [
            new LinuxDevice { Path = "/dev/null", Type = "c", Major = 1, Minor = 3, FileMode = 0x180, UID = 5, GID = 6 },
            new LinuxDevice { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229 },
            new LinuxDevice { Path = "/dev/sda", Type = "b", Major = 8, Minor = 0, FileMode = 0x21b0 /* S_IFBLK|0660 */ },
        ]), false);
        Assert.Equal(8, plan.Devices.Count);
        var nul = plan.Devices.Single(d => d.Path == "/dev/null");
        Assert.Equal((0x180u, 5u, 6u), (nul.Mode, nul.Uid, nul.Gid));
        var fuse = plan.Devices.Single(d => d.Path == "/dev/fuse");
        Assert.Equal(0x1b6u, fuse.Mode); // default 0666
        var sda = plan.Devices.Single(d => d.Path == "/dev/sda");
        Assert.Equal(0x1b0u, sda.Mode);  // type bits dropped from fileMode
        Assert.Equal(Husk.Linux.Native.S_IFBLK, sda.FileTypeBits);
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("/dev/../etc/passwd")]
    [InlineData("/dev")]
    [InlineData("/devices/x")]
    [InlineData("dev/null")]
    [InlineData("")]
    public void DevicePath_MustBeUnderDev(string path)
    {
        var ex = Assert.Throws<HuskException>(() => DevPlan.ToNode(new LinuxDevice { Path = path, Type = "c", Major = 1, Minor = 3 }));
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void DeviceType_MustBeKnown()
    {
        var ex = Assert.Throws<HuskException>(() => DevPlan.ToNode(new LinuxDevice { Path = "/dev/x", Type = "x" }));
        Assert.Contains("/dev/x", ex.Message);
    }

    [Fact]
    public void FifoAndUnbuffered_AreAccepted()
    {
        Assert.Equal(Husk.Linux.Native.S_IFIFO, DevPlan.ToNode(new LinuxDevice { Path = "/dev/p", Type = "p" }).FileTypeBits);
        // A fifo's major and minor are ignored, not refused (runtime spec).
        var fifo = DevPlan.ToNode(new LinuxDevice { Path = "/dev/p", Type = "p", Major = 5, Minor = -1 });
        Assert.Equal((0L, 0L), (fifo.Major, fifo.Minor));
        Assert.Equal(Husk.Linux.Native.S_IFCHR, DevPlan.ToNode(new LinuxDevice { Path = "/dev/u", Type = "u", Major = 4, Minor = 1 }).FileTypeBits);
    }
}

public class MountEntryTests
{
    static MountEntry E(string dest, string? type, string? source, params string[] options) =>
        MountEntry.From(new Mount { Destination = dest, Type = type, Source = source, Options = options.ToList() });

    [Fact]
    public void BindWithRestrictions_NeedsRemountPass()
    {
        var e = E("/data", "bind", "/host", "rbind", "ro", "nosuid", "rslave");
        Assert.True(e.IsBind);
        Assert.True(e.NeedsBindRemount);
        Assert.Equal(MS_BIND | MS_REC, e.InitialFlags);
        Assert.Equal(MS_BIND | MS_RDONLY | MS_NOSUID, e.RemountFlags);
        Assert.Equal([MS_SLAVE | MS_REC], e.Propagation);
    }

    [Fact]
    public void BindAttributes_SetWhatIsAskedClearWhatIsClearedKeepTheRest()
    {
        Assert.Equal((MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0UL), E("/d", "bind", "/h", "rbind", "ro", "nosuid", "rslave", "sync").BindAttributes);
        Assert.Equal((MOUNT_ATTR_NODEV, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC), E("/d", "bind", "/h", "rw", "exec", "nodev").BindAttributes);
        Assert.Equal((0UL, 0UL), E("/d", "bind", "/h", "bind").BindAttributes);
        Assert.Equal((MOUNT_ATTR_NOSYMFOLLOW | MOUNT_ATTR_NODIRATIME, 0UL), E("/d", "bind", "/h", "nosymfollow", "nodiratime").BindAttributes);
    }

    [Theory]
    [InlineData("noatime", MOUNT_ATTR_NOATIME)]
    [InlineData("strictatime", MOUNT_ATTR_STRICTATIME)]
    [InlineData("relatime", MOUNT_ATTR_RELATIME)]
    [InlineData("atime", MOUNT_ATTR_RELATIME)]
    [InlineData("norelatime", MOUNT_ATTR_RELATIME)]
    public void BindAttributes_AnAtimeOptionReplacesTheAtimeMode(string option, ulong mode) =>
        Assert.Equal((mode, MOUNT_ATTR__ATIME), E("/d", "bind", "/h", "bind", option).BindAttributes);

    [Fact]
    public void PlainBind_NoRemount()
    {
        var e = E("/data", "none", "/host", "bind");
        Assert.True(e.IsBind);
        Assert.False(e.NeedsBindRemount);
        Assert.Equal(MS_BIND, e.InitialFlags);
    }

    [Fact]
    public void TypeBind_WithoutOption_IsABind() => Assert.True(E("/x", "bind", "/y").IsBind);

    [Fact]
    public void Tmpfs_DelaysReadonly_KeepsData()
    {
        var e = E("/tmp", "tmpfs", "tmpfs", "ro", "nosuid", "mode=1777", "size=64k");
        Assert.False(e.IsBind);
        Assert.True(e.DelayReadonly);
        Assert.Equal(MS_NOSUID, e.InitialFlags);
        Assert.Equal("mode=1777,size=64k", e.Data);
        Assert.True(e.HasModeOption);
        Assert.True(e.Readonly);
    }

    [Fact]
    public void Dev_DelaysReadonly_Proc_DoesNot()
    {
        Assert.True(E("/dev/", "devtmpfs", "x", "ro").DelayReadonly);
        var proc = E("/proc", "proc", "proc", "ro", "nosuid");
        Assert.False(proc.DelayReadonly);
        Assert.Equal(MS_RDONLY | MS_NOSUID, proc.InitialFlags);
    }

    [Fact]
    public void RecursiveAttributes_AndTmpcopyup()
    {
        var e = E("/x", "bind", "/y", "rbind", "rro", "rnoexec");
        Assert.Equal(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC, e.AttrSet);
        Assert.True(E("/run", "tmpfs", "tmpfs", "tmpcopyup").TmpCopyUp);
        Assert.Equal("", E("/run", "tmpfs", "tmpfs", "tmpcopyup").Data);
    }

    [Fact]
    public void NullTypeSourceOptions_AreEmpty()
    {
        var e = MountEntry.From(new Mount { Destination = "relative/../dir" });
        Assert.Equal("/dir", e.Destination);
        Assert.Equal("", e.Type);
        Assert.Equal("", e.Source);
        Assert.Equal(0ul, e.Flags);
    }

    [Theory]
    [InlineData("/proc", true, true)]
    [InlineData("/proc", false, false)]
    [InlineData("/proc/cpuinfo", false, true)]
    [InlineData("/proc/sys/kernel/ns_last_pid", false, true)]
    [InlineData("/proc/sys", false, false)]
    [InlineData("/proc/self/attr/current", false, false)]
    [InlineData("/processes", false, true)]
    [InlineData("/etc", false, true)]
    public void ProcMounts_AreRestricted(string resolved, bool sourceIsProc, bool allowed) =>
        Assert.Equal(allowed, MountEntry.CheckProcMount(resolved, sourceIsProc) is null);

    /// <summary>linux.mountLabel as runc applies it (label.FormatMountLabel): context= on file systems Husk mounts.</summary>
    [Theory]
    [InlineData("tmpfs", "tmpfs", "nosuid,mode=755", "mode=755,context=\"system_u:object_r:container_file_t:s0\"", false)]
    [InlineData("devpts", "devpts", "nosuid", "context=\"system_u:object_r:container_file_t:s0\"", false)]
    [InlineData("proc", "proc", "nosuid", "", false)]
    [InlineData("sysfs", "sysfs", "ro", "", false)]
    [InlineData("cgroup", "cgroup", "ro", "", false)]
    [InlineData("mqueue", "mqueue", "nosuid", "", true)]
    [InlineData("bind", "/etc", "rbind,ro", "", false)]
    public void Mount_label_goes_into_the_data_of_file_systems_husk_mounts(string type, string source, string options, string data, bool labelsRoot)
    {
        var e = E("/x", type, source, options.Split(',')).WithMountLabel("system_u:object_r:container_file_t:s0");
        Assert.Equal(data, e.Data);
        Assert.Equal(labelsRoot, e.LabelsRootAfterMount);
        Assert.Same(e, e.WithMountLabel(null));
    }
}

public class RootfsBuilderPureTests
{
    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("rslave", MS_SLAVE | MS_REC)]
    [InlineData("shared", MS_SHARED)]
    [InlineData("rprivate", MS_PRIVATE | MS_REC)]
    [InlineData("runbindable", MS_UNBINDABLE | MS_REC)]
    public void ParsePropagation(string? name, ulong? expected) =>
        Assert.Equal(expected, RootfsBuilder.ParsePropagation(name));

    [Theory]
    [InlineData("ro")]
    [InlineData("bind")]
    [InlineData("weird")]
    public void ParsePropagation_RefusesNonPropagation(string name)
    {
        var ex = Assert.Throws<HuskException>(() => RootfsBuilder.ParsePropagation(name));
        Assert.Contains("rootfsPropagation", ex.Message);
    }

    [Fact]
    public void LockedFlags_KeepsRestrictions_AndAtimeOnlyWhenUnspecified()
    {
        ulong current = MS_NOSUID | MS_NODEV | MS_RELATIME | 0x20 /* ST_VALID */;
        Assert.Equal(MS_NOSUID | MS_NODEV | MS_RELATIME, RootfsBuilder.LockedFlags(current, MS_RDONLY));
        Assert.Equal(MS_NOSUID | MS_NODEV, RootfsBuilder.LockedFlags(current, MS_RDONLY | MS_NOATIME));
    }
}

public class MountInfoAndCgroupTests
{
    const string Mountinfo = """
        22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
        30 22 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
        31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
        32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
        33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
        34 30 0:30 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
        35 30 0:31 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
        40 22 254:0 /with\040space /mnt/a\040b rw master:3 - ext4 /dev/vda rw
        """;

    const string ProcCgroup = """
        5:memory:/outer/ctr
        4:cpu,cpuacct:/ctr
        1:name=systemd:/ctr
        0::/ctr
        """;

    [Fact]
    public void ParsesMountinfo_WithEscapes_AndOptionalFields()
    {
        var m = MountInfoEntry.Parse(Mountinfo);
        Assert.Equal(8, m.Count);
        Assert.True(m[0].IsShared);
        var spaced = m[^1];
        Assert.Equal("/mnt/a b", spaced.MountPoint);
        Assert.Equal("/with space", spaced.Root);
        Assert.False(spaced.IsShared);
        Assert.Equal("/sys/fs/cgroup/memory", MountInfoEntry.Containing(m, "/sys/fs/cgroup/memory/x")!.MountPoint);
        Assert.Equal("/", MountInfoEntry.Containing(m, "/var/lib/rootfs")!.MountPoint);
    }

    [Fact]
    public void PlanV1_OwnCgroupPerHierarchy_AndAliases()
    {
        var plan = CgroupMounts.PlanV1(MountInfoEntry.Parse(Mountinfo), CgroupMounts.ParseProcCgroup(ProcCgroup))
            .ToDictionary(h => h.Name);
        Assert.Equal(["unified", "systemd", "cpu,cpuacct", "memory"], plan.Keys); // pids: not in our /proc/self/cgroup
        Assert.Equal(("cgroup2", "", "/sys/fs/cgroup/unified/ctr"), (plan["unified"].FsType, plan["unified"].Data, plan["unified"].HostSource));
        Assert.Equal(("none,name=systemd", "/sys/fs/cgroup/systemd/ctr"), (plan["systemd"].Data, plan["systemd"].HostSource));
        Assert.Equal(["cpu", "cpuacct"], plan["cpu,cpuacct"].Aliases);
        Assert.Equal("cpu,cpuacct", plan["cpu,cpuacct"].Data);
        Assert.Equal("/sys/fs/cgroup/memory/ctr", plan["memory"].HostSource); // mount root /outer stripped
        Assert.Empty(plan["memory"].Aliases);
    }
}
