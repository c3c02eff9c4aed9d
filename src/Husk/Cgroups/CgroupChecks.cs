namespace Husk.Cgroups;

/// <summary>`husk check` lines about cgroups: the layout and which controllers resources can use.</summary>
public static class CgroupChecks
{
    /// <summary>Every v1 controller a linux.resources setting can need, and the settings that use it.</summary>
    static readonly (string Controller, string Uses)[] V1Controllers =
    [
        ("cpu", "cpu shares/quota/period/burst/realtime/idle"), ("cpuacct", "cpu statistics"), ("cpuset", "cpu cpus/mems"),
        ("memory", "memory limits, OOM events"), ("pids", "pids limit"), ("blkio", "blockIO"), ("devices", "device rules"),
        ("freezer", "pause/resume"), ("hugetlb", "hugepageLimits"), ("net_cls", "network classID"),
        ("net_prio", "network priorities"), ("rdma", "rdma"),
    ];

    static readonly (string Controller, string Uses)[] V2Controllers =
    [
        ("cpu", "cpu shares/quota/period/burst/idle"), ("cpuset", "cpu cpus/mems"), ("memory", "memory limits, OOM events"),
        ("pids", "pids limit"), ("io", "blockIO"), ("hugetlb", "hugepageLimits"), ("rdma", "rdma"),
    ];

    public static IEnumerable<CheckResult> Run()
    {
        HostInfo host;
        try { host = CgroupHost.Detect(); }
        catch (HuskException e)
        {
            return [new("cgroup.layout", CheckResult.Fail, e.Message)];
        }
        return Describe(host);
    }

    /// <summary>Pure over <paramref name="host"/> (the v2 controllers come from its root's cgroup.controllers).</summary>
    public static List<CheckResult> Describe(HostInfo host)
    {
        var list = new List<CheckResult>();
        string layout = host.Layout switch
        {
            CgroupLayout.V2 => $"v2 (unified hierarchy at {host.Unified!.Mountpoint})",
            CgroupLayout.Hybrid => $"hybrid (v1 controllers, cgroup2 at {host.Unified!.Mountpoint}; resources go to v1)",
            _ => "v1",
        };
        list.Add(new("cgroup.layout", CheckResult.Ok, layout));

        if (host.Layout == CgroupLayout.V2)
        {
            foreach (var (c, uses) in V2Controllers)
                list.Add(host.V2Controllers.Contains(c)
                    ? new($"cgroup.controller.{c}", CheckResult.Ok, $"available ({uses})")
                    : new($"cgroup.controller.{c}", CheckResult.Fail, $"not available in the cgroup v2 hierarchy (bound to a v1 hierarchy elsewhere or not built): {uses} cannot be set"));
            list.Add(new("cgroup.controller.devices", CheckResult.Ok, "eBPF device programs (BPF_PROG_TYPE_CGROUP_DEVICE)"));
            list.Add(new("cgroup.controller.freezer", CheckResult.Ok, "cgroup.freeze (pause/resume)"));
            return list;
        }

        var mounted = host.V1.SelectMany(h => h.Controllers).ToHashSet();
        foreach (var (c, uses) in V1Controllers)
        {
            if (mounted.Contains(c))
                list.Add(new($"cgroup.controller.{c}", CheckResult.Ok, $"mounted ({uses})"));
            else if (c == "hugetlb" && host.V2Controllers.Contains("hugetlb"))
                list.Add(new($"cgroup.controller.{c}", CheckResult.Warn, $"not mounted as v1 (it is in the cgroup2 hierarchy, which resources do not use on this layout): {uses} cannot be set"));
            else if (c is "devices" or "freezer" && host.Unified != null)
                list.Add(new($"cgroup.controller.{c}", CheckResult.Warn, $"not mounted as v1: {(c == "devices" ? "device rules use an eBPF program on the cgroup2 directory" : "pause/resume use cgroup.freeze of the cgroup2 directory")}"));
            else
                list.Add(new($"cgroup.controller.{c}", c is "cpuacct" or "net_cls" or "net_prio" or "rdma" or "hugetlb" ? CheckResult.Warn : CheckResult.Fail,
                    $"not mounted: {uses} cannot be set"));
        }
        if (host.Layout == CgroupLayout.Hybrid)
            list.Add(new("cgroup.unified", CheckResult.Ok,
                $"linux.resources.unified keys are written to the cgroup2 directory (controllers there: {(host.V2Controllers.Count == 0 ? "none" : string.Join(", ", host.V2Controllers))})"));
        return list;
    }
}
