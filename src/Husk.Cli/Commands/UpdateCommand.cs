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
    public override IReadOnlyList<Flag> Flags =>
    [
        new("resources", true, "path to the file containing the resources to update or '-' to read from the standard input", "r"),
        new("blkio-weight", true, "specifies per cgroup weight, range is from 10 to 1000"),
        new("cpu-period", true, "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default"),
        new("cpu-quota", true, "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"),
        new("cpu-share", true, "CPU shares (relative weight vs. other containers)", "cpu-shares"),
        new("cpu-rt-period", true, "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default"),
        new("cpu-rt-runtime", true, "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period"),
        new("cpuset-cpus", true, "CPU(s) to use"),
        new("cpuset-mems", true, "Memory node(s) to use"),
        new("kernel-memory", true, "(ignored: kernel memory limits are deprecated)"),
        new("kernel-memory-tcp", true, "(ignored: kernel memory limits are deprecated)"),
        new("memory", true, "Memory limit (in bytes)"),
        new("memory-reservation", true, "Memory reservation or soft_limit (in bytes)"),
        new("memory-swap", true, "Total memory usage (memory + swap); set '-1' to enable unlimited swap"),
        new("pids-limit", true, "Maximum number of pids allowed in the container"),
        new("l3-cache-schema", true, "The string of Intel RDT/CAT L3 cache schema"),
        new("mem-bw-schema", true, "The string of Intel RDT/MBA memory bandwidth schema"),
    ];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        var id = RequireId(args);
        if (args.Has("l3-cache-schema") || args.Has("mem-bw-schema"))
            throw new HuskException("update: Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported by husk");
        foreach (var f in new[] { "kernel-memory", "kernel-memory-tcp" })
            if (args.Has(f)) Log.Warn($"update: --{f} is ignored (kernel memory limits are deprecated)");

        LinuxResources changes;
        if (args.Value("resources") is { } src)
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
            if (args.Has("kernel-memory") || args.Has("kernel-memory-tcp")) return 0;
            throw new HuskException("update: nothing to update (give --resources or a flag such as --memory)");
        }
        ResourceOperations.Update(global.Store, id, changes);
        return 0;
    }

    static void FromFlags(ParsedArgs a, LinuxResources r)
    {
        if (a.Value("memory") is { } m) (r.Memory ??= new()).Limit = Bytes("memory", m);
        if (a.Value("memory-reservation") is { } mr) (r.Memory ??= new()).Reservation = Bytes("memory-reservation", mr);
        if (a.Value("memory-swap") is { } ms) (r.Memory ??= new()).Swap = Bytes("memory-swap", ms);
        if (a.Value("cpu-share") is { } cs) (r.CPU ??= new()).Shares = U64("cpu-share", cs);
        if (a.Value("cpu-period") is { } cp) (r.CPU ??= new()).Period = U64("cpu-period", cp);
        if (a.Value("cpu-quota") is { } cq) (r.CPU ??= new()).Quota = I64("cpu-quota", cq);
        if (a.Value("cpu-rt-period") is { } rp) (r.CPU ??= new()).RealtimePeriod = U64("cpu-rt-period", rp);
        if (a.Value("cpu-rt-runtime") is { } rr) (r.CPU ??= new()).RealtimeRuntime = I64("cpu-rt-runtime", rr);
        if (a.Value("cpuset-cpus") is { } cc) (r.CPU ??= new()).Cpus = cc;
        if (a.Value("cpuset-mems") is { } cm) (r.CPU ??= new()).Mems = cm;
        if (a.Value("pids-limit") is { } pl) r.Pids = new LinuxPids { Limit = I64("pids-limit", pl) };
        if (a.Value("blkio-weight") is { } bw)
        {
            ulong w = U64("blkio-weight", bw);
            if (w > ushort.MaxValue) throw new HuskException($"--blkio-weight: {bw} is out of range");
            (r.BlockIO ??= new()).Weight = (ushort)w;
        }
    }

    static ulong U64(string flag, string v) => ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
        ? n : throw new HuskException($"--{flag}: invalid value \"{v}\" (expected an unsigned number)");

    static long I64(string flag, string v) => long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
        ? n : throw new HuskException($"--{flag}: invalid value \"{v}\" (expected a number)");

    /// <summary>A byte size as runc's units.RAMInBytes takes it: "-1", "1024", "512k", "64m", "1g", "2GiB".</summary>
    public static long Bytes(string flag, string v)
    {
        var s = v.Trim();
        if (s == "-1") return -1;
        int i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
        if (i == 0 || !double.TryParse(s[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n))
            throw new HuskException($"--{flag}: invalid size \"{v}\"");
        string unit = s[i..].Trim().ToLowerInvariant();
        if (unit.EndsWith("ib")) unit = unit[..^2];
        else if (unit.EndsWith('b')) unit = unit[..^1];
        long mult = unit switch
        {
            "" => 1, "k" => 1L << 10, "m" => 1L << 20, "g" => 1L << 30, "t" => 1L << 40, "p" => 1L << 50,
            _ => throw new HuskException($"--{flag}: invalid size \"{v}\" (units: k, m, g, t, p)"),
        };
        return (long)(n * mult);
    }
}
