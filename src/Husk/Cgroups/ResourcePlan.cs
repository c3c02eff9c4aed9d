using System.Globalization;
using Husk.Spec;

namespace Husk.Cgroups;

/// <summary>
/// One write to a cgroup file that a resource setting turns into.
/// </summary>
/// <param name="Controller">
/// v1: the subsystem whose hierarchy holds the file ("memory", "cpu", "cpuset", "blkio", "net_cls", ...);
/// v2: the controller that must be enabled ("memory", "io", ...) or "" for a core file ("cgroup.*");
/// "unified" for a v2 key written to the unified directory of a hybrid host.
/// </param>
/// <param name="File">The file name in the container's directory.</param>
/// <param name="Value">What is written (one write(2)).</param>
/// <param name="Pointer">The JSON pointer of the setting, for error messages ("/linux/resources/memory/limit").</param>
/// <param name="FallbackFile">Written instead when <paramref name="File"/> does not exist (blkio.bfq.weight for blkio.weight).</param>
/// <param name="FallbackValue">The value for <paramref name="FallbackFile"/> (defaults to <paramref name="Value"/>).</param>
public sealed record CgroupWrite(string Controller, string File, string Value, string Pointer,
    string? FallbackFile = null, string? FallbackValue = null)
{
    public override string ToString() => $"{File}={Value}";
}

/// <summary>
/// Pure mapping of the spec's linux.resources to cgroup file writes, for v1 and v2, with the
/// conversions runc and crun use. A setting the cgroup version cannot express throws a one-line
/// <see cref="HuskException"/> naming its JSON pointer. Devices are not in the plan: see
/// <see cref="DeviceRules"/> (v1 files) and <see cref="DeviceFilter"/> (v2 eBPF).
/// </summary>
public static class ResourcePlan
{
    public const string Prefix = "/linux/resources";

    static string S(long v) => v.ToString(CultureInfo.InvariantCulture);
    static string S(ulong v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>runc/crun: cpu.weight = 1 + ((shares - 2) * 9999) / 262142; 0 when shares is 0 (unset).</summary>
    public static ulong SharesToWeight(ulong shares)
    {
        if (shares == 0) return 0;
        if (shares < 2) shares = 2;
        if (shares > 262144) shares = 262144;
        return 1 + ((shares - 2) * 9999) / 262142;
    }

    /// <summary>runc: io.weight = 1 + (blkioWeight - 10) * 9999 / 990 (10..1000 → 1..10000); 0 when unset.</summary>
    public static ulong BlkioWeightToIOWeight(ulong weight)
    {
        if (weight == 0) return 0;
        if (weight < 10) weight = 10;
        if (weight > 1000) weight = 1000;
        return 1 + (weight - 10) * 9999 / 990;
    }

    /// <summary>
    /// The spec's memory "swap" is memory+swap (v1 memsw); v2's memory.swap.max is swap alone:
    /// swap - limit (runc's ConvertMemorySwapToCgroupV2Value). -1 is "max", 0 is "unset".
    /// </summary>
    public static long MemorySwapToV2(long memorySwap, long memory)
    {
        if (memory == -1 && memorySwap == 0) return -1;
        if (memorySwap is -1 or 0) return memorySwap;
        if (memory is 0 or -1)
            throw new HuskException($"{Prefix}/memory/swap: a swap limit needs a memory limit on cgroup v2");
        if (memory < 0) throw new HuskException($"{Prefix}/memory/limit: invalid memory limit {memory}");
        if (memorySwap < memory)
            throw new HuskException($"{Prefix}/memory/swap: memory+swap limit {memorySwap} must not be below the memory limit {memory}");
        return memorySwap - memory;
    }

    /// <summary>"2MB" stays "2MB"; "2048kB"/"2048KB" becomes "2MB" as the kernel names the hugetlb files.</summary>
    public static string HugetlbSize(string pageSize)
    {
        int i = 0;
        while (i < pageSize.Length && char.IsAsciiDigit(pageSize[i])) i++;
        if (i == 0 || !ulong.TryParse(pageSize[..i], NumberStyles.None, CultureInfo.InvariantCulture, out ulong n))
            throw new HuskException($"{Prefix}/hugepageLimits: invalid page size \"{pageSize}\"");
        string unit = pageSize[i..].ToUpperInvariant();
        ulong kb = unit switch
        {
            "KB" => n, "MB" => n << 10, "GB" => n << 20, "TB" => n << 30, "PB" => n << 40,
            _ => throw new HuskException($"{Prefix}/hugepageLimits: invalid page size \"{pageSize}\""),
        };
        string[] units = ["KB", "MB", "GB", "TB", "PB"];
        int u = 0;
        while (u < units.Length - 1 && kb >= 1024 && kb % 1024 == 0) { kb >>= 10; u++; }
        return S(kb) + units[u];
    }

    /// <summary>
    /// The v1 writes, in the order they must be made (period before quota, limit before memsw). Unified
    /// keys, as runc's "invalid configuration: cannot use unified on cgroup v1", are refused on v1; on a
    /// <paramref name="hybrid"/> host those of core files and of <paramref name="unifiedControllers"/>
    /// (the controllers of its cgroup2 hierarchy) are written there.
    /// </summary>
    public static List<CgroupWrite> V1(LinuxResources r, bool hybrid, List<string>? warnings = null, IReadOnlyCollection<string>? unifiedControllers = null)
    {
        var w = new List<CgroupWrite>();
        if (r.Memory is { } m)
        {
            const string p = Prefix + "/memory";
            if (m.Limit is long lim && lim != 0) w.Add(new("memory", "memory.limit_in_bytes", S(lim), p + "/limit"));
            long swap = m.Swap ?? 0;
            if (m.Limit == -1 && swap == 0) swap = -1; // unlimited memory: unlimited memory+swap too (runc)
            if (swap != 0) w.Add(new("memory", "memory.memsw.limit_in_bytes", S(swap), p + "/swap"));
            if (m.Reservation is long res && res != 0) w.Add(new("memory", "memory.soft_limit_in_bytes", S(res), p + "/reservation"));
            if (m.Kernel is long k && k != 0) warnings?.Add($"{p}/kernel: kernel memory limits are deprecated and ignored");
            if (m.KernelTCP is long kt && kt != 0) w.Add(new("memory", "memory.kmem.tcp.limit_in_bytes", S(kt), p + "/kernelTCP"));
            if (m.Swappiness is ulong sw) w.Add(new("memory", "memory.swappiness", S(sw), p + "/swappiness"));
            if (m.DisableOOMKiller == true) w.Add(new("memory", "memory.oom_control", "1", p + "/disableOOMKiller"));
            if (m.UseHierarchy is bool uh) w.Add(new("memory", "memory.use_hierarchy", uh ? "1" : "0", p + "/useHierarchy"));
        }
        if (r.CPU is { } c)
        {
            const string p = Prefix + "/cpu";
            if (c.Shares is ulong sh && sh != 0) w.Add(new("cpu", "cpu.shares", S(sh), p + "/shares"));
            if (c.Period is ulong per && per != 0) w.Add(new("cpu", "cpu.cfs_period_us", S(per), p + "/period"));
            if (c.Quota is long q && q != 0) w.Add(new("cpu", "cpu.cfs_quota_us", S(q < 0 ? -1 : q), p + "/quota"));
            if (c.Burst is ulong b) w.Add(new("cpu", "cpu.cfs_burst_us", S(b), p + "/burst"));
            if (c.RealtimePeriod is ulong rp && rp != 0) w.Add(new("cpu", "cpu.rt_period_us", S(rp), p + "/realtimePeriod"));
            if (c.RealtimeRuntime is long rr && rr != 0) w.Add(new("cpu", "cpu.rt_runtime_us", S(rr), p + "/realtimeRuntime"));
            if (c.Idle is long idle) w.Add(new("cpu", "cpu.idle", S(idle), p + "/idle"));
            if (c.Cpus is { Length: > 0 } cpus) w.Add(new("cpuset", "cpuset.cpus", cpus, p + "/cpus"));
            if (c.Mems is { Length: > 0 } mems) w.Add(new("cpuset", "cpuset.mems", mems, p + "/mems"));
        }
        if (r.Pids is { } pids)
            w.Add(new("pids", "pids.max", pids.Limit > 0 ? S(pids.Limit) : "max", Prefix + "/pids/limit"));
        if (r.BlockIO is { } bio)
        {
            const string p = Prefix + "/blockIO";
            if (bio.Weight is ushort bw && bw != 0)
                w.Add(new("blkio", "blkio.weight", S(bw), p + "/weight", "blkio.bfq.weight"));
            if (bio.LeafWeight is ushort lw && lw != 0) w.Add(new("blkio", "blkio.leaf_weight", S(lw), p + "/leafWeight"));
            for (int i = 0; i < bio.WeightDevice.Count; i++)
            {
                var d = bio.WeightDevice[i];
                if (d.Weight is ushort dw)
                    w.Add(new("blkio", "blkio.weight_device", $"{d.Major}:{d.Minor} {dw}", $"{p}/weightDevice/{i}/weight", "blkio.bfq.weight_device"));
                if (d.LeafWeight is ushort dlw)
                    w.Add(new("blkio", "blkio.leaf_weight_device", $"{d.Major}:{d.Minor} {dlw}", $"{p}/weightDevice/{i}/leafWeight"));
            }
            Throttle(w, bio.ThrottleReadBpsDevice, "blkio.throttle.read_bps_device", p + "/throttleReadBpsDevice");
            Throttle(w, bio.ThrottleWriteBpsDevice, "blkio.throttle.write_bps_device", p + "/throttleWriteBpsDevice");
            Throttle(w, bio.ThrottleReadIOPSDevice, "blkio.throttle.read_iops_device", p + "/throttleReadIOPSDevice");
            Throttle(w, bio.ThrottleWriteIOPSDevice, "blkio.throttle.write_iops_device", p + "/throttleWriteIOPSDevice");
        }
        for (int i = 0; i < r.HugepageLimits.Count; i++)
        {
            var h = r.HugepageLimits[i];
            w.Add(new("hugetlb", $"hugetlb.{HugetlbSize(h.Pagesize)}.limit_in_bytes", S(h.Limit), $"{Prefix}/hugepageLimits/{i}"));
        }
        if (r.Network is { } net)
        {
            if (net.ClassID is uint cls) w.Add(new("net_cls", "net_cls.classid", S(cls), Prefix + "/network/classID"));
            for (int i = 0; i < net.Priorities.Count; i++)
                w.Add(new("net_prio", "net_prio.ifpriomap", $"{net.Priorities[i].Name} {net.Priorities[i].Priority}", $"{Prefix}/network/priorities/{i}"));
        }
        foreach (var (dev, lim) in r.Rdma.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            if (RdmaValue(dev, lim) is { } v) w.Add(new("rdma", "rdma.max", v, $"{Prefix}/rdma/{Esc(dev)}"));
        foreach (var (key, value) in r.Unified.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            string controller = UnifiedController(key);
            if (!hybrid)
                throw new HuskException($"{Prefix}/unified/{Esc(key)}: invalid configuration: cannot use unified on cgroup v1 (this host has no cgroup2 hierarchy)");
            if (controller.Length > 0 && unifiedControllers?.Contains(controller) != true)
                throw new HuskException($"{Prefix}/unified/{Esc(key)}: invalid configuration: cannot use unified on cgroup v1 (the {controller} controller is not in this hybrid host's cgroup2 hierarchy)");
            w.Add(new("unified", key, value, $"{Prefix}/unified/{Esc(key)}"));
        }
        return w;
    }

    static void Throttle(List<CgroupWrite> w, List<LinuxThrottleDevice> devs, string file, string pointer)
    {
        for (int i = 0; i < devs.Count; i++)
            w.Add(new("blkio", file, $"{devs[i].Major}:{devs[i].Minor} {devs[i].Rate}", $"{pointer}/{i}"));
    }

    static string? RdmaValue(string dev, LinuxRdma lim)
    {
        var parts = new List<string>();
        if (lim.HcaHandles is uint h) parts.Add($"hca_handle={h}");
        if (lim.HcaObjects is uint o) parts.Add($"hca_object={o}");
        return parts.Count == 0 ? null : $"{dev} {string.Join(' ', parts)}";
    }

    static string Esc(string key) => key.Replace("~", "~0").Replace("/", "~1");

    /// <summary>The v2 writes. Unified keys come last and replace a converted value of the same file.</summary>
    public static List<CgroupWrite> V2(LinuxResources r, List<string>? warnings = null)
    {
        var w = new List<CgroupWrite>();
        if (r.Memory is { } m)
        {
            const string p = Prefix + "/memory";
            long lim = m.Limit ?? 0;
            if (lim != 0) w.Add(new("memory", "memory.max", lim < 0 ? "max" : S(lim), p + "/limit"));
            long swap = MemorySwapToV2(m.Swap ?? 0, lim);
            // A computed 0 (swap == limit) means "no swap" and is written; only an absent swap is skipped.
            if (swap != 0 || (m.Swap is long given && given != 0)) w.Add(new("memory", "memory.swap.max", swap < 0 ? "max" : S(swap), p + "/swap"));
            if (m.Reservation is long res && res != 0) w.Add(new("memory", "memory.low", res < 0 ? "max" : S(res), p + "/reservation"));
            if (m.Kernel is long k && k != 0) warnings?.Add($"{p}/kernel: kernel memory limits are deprecated and ignored");
            if (m.KernelTCP is long kt && kt != 0) warnings?.Add($"{p}/kernelTCP: not a cgroup v2 setting (kernel memory is always accounted in memory.max); ignored");
            if (m.Swappiness is ulong sw)
                throw new HuskException($"{p}/swappiness: memory.swappiness ({sw}) is a cgroup v1 setting; this host uses cgroup v2");
            if (m.DisableOOMKiller == true)
                throw new HuskException($"{p}/disableOOMKiller: disabling the OOM killer is a cgroup v1 setting; this host uses cgroup v2");
            if (m.UseHierarchy == false)
                throw new HuskException($"{p}/useHierarchy: cgroup v2 is always hierarchical; false cannot be honoured");
        }
        if (r.CPU is { } c)
        {
            const string p = Prefix + "/cpu";
            if (c.Shares is ulong sh && sh != 0) w.Add(new("cpu", "cpu.weight", S(SharesToWeight(sh)), p + "/shares"));
            long q = c.Quota ?? 0;
            ulong per = c.Period ?? 0;
            if (q != 0 || per != 0)
            {
                string v = q > 0 ? S(q) : "max";
                if (per != 0) v += " " + S(per);
                w.Add(new("cpu", "cpu.max", v, q != 0 ? p + "/quota" : p + "/period"));
            }
            if (c.Burst is ulong b) w.Add(new("cpu", "cpu.max.burst", S(b), p + "/burst"));
            if (c.RealtimeRuntime is long rr && rr != 0)
                throw new HuskException($"{p}/realtimeRuntime: realtime scheduling limits are a cgroup v1 setting; this host uses cgroup v2");
            if (c.RealtimePeriod is ulong rp && rp != 0)
                throw new HuskException($"{p}/realtimePeriod: realtime scheduling limits are a cgroup v1 setting; this host uses cgroup v2");
            if (c.Idle is long idle) w.Add(new("cpu", "cpu.idle", S(idle), p + "/idle"));
            if (c.Cpus is { Length: > 0 } cpus) w.Add(new("cpuset", "cpuset.cpus", cpus, p + "/cpus"));
            if (c.Mems is { Length: > 0 } mems) w.Add(new("cpuset", "cpuset.mems", mems, p + "/mems"));
        }
        if (r.Pids is { } pids)
            w.Add(new("pids", "pids.max", pids.Limit > 0 ? S(pids.Limit) : "max", Prefix + "/pids/limit"));
        if (r.BlockIO is { } bio)
        {
            const string p = Prefix + "/blockIO";
            if (bio.Weight is ushort bw && bw != 0)
                w.Add(new("io", "io.bfq.weight", S(bw), p + "/weight", "io.weight", "default " + S(BlkioWeightToIOWeight(bw))));
            if (bio.LeafWeight is ushort lw && lw != 0)
                throw new HuskException($"{p}/leafWeight: leaf weights are a cgroup v1 setting; this host uses cgroup v2");
            for (int i = 0; i < bio.WeightDevice.Count; i++)
            {
                var d = bio.WeightDevice[i];
                if (d.LeafWeight is ushort dlw && dlw != 0)
                    throw new HuskException($"{p}/weightDevice/{i}/leafWeight: leaf weights are a cgroup v1 setting; this host uses cgroup v2");
                if (d.Weight is ushort dw)
                    w.Add(new("io", "io.bfq.weight", $"{d.Major}:{d.Minor} {dw}", $"{p}/weightDevice/{i}/weight",
                        "io.weight", $"{d.Major}:{d.Minor} {BlkioWeightToIOWeight(dw)}"));
            }
            IoMax(w, bio.ThrottleReadBpsDevice, "rbps", p + "/throttleReadBpsDevice");
            IoMax(w, bio.ThrottleWriteBpsDevice, "wbps", p + "/throttleWriteBpsDevice");
            IoMax(w, bio.ThrottleReadIOPSDevice, "riops", p + "/throttleReadIOPSDevice");
            IoMax(w, bio.ThrottleWriteIOPSDevice, "wiops", p + "/throttleWriteIOPSDevice");
        }
        for (int i = 0; i < r.HugepageLimits.Count; i++)
        {
            var h = r.HugepageLimits[i];
            w.Add(new("hugetlb", $"hugetlb.{HugetlbSize(h.Pagesize)}.max", S(h.Limit), $"{Prefix}/hugepageLimits/{i}"));
        }
        if (r.Network is { } net && (net.ClassID != null || net.Priorities.Count > 0))
            throw new HuskException($"{Prefix}/network: net_cls and net_prio are cgroup v1 controllers; this host uses cgroup v2");
        foreach (var (dev, lim) in r.Rdma.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            if (RdmaValue(dev, lim) is { } v) w.Add(new("rdma", "rdma.max", v, $"{Prefix}/rdma/{Esc(dev)}"));
        foreach (var (key, value) in r.Unified.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            w.RemoveAll(x => x.File == key);
            w.Add(new(UnifiedController(key), key, value, $"{Prefix}/unified/{Esc(key)}"));
        }
        return w;
    }

    static void IoMax(List<CgroupWrite> w, List<LinuxThrottleDevice> devs, string key, string pointer)
    {
        for (int i = 0; i < devs.Count; i++)
            w.Add(new("io", "io.max", $"{devs[i].Major}:{devs[i].Minor} {key}={devs[i].Rate}", $"{pointer}/{i}"));
    }

    /// <summary>The controller a v2 file belongs to: its name up to the first dot; "" for core files (cgroup.*).</summary>
    public static string UnifiedController(string file)
    {
        int dot = file.IndexOf('.');
        string c = dot > 0 ? file[..dot] : file;
        return c == "cgroup" ? "" : c;
    }

    /// <summary>
    /// `update`: <paramref name="current"/> with every setting given in <paramref name="changes"/> replacing its value
    /// (absent, null or empty in <paramref name="changes"/> keeps the current one; maps merge by key, hugepage limits
    /// by page size). Returns a new object.
    /// </summary>
    public static LinuxResources Merge(LinuxResources? current, LinuxResources changes)
    {
        var result = LinuxResources.Shape.Merge(current ?? new LinuxResources(), changes);
        if (changes.HugepageLimits.Count > 0)
            result.HugepageLimits =
            [
                .. (current?.HugepageLimits ?? []).Where(h => !changes.HugepageLimits.Any(c => c.Pagesize == h.Pagesize)),
                .. changes.HugepageLimits,
            ];
        return result;
    }

    /// <summary>
    /// Only the settings present in <paramref name="changes"/>, with v1/v2 semantics that need the full
    /// picture taken from <paramref name="merged"/> (v2 swap needs the limit, v2 cpu.max the quota and the period).
    /// </summary>
    public static LinuxResources ForUpdate(LinuxResources changes, LinuxResources merged)
    {
        var r = LinuxResources.Shape.Copy(changes);
        r.Devices = [];
        if (r.Memory is { } m && merged.Memory is { } mm)
        {
            // memory.swap.max on v2 is computed from both; give both whenever either changes.
            if (m.Swap != null || m.Limit != null)
            {
                m.Limit ??= mm.Limit;
                m.Swap ??= mm.Swap;
            }
        }
        // cpu.max on v2 holds both: a period alone would write "max PERIOD" and lift the quota. On v1 the
        // quota goes with a new period too, so a period the kernel refuses first can follow it (WriteInOrder).
        if (r.CPU is { } c && merged.CPU is { } mc && (c.Quota != null || c.Period != null))
        {
            c.Quota ??= mc.Quota;
            c.Period ??= mc.Period;
        }
        return r;
    }
}
