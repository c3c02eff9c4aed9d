using Husk.Cgroups;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Cgroups;

/// <summary>linux.resources → cgroup file writes, v1 and v2, and the conversions between them.</summary>
public class ResourcePlanTests
{
    static LinuxResources R(string json) => SpecJson.ParseResources(json);

    static Dictionary<string, string> Files(List<CgroupWrite> w) =>
        w.GroupBy(x => x.File).ToDictionary(g => g.Key, g => string.Join(" | ", g.Select(x => x.Value)));

    const string Full = """
    {
      "memory": {"limit": 104857600, "reservation": 52428800, "swap": 209715200, "swappiness": 10, "kernelTCP": 1048576},
      "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000, "cpus": "0-1", "mems": "0", "idle": 1},
      "pids": {"limit": 42},
      "blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                  "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                  "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
      "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
      "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}
    }
    """;

    [Fact]
    public void V1_maps_every_setting_to_its_file()
    {
        var r = R(Full);
        r.Network = new LinuxNetwork { ClassID = 0x100001, Priorities = [new() { Name = "eth0", Priority = 5 }] };
        r.BlockIO!.LeafWeight = 200;
        r.CPU!.RealtimePeriod = 1000000;
        r.CPU.RealtimeRuntime = 950000;
        var f = Files(ResourcePlan.V1(r, hybrid: false));
        Assert.Equal("104857600", f["memory.limit_in_bytes"]);
        Assert.Equal("209715200", f["memory.memsw.limit_in_bytes"]); // spec swap = memory+swap = memsw
        Assert.Equal("52428800", f["memory.soft_limit_in_bytes"]);
        Assert.Equal("10", f["memory.swappiness"]);
        Assert.Equal("1048576", f["memory.kmem.tcp.limit_in_bytes"]);
        Assert.Equal("1024", f["cpu.shares"]);
        Assert.Equal("50000", f["cpu.cfs_quota_us"]);
        Assert.Equal("100000", f["cpu.cfs_period_us"]);
        Assert.Equal("1000", f["cpu.cfs_burst_us"]);
        Assert.Equal("1000000", f["cpu.rt_period_us"]);
        Assert.Equal("950000", f["cpu.rt_runtime_us"]);
        Assert.Equal("1", f["cpu.idle"]);
        Assert.Equal("0-1", f["cpuset.cpus"]);
        Assert.Equal("0", f["cpuset.mems"]);
        Assert.Equal("42", f["pids.max"]);
        Assert.Equal("500", f["blkio.weight"]);
        Assert.Equal("200", f["blkio.leaf_weight"]);
        Assert.Equal("8:0 300", f["blkio.weight_device"]);
        Assert.Equal("8:0 1048576", f["blkio.throttle.read_bps_device"]);
        Assert.Equal("8:0 100", f["blkio.throttle.write_iops_device"]);
        Assert.Equal("4194304", f["hugetlb.2MB.limit_in_bytes"]);
        Assert.Equal("1048577", f["net_cls.classid"]);
        Assert.Equal("eth0 5", f["net_prio.ifpriomap"]);
        Assert.Equal("mlx5_1 hca_handle=3 hca_object=10000", f["rdma.max"]);
    }

    [Fact]
    public void V1_orders_period_before_quota_and_limit_before_memsw()
    {
        var w = ResourcePlan.V1(R(Full), hybrid: false).Select(x => x.File).ToList();
        Assert.True(w.IndexOf("cpu.cfs_period_us") < w.IndexOf("cpu.cfs_quota_us"));
        Assert.True(w.IndexOf("memory.limit_in_bytes") < w.IndexOf("memory.memsw.limit_in_bytes"));
    }

    [Fact]
    public void V1_controllers_name_the_hierarchy_of_each_file()
    {
        foreach (var w in ResourcePlan.V1(R(Full), hybrid: false))
            Assert.StartsWith(w.Controller + ".", w.File);
    }

    [Fact]
    public void V2_maps_every_setting_with_the_v2_units()
    {
        var r = R(Full);
        r.Memory!.Swappiness = null; // v1 only
        var f = Files(ResourcePlan.V2(r));
        Assert.Equal("104857600", f["memory.max"]);
        Assert.Equal("104857600", f["memory.swap.max"]); // 200M memory+swap - 100M memory
        Assert.Equal("52428800", f["memory.low"]);
        Assert.Equal("39", f["cpu.weight"]); // 1 + (1024-2)*9999/262142
        Assert.Equal("50000 100000", f["cpu.max"]);
        Assert.Equal("1000", f["cpu.max.burst"]);
        Assert.Equal("1", f["cpu.idle"]);
        Assert.Equal("0-1", f["cpuset.cpus"]);
        Assert.Equal("42", f["pids.max"]);
        Assert.Equal("500 | 8:0 300", f["io.bfq.weight"]);
        Assert.Equal("8:0 rbps=1048576 | 8:0 wiops=100", f["io.max"]);
        Assert.Equal("4194304", f["hugetlb.2MB.max"]);
        Assert.Equal("mlx5_1 hca_handle=3 hca_object=10000", f["rdma.max"]);
        // Without BFQ, io.weight with the converted weight.
        var weight = ResourcePlan.V2(r).First(x => x.Pointer.EndsWith("/blockIO/weight"));
        Assert.Equal(("io.weight", "default 4950"), (weight.FallbackFile, weight.FallbackValue));
        Assert.DoesNotContain("memory.swappiness", f.Keys);
    }

    [Theory]
    [InlineData(2UL, 1UL)]
    [InlineData(1024UL, 39UL)]
    [InlineData(262144UL, 10000UL)]
    [InlineData(0UL, 0UL)]
    [InlineData(512UL, 20UL)]
    public void Shares_convert_to_weight_as_runc_and_crun(ulong shares, ulong weight)
        => Assert.Equal(weight, ResourcePlan.SharesToWeight(shares));

    [Theory]
    [InlineData(10UL, 1UL)]
    [InlineData(1000UL, 10000UL)]
    [InlineData(500UL, 4950UL)]
    [InlineData(0UL, 0UL)]
    public void Blkio_weight_converts_to_io_weight(ulong blkio, ulong io)
        => Assert.Equal(io, ResourcePlan.BlkioWeightToIOWeight(blkio));

    [Theory]
    [InlineData(0L, 100L, 0L)]        // unset
    [InlineData(-1L, 100L, -1L)]      // unlimited
    [InlineData(0L, -1L, -1L)]        // unlimited memory → unlimited swap
    [InlineData(300L, 100L, 200L)]    // memory+swap - memory
    [InlineData(100L, 100L, 0L)]      // no swap at all
    public void Swap_converts_from_memory_plus_swap_to_swap_alone(long memsw, long mem, long v2)
        => Assert.Equal(v2, ResourcePlan.MemorySwapToV2(memsw, mem));

    [Fact]
    public void Swap_below_memory_or_without_a_limit_is_an_error_on_v2()
    {
        Assert.Contains("must not be below", Assert.Throws<HuskException>(() => ResourcePlan.MemorySwapToV2(50, 100)).Message);
        Assert.Contains("needs a memory limit", Assert.Throws<HuskException>(() => ResourcePlan.MemorySwapToV2(50, 0)).Message);
        var w = Files(ResourcePlan.V2(R("""{"memory":{"limit":100,"swap":100}}""")));
        Assert.Equal("0", w["memory.swap.max"]);
        var unl = Files(ResourcePlan.V2(R("""{"memory":{"limit":-1}}""")));
        Assert.Equal("max", unl["memory.max"]);
        Assert.Equal("max", unl["memory.swap.max"]);
    }

    [Fact]
    public void Quota_without_a_limit_is_max_and_period_alone_keeps_max()
    {
        Assert.Equal("max 100000", Files(ResourcePlan.V2(R("""{"cpu":{"quota":-1,"period":100000}}""")))["cpu.max"]);
        Assert.Equal("max 250000", Files(ResourcePlan.V2(R("""{"cpu":{"period":250000}}""")))["cpu.max"]);
        Assert.Equal("-1", Files(ResourcePlan.V1(R("""{"cpu":{"quota":-5}}"""), false))["cpu.cfs_quota_us"]);
    }

    [Fact]
    public void Pids_limit_zero_or_negative_is_max()
    {
        Assert.Equal("max", Files(ResourcePlan.V2(R("""{"pids":{"limit":-1}}""")))["pids.max"]);
        Assert.Equal("max", Files(ResourcePlan.V1(R("""{"pids":{"limit":0}}"""), false))["pids.max"]);
    }

    [Theory]
    [InlineData("""{"memory":{"swappiness":10}}""", "/linux/resources/memory/swappiness")]
    [InlineData("""{"memory":{"disableOOMKiller":true}}""", "/linux/resources/memory/disableOOMKiller")]
    [InlineData("""{"cpu":{"realtimeRuntime":1000}}""", "/linux/resources/cpu/realtimeRuntime")]
    [InlineData("""{"blockIO":{"leafWeight":100}}""", "/linux/resources/blockIO/leafWeight")]
    [InlineData("""{"network":{"classID":1}}""", "/linux/resources/network")]
    public void V1_only_settings_fail_on_v2_naming_the_field(string json, string pointer)
    {
        var e = Assert.Throws<HuskException>(() => ResourcePlan.V2(R(json)));
        Assert.StartsWith(pointer + ":", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Unified_keys_need_cgroup2_on_v1_go_to_the_unified_dir_on_hybrid_and_win_on_v2()
    {
        var r = R("""{"unified":{"memory.high":"1000000","cgroup.max.descendants":"5"},"memory":{"limit":2000000}}""");
        var e = Assert.Throws<HuskException>(() => ResourcePlan.V1(r, hybrid: false));
        Assert.StartsWith("/linux/resources/unified/cgroup.max.descendants: invalid configuration: cannot use unified on cgroup v1", e.Message);
        // Hybrid: core files always; a controller's only where the cgroup2 hierarchy has it (runc refuses all).
        e = Assert.Throws<HuskException>(() => ResourcePlan.V1(r, hybrid: true));
        Assert.StartsWith("/linux/resources/unified/memory.high: invalid configuration: cannot use unified on cgroup v1", e.Message);
        var core = ResourcePlan.V1(R("""{"unified":{"cgroup.max.descendants":"5"}}"""), hybrid: true).Single();
        Assert.Equal(("unified", "cgroup.max.descendants"), (core.Controller, core.File));
        var hybrid = ResourcePlan.V1(r, hybrid: true, unifiedControllers: ["memory"]).Where(w => w.Controller == "unified").Select(w => w.File).ToList();
        Assert.Equal(["cgroup.max.descendants", "memory.high"], hybrid);

        var v2 = ResourcePlan.V2(R("""{"memory":{"limit":2000000},"unified":{"memory.max":"3000000","cgroup.max.descendants":"5"}}"""));
        Assert.Equal("3000000", Files(v2)["memory.max"]);
        Assert.Equal("", v2.Single(w => w.File == "cgroup.max.descendants").Controller);
        Assert.Equal("memory", v2.Single(w => w.File == "memory.max").Controller);
    }

    [Theory]
    [InlineData("2MB", "2MB")]
    [InlineData("2048kB", "2MB")]
    [InlineData("1GB", "1GB")]
    [InlineData("64KB", "64KB")]
    public void Hugetlb_page_sizes_are_named_as_the_kernel_does(string spec, string file)
        => Assert.Equal(file, ResourcePlan.HugetlbSize(spec));

    [Fact]
    public void Absent_null_and_empty_resources_write_nothing()
    {
        foreach (var json in new[] { "{}", """{"devices":null,"hugepageLimits":[],"rdma":{},"unified":null}""" })
        {
            Assert.Empty(ResourcePlan.V1(R(json), hybrid: false));
            Assert.Empty(ResourcePlan.V2(R(json)));
        }
    }

    [Fact]
    public void Kernel_memory_is_ignored_with_a_warning()
    {
        var warnings = new List<string>();
        Assert.Empty(ResourcePlan.V1(R("""{"memory":{"kernel":1000000}}"""), false, warnings));
        Assert.Contains(warnings, w => w.Contains("/memory/kernel"));
    }

    [Fact]
    public void Merge_keeps_what_the_update_does_not_name()
    {
        var cur = R("""{"memory":{"limit":100,"swap":200},"cpu":{"shares":512,"cpus":"0"},"pids":{"limit":10},"hugepageLimits":[{"pageSize":"2MB","limit":1}]}""");
        var m = ResourcePlan.Merge(cur, R("""{"memory":{"limit":150},"pids":{"limit":20},"hugepageLimits":[{"pageSize":"2MB","limit":2}]}"""));
        Assert.Equal(150, m.Memory!.Limit);
        Assert.Equal(200, m.Memory.Swap);
        Assert.Equal(512UL, m.CPU!.Shares);
        Assert.Equal("0", m.CPU.Cpus);
        Assert.Equal(20, m.Pids!.Limit);
        Assert.Equal(2UL, Assert.Single(m.HugepageLimits).Limit);
        Assert.Equal(100, cur.Memory!.Limit); // the input is not changed
        var only = ResourcePlan.ForUpdate(R("""{"memory":{"swap":400}}"""), m);
        Assert.Equal(150, only.Memory!.Limit); // v2 swap needs the limit
        Assert.Null(only.CPU);
        m = ResourcePlan.Merge(R("""{"cpu":{"shares":100,"quota":50000,"period":100000}}"""), R("""{"cpu":{"period":200000}}"""));
        only = ResourcePlan.ForUpdate(R("""{"cpu":{"period":200000}}"""), m);
        Assert.Equal(50000, only.CPU!.Quota); // v2 cpu.max needs the quota with the period
        Assert.Null(only.CPU.Shares);
        Assert.Equal("50000 200000", Files(ResourcePlan.V2(only))["cpu.max"]);
        Assert.Equal(R("{}").Devices, ResourcePlan.Merge(null, R("{}")).Devices);
    }
}
