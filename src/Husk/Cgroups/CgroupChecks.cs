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
        var list = Describe(host);
        list.Add(BlockIoWeight(host, IoSchedulers(), File.Exists));
        return list;
    }

    /// <summary>The IO schedulers the kernel offers (any block device's queue/scheduler list, brackets removed).</summary>
    static HashSet<string> IoSchedulers()
    {
        var found = new HashSet<string>();
        try
        {
            foreach (var dev in Directory.GetDirectories("/sys/block"))
                if (CgroupFs.TryRead(Path.Combine(dev, "queue", "scheduler")) is { } line)
                    foreach (var w in line.Split(' ', StringSplitOptions.RemoveEmptyEntries)) found.Add(w.Trim('[', ']'));
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return found;
    }

    /// <summary>
    /// Whether linux.resources.blockIO weights can be set. Only some IO schedulers give a cgroup its
    /// weight files: BFQ (blkio.bfq.weight in v1, io.bfq.weight in v2) and, in v2, iocost (io.weight;
    /// its root has io.cost.qos). CFQ's blkio.weight left with Linux 5.0. Pure over the scheduler
    /// names and a file-exists probe, so it is tested without such a host.
    /// </summary>
    public static CheckResult BlockIoWeight(HostInfo host, IReadOnlySet<string> schedulers, Func<string, bool> exists)
    {
        const string Name = "cgroup.blkio.weight", Refused = "specs with linux.resources.blockIO weight or weightDevice are refused";
        bool bfq = schedulers.Contains("bfq");
        if (host.Layout == CgroupLayout.V2)
        {
            if (!host.V2Controllers.Contains("io"))
                return new(Name, CheckResult.Warn, $"the io controller is not in the cgroup v2 hierarchy: {Refused}");
            if (bfq) return new(Name, CheckResult.Ok, "BFQ: blockIO weights go to io.bfq.weight");
            return exists(Path.Combine(host.Unified!.Mountpoint, "io.cost.qos"))
                ? new(Name, CheckResult.Ok, "iocost: blockIO weights go to io.weight")
                : new(Name, CheckResult.Warn, $"neither the BFQ IO scheduler nor iocost: {Refused}");
        }
        var blkio = host.V1.FirstOrDefault(h => h.Has("blkio"));
        if (blkio == null) return new(Name, CheckResult.Warn, $"no blkio hierarchy: {Refused}");
        if (exists(Path.Combine(blkio.Mountpoint, "blkio.weight")))
            return new(Name, CheckResult.Ok, "blkio.weight present: blockIO weights go there");
        return bfq
            ? new(Name, CheckResult.Ok, "BFQ: blockIO weights go to blkio.bfq.weight")
            : new(Name, CheckResult.Warn, $"no BFQ IO scheduler (the kernel offers none that gives blkio.weight or blkio.bfq.weight): {Refused}");
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
