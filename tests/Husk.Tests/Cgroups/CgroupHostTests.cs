using Husk.Cgroups;
using Xunit;

namespace Husk.Tests.Cgroups;

public class CgroupHostTests
{
    // This machine: v1 controllers one per mount, name=systemd, and an empty unified hierarchy.
    internal const string HybridMountinfo = """
        22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """;

    internal const string HybridSelfCgroup = """
        9:name=systemd:/
        8:pids:/
        7:blkio:/
        6:freezer:/
        5:devices:/
        4:memory:/process_api/bcc6b75d189d5762155d630cf77027a5
        3:cpuset:/
        2:cpuacct:/
        1:cpu:/
        0::/
        """;

    // A classic systemd v1 host: co-mounted cpu,cpuacct, optional fields, release_agent, a duplicate bind mount.
    const string V1Mountinfo = """
        25 18 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
        26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
        29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
        30 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
        31 25 0:29 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,freezer
        32 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids
        90 60 0:28 /user.slice /mnt/memory\040copy rw,relatime shared:11 - cgroup cgroup rw,memory
        """;

    const string V1SelfCgroup = """
        5:pids:/user.slice/user-1000.slice/session-2.scope
        4:freezer:/
        3:memory:/user.slice/user-1000.slice/session-2.scope
        2:cpu,cpuacct:/user.slice
        1:name=systemd:/user.slice/user-1000.slice/session-2.scope
        """;

    const string V2Mountinfo = """
        24 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """;

    const string V2SelfCgroup = "0::/user.slice/user-1000.slice/session-3.scope\n";

    [Fact]
    public void Hybrid_host_lists_every_v1_hierarchy_and_the_unified_one()
    {
        var host = CgroupHost.Parse(HybridMountinfo, HybridSelfCgroup, "");
        Assert.Equal(CgroupLayout.Hybrid, host.Layout);
        Assert.Equal(10, host.Hierarchies.Count);
        Assert.Equal(9, host.V1.Count);
        var unified = Assert.IsType<CgroupHierarchy>(host.Unified);
        Assert.Equal("/sys/fs/cgroup/unified", unified.Mountpoint);
        Assert.True(unified.IsV2);
        Assert.Empty(host.V2Controllers);

        var memory = host.Hierarchies.Single(h => h.Has("memory"));
        Assert.Equal("/sys/fs/cgroup/memory", memory.Mountpoint);
        Assert.Equal("/process_api/bcc6b75d189d5762155d630cf77027a5", memory.ProcessPath);
        var systemd = host.Hierarchies.Single(h => h.Has("name=systemd"));
        Assert.Equal("/sys/fs/cgroup/systemd", systemd.Mountpoint);
        Assert.False(systemd.IsV2);
        Assert.Equal("/", host.Hierarchies.Single(h => h.Has("cpu")).ProcessPath);
    }

    [Fact]
    public void Pure_v1_host_groups_comounted_controllers_and_drops_duplicate_mounts()
    {
        var host = CgroupHost.Parse(V1Mountinfo, V1SelfCgroup, null);
        Assert.Equal(CgroupLayout.V1, host.Layout);
        Assert.Null(host.Unified);
        Assert.Equal(5, host.Hierarchies.Count);
        var cpu = host.Hierarchies.Single(h => h.Has("cpu"));
        Assert.Equal(["cpu", "cpuacct"], cpu.Controllers);
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", cpu.Mountpoint);
        Assert.Equal("/user.slice", cpu.ProcessPath);
        var systemd = host.Hierarchies.Single(h => h.Has("name=systemd"));
        Assert.Equal(["name=systemd"], systemd.Controllers);
        // The memory hierarchy is also bind-mounted at /mnt/memory copy: the root mount wins.
        var memory = host.Hierarchies.Single(h => h.Has("memory"));
        Assert.Equal("/sys/fs/cgroup/memory", memory.Mountpoint);
        Assert.Equal("/user.slice/user-1000.slice/session-2.scope", memory.ProcessPath);
    }

    [Fact]
    public void Pure_v2_host_has_one_hierarchy_and_its_controllers()
    {
        var host = CgroupHost.Parse(V2Mountinfo, V2SelfCgroup, "cpuset cpu io memory hugetlb pids rdma misc\n");
        Assert.Equal(CgroupLayout.V2, host.Layout);
        var h = Assert.Single(host.Hierarchies);
        Assert.True(h.IsV2);
        Assert.Equal("/sys/fs/cgroup", h.Mountpoint);
        Assert.Equal("/user.slice/user-1000.slice/session-3.scope", h.ProcessPath);
        Assert.Equal(["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"], host.V2Controllers);
        Assert.Empty(host.V1);
    }

    [Fact]
    public void V2_at_the_standard_place_wins_over_a_legacy_named_v1_mount()
    {
        const string mi = V2Mountinfo + "\n50 24 0:40 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n";
        var host = CgroupHost.Parse(mi, V2SelfCgroup + "1:name=systemd:/\n", null);
        Assert.Equal(CgroupLayout.V2, host.Layout);
        Assert.Single(host.Hierarchies);
    }

    // CRIU's restore mounts each hierarchy again in its cgroup yard; a mount namespace made meanwhile
    // (a pure-v2 view: /sys/fs/cgroup unmounted, cgroup2 mounted there) lists those copies first.
    const string YardMounts = """
        70 60 0:60 / /tmp/.criu.cgyard.Ab12 rw,relatime - tmpfs none rw
        71 70 0:32 / /tmp/.criu.cgyard.Ab12/memory rw,relatime - cgroup none rw,memory
        72 70 0:36 / /tmp/.criu.cgyard.Ab12/pids rw,relatime - cgroup none rw,pids
        73 70 0:38 / /tmp/.criu.cgyard.Ab12/unified rw,relatime - cgroup2 none rw
        """;

    [Fact]
    public void Copies_of_hierarchies_mounted_elsewhere_never_replace_the_standard_ones()
    {
        var view = CgroupHost.Parse(YardMounts + "\n80 22 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n", HybridSelfCgroup, "hugetlb");
        Assert.Equal(CgroupLayout.V2, view.Layout);
        Assert.Equal("/sys/fs/cgroup", Assert.Single(view.Hierarchies).Mountpoint);

        var hybrid = CgroupHost.Parse(YardMounts + "\n" + HybridMountinfo, HybridSelfCgroup, "");
        Assert.Equal(CgroupLayout.Hybrid, hybrid.Layout);
        Assert.All(hybrid.Hierarchies, h => Assert.StartsWith("/sys/fs/cgroup/", h.Mountpoint));
    }

    [Fact]
    public void No_cgroup_mount_is_a_one_line_error()
    {
        var e = Assert.Throws<HuskException>(() => CgroupHost.Parse("22 1 0:21 / /sys rw - sysfs sysfs rw\n", "", null));
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith("cgroup:", e.Message);
    }

    [Fact]
    public void Mountinfo_escapes_are_decoded()
    {
        Assert.Equal("/mnt/a b\\c", Husk.Rootfs.MountInfoEntry.Unescape("/mnt/a\\040b\\134c"));
        Assert.Equal("/plain", Husk.Rootfs.MountInfoEntry.Unescape("/plain"));
    }

    [Fact]
    public void Self_cgroup_lines_keep_colons_in_paths()
    {
        var lines = CgroupHost.ParseSelfCgroup("4:memory:/a:b\n0::/\n");
        Assert.Equal("/a:b", lines[0].Path);
        Assert.Equal(["memory"], lines[0].Controllers);
        Assert.Empty(lines[1].Controllers);
    }

    [Theory]
    // hybrid (this machine's kind): BFQ gives blkio.bfq.weight; without it (mq-deadline) no weight file
    [InlineData("hybrid", "mq-deadline kyber none", "", "warn", "no BFQ IO scheduler")]
    [InlineData("hybrid", "mq-deadline bfq none", "", "ok", "blkio.bfq.weight")]
    [InlineData("hybrid", "none", "/sys/fs/cgroup/blkio/blkio.weight", "ok", "blkio.weight present")]
    // pure v2: the io controller, then BFQ or iocost
    [InlineData("v2", "bfq", "", "ok", "io.bfq.weight")]
    [InlineData("v2", "mq-deadline", "/sys/fs/cgroup/io.cost.qos", "ok", "io.weight")]
    [InlineData("v2", "mq-deadline", "", "warn", "neither the BFQ IO scheduler nor iocost")]
    [InlineData("v2-no-io", "bfq", "", "warn", "the io controller is not in the cgroup v2 hierarchy")]
    public void Block_io_weights_need_bfq_or_iocost(string layout, string schedulers, string existing, string status, string detail)
    {
        var host = layout == "hybrid"
            ? CgroupHost.Parse(HybridMountinfo, HybridSelfCgroup, "hugetlb\n")
            : CgroupHost.Parse(V2Mountinfo, V2SelfCgroup, layout == "v2" ? "cpu io memory pids" : "cpu memory pids");
        var r = CgroupChecks.BlockIoWeight(host, schedulers.Split(' ').ToHashSet(), f => f == existing);
        Assert.Equal("cgroup.blkio.weight", r.Name);
        Assert.Equal(status, r.Status);
        Assert.Contains(detail, r.Detail);
        if (status != "ok") Assert.Contains("blockIO weight or weightDevice are refused", r.Detail);
    }

    [Fact]
    public void Criu_restore_of_cgroups_is_flagged_where_v1_hierarchies_of_this_process_are_not_mounted()
    {
        var hybrid = CgroupHost.Parse(HybridMountinfo, HybridSelfCgroup, "hugetlb\n");
        Assert.Equal("ok", Husk.Checkpoint.CriuChecks.CgroupsCriuCannotSee(hybrid, HybridSelfCgroup).Status);
        // The same process seen through a pure cgroup2 mount (a v2 view of this hybrid host).
        var view = CgroupHost.Parse(V2Mountinfo, HybridSelfCgroup, "hugetlb\n");
        var r = Husk.Checkpoint.CriuChecks.CgroupsCriuCannotSee(view, HybridSelfCgroup);
        Assert.Equal(("criu.cgroups", "warn"), (r.Name, r.Status));
        Assert.Contains("(blkio, cpu, cpuacct, cpuset, devices, freezer, memory, pids)", r.Detail);
        Assert.Equal("ok", Husk.Checkpoint.CriuChecks.CgroupsCriuCannotSee(view, V2SelfCgroup).Status);
    }

    [Fact]
    public void The_real_host_is_detected()
    {
        var host = CgroupHost.Detect();
        Assert.Equal(host.Layout, CgroupHost.DetectLayout());
        Assert.NotEmpty(host.Hierarchies);
    }
}
