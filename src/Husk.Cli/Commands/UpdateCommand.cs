using System.Globalization;
using Husk.Container;
using Husk.Spec;

namespace Husk.Cli.Commands;

/// <summary>
/// `husk update`: change the cgroup limits of a container, from runc's flags or from a
/// linux.resources JSON document (--resources FILE, or - for stdin). Only the settings given change.
/// </summary>
public sealed class UpdateCommand : Command
{
    public override string Name => "update";
    public override string Usage => "[command options] <container-id>";
    public override string Summary => "update container resource constraints";

    static readonly TextFlag Resources = new("resources", "path to the file containing the resources to update or '-' to read from the standard input", "r");
    static readonly TextFlag BlkioWeight = new("blkio-weight", "specifies per cgroup weight, range is from 10 to 1000");
    static readonly TextFlag CpuPeriod = new("cpu-period", "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default");
    static readonly TextFlag CpuQuota = new("cpu-quota", "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period");
    static readonly TextFlag CpuShare = new("cpu-share", "CPU shares (relative weight vs. other containers)", "cpu-shares");
    static readonly TextFlag CpuRtPeriod = new("cpu-rt-period", "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default");
    static readonly TextFlag CpuRtRuntime = new("cpu-rt-runtime", "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period");
    static readonly TextFlag CpusetCpus = new("cpuset-cpus", "CPU(s) to use");
    static readonly TextFlag CpusetMems = new("cpuset-mems", "Memory node(s) to use");
    static readonly TextFlag KernelMemory = new("kernel-memory", "(ignored: kernel memory limits are deprecated)");
    static readonly TextFlag KernelMemoryTcp = new("kernel-memory-tcp", "(ignored: kernel memory limits are deprecated)");
    static readonly TextFlag Memory = new("memory", "Memory limit (in bytes)");
    static readonly TextFlag MemoryReservation = new("memory-reservation", "Memory reservation or soft_limit (in bytes)");
    static readonly TextFlag MemorySwap = new("memory-swap", "Total memory usage (memory + swap); set '-1' to enable unlimited swap");
    static readonly TextFlag PidsLimit = new("pids-limit", "Maximum number of pids allowed in the container");
    static readonly TextFlag L3CacheSchema = new("l3-cache-schema", "The string of Intel RDT/CAT L3 cache schema");
    static readonly TextFlag MemBwSchema = new("mem-bw-schema", "The string of Intel RDT/MBA memory bandwidth schema");

    public override IReadOnlyList<Flag> Flags =>
    [
        Resources, BlkioWeight, CpuPeriod, CpuQuota, CpuShare, CpuRtPeriod,
        CpuRtRuntime, CpusetCpus, CpusetMems, KernelMemory, KernelMemoryTcp, Memory,
        MemoryReservation, MemorySwap, PidsLimit, L3CacheSchema, MemBwSchema,
    ];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        var id = RequireId(args);
        if (args.Has(L3CacheSchema) || args.Has(MemBwSchema))
            throw new HuskException("update: Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported by husk");
        foreach (var f in new[] { KernelMemory, KernelMemoryTcp })
            if (args.Has(f)) Log.Warn($"update: --{f.Name} is ignored (kernel memory limits are deprecated)");

        LinuxResources changes;
        if (args.Get(Resources) is { } src)
        {
            changes = src == "-"
                ? SpecJson.ParseResources(Console.In.ReadToEnd(), "stdin")
                : SpecJson.LoadResources(src);
        }
        else changes = new LinuxResources();
        FromFlags(args, changes);

        bool any = changes.Memory != null || changes.CPU != null || changes.Pids != null || changes.BlockIO != null
            || changes.HugepageLimits.Count > 0 || changes.Network != null || changes.Rdma.Count > 0
            || changes.Unified.Count > 0 || changes.Devices.Count > 0;
        if (!any)
        {
            if (args.Has(KernelMemory) || args.Has(KernelMemoryTcp)) return 0;
            throw new HuskException("update: nothing to update (give --resources or a flag such as --memory)");
        }
        ResourceOperations.Update(global.Store, id, changes);
        return 0;
    }

    static void FromFlags(ParsedArgs a, LinuxResources r)
    {
        if (a.Get(Memory) is { } m) (r.Memory ??= new()).Limit = Bytes(Memory, m);
        if (a.Get(MemoryReservation) is { } mr) (r.Memory ??= new()).Reservation = Bytes(MemoryReservation, mr);
        if (a.Get(MemorySwap) is { } ms) (r.Memory ??= new()).Swap = Bytes(MemorySwap, ms);
        if (a.Get(CpuShare) is { } cs) (r.CPU ??= new()).Shares = U64(CpuShare, cs);
        if (a.Get(CpuPeriod) is { } cp) (r.CPU ??= new()).Period = U64(CpuPeriod, cp);
        if (a.Get(CpuQuota) is { } cq) (r.CPU ??= new()).Quota = I64(CpuQuota, cq);
        if (a.Get(CpuRtPeriod) is { } rp) (r.CPU ??= new()).RealtimePeriod = U64(CpuRtPeriod, rp);
        if (a.Get(CpuRtRuntime) is { } rr) (r.CPU ??= new()).RealtimeRuntime = I64(CpuRtRuntime, rr);
        if (a.Get(CpusetCpus) is { } cc) (r.CPU ??= new()).Cpus = cc;
        if (a.Get(CpusetMems) is { } cm) (r.CPU ??= new()).Mems = cm;
        if (a.Get(PidsLimit) is { } pl) r.Pids = new LinuxPids { Limit = I64(PidsLimit, pl) };
        if (a.Get(BlkioWeight) is { } bw)
        {
            ulong w = U64(BlkioWeight, bw);
            if (w > ushort.MaxValue) throw new HuskException($"--{BlkioWeight.Name}: {bw} is out of range");
            (r.BlockIO ??= new()).Weight = (ushort)w;
        }
    }

    static ulong U64(Flag flag, string v) => ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
        ? n : throw new HuskException($"--{flag.Name}: invalid value \"{v}\" (expected an unsigned number)");

    static long I64(Flag flag, string v) => long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
        ? n : throw new HuskException($"--{flag.Name}: invalid value \"{v}\" (expected a number)");

    /// <summary>A byte size as runc's units.RAMInBytes takes it: "-1", "1024", "512k", "64m", "1g", "2GiB".</summary>
    static long Bytes(Flag flag, string v)
    {
        var s = v.Trim();
        if (s == "-1") return -1;
        int i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
        if (i == 0 || !double.TryParse(s[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n))
            throw new HuskException($"--{flag.Name}: invalid size \"{v}\"");
        string unit = s[i..].Trim().ToLowerInvariant();
        if (unit.EndsWith("ib")) unit = unit[..^2];
        else if (unit.EndsWith('b')) unit = unit[..^1];
        long mult = unit switch
        {
            "" => 1, "k" => 1L << 10, "m" => 1L << 20, "g" => 1L << 30, "t" => 1L << 40, "p" => 1L << 50,
            _ => throw new HuskException($"--{flag.Name}: invalid size \"{v}\" (units: k, m, g, t, p)"),
        };
        return (long)(n * mult);
    }
}
