using System.Globalization;
using System.Text;
using System.Text.Json;
using IOPath = System.IO.Path;

namespace Husk.Cgroups;

/// <summary>
/// The figures `husk events` prints, read from the cgroup files, as runc's events.Stats JSON:
/// {"cpu":{"usage":{...},"throttling":{...}},"memory":{...},"pids":{...},"blkio":{...},"hugetlb":{...}}.
/// cpu, memory and pids are always present (zero where the host does not account them).
/// </summary>
public static class CgroupStats
{
    const ulong Max = ulong.MaxValue;
    const long UserHz = 100;

    /// <summary>Writes the stats object of <paramref name="m"/> to <paramref name="w"/>.</summary>
    internal static void Write(Utf8JsonWriter w, CgroupManagerBase m)
    {
        w.WriteStartObject();
        if (m.IsV2) WriteV2(w, m); else WriteV1(w, m);
        w.WriteStartObject("intel_rdt");
        w.WriteEndObject();
        w.WriteNull("network_interfaces");
        w.WriteEndObject();
    }

    /// <summary>One events line: {"type":TYPE,"id":ID,"data":{...}} (data only for "stats").</summary>
    public static string EventLine(string type, string id, ICgroupManager? m)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            w.WriteString("id", id);
            if (m != null)
            {
                w.WritePropertyName("data");
                m.WriteStats(w);
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static string? Read(string? dir, string file) => dir == null ? null : CgroupFs.TryRead(IOPath.Combine(dir, file));

    static ulong Num(string? text)
    {
        if (text == null) return 0;
        text = text.Trim();
        if (text == "max") return Max;
        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)) return v;
        // v1 reports "unlimited" as a (large) signed -1 in some files
        return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long s) && s < 0 ? Max : 0;
    }

    /// <summary>"key value" lines (memory.stat, cpu.stat, cpuacct.stat, memory.events) as a map.</summary>
    public static Dictionary<string, ulong> KeyValues(string? text)
    {
        var map = new Dictionary<string, ulong>();
        if (text == null) return map;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 2 && ulong.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)) map[f[0]] = v;
        }
        return map;
    }

    static ulong Get(Dictionary<string, ulong> map, string key) => map.TryGetValue(key, out var v) ? v : 0;

    static void Usage(Utf8JsonWriter w, string name, ulong limit, ulong usage, ulong max, ulong failcnt)
    {
        w.WriteStartObject(name);
        w.WriteNumber("limit", limit);
        w.WriteNumber("usage", usage);
        w.WriteNumber("max", max);
        w.WriteNumber("failcnt", failcnt);
        w.WriteEndObject();
    }

    static void Raw(Utf8JsonWriter w, Dictionary<string, ulong> stat)
    {
        w.WriteStartObject("raw");
        foreach (var (k, v) in stat.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteNumber(k, v);
        w.WriteEndObject();
    }

    static void Pids(Utf8JsonWriter w, string? dir, ICgroupManager m)
    {
        w.WriteStartObject("pids");
        // Without a pids controller, count the processes in cgroup.procs.
        w.WriteNumber("current", dir != null ? Num(Read(dir, "pids.current")) : (ulong)m.Pids().Count);
        ulong limit = Num(Read(dir, "pids.max"));
        w.WriteNumber("limit", limit == Max ? 0 : limit);
        w.WriteEndObject();
    }

    static IEnumerable<string> HugeSizes(string? dir, string suffix)
    {
        if (dir == null || !Directory.Exists(dir)) return [];
        return Directory.EnumerateFiles(dir, "hugetlb.*" + suffix)
            .Select(f => IOPath.GetFileName(f)["hugetlb.".Length..^suffix.Length])
            .Where(s => !s.Contains('.')).Order(StringComparer.Ordinal).ToList();
    }

    static void WriteV1(Utf8JsonWriter w, ICgroupManager m)
    {
        string? cpuacct = m.DirectoryOf("cpuacct"), cpu = m.DirectoryOf("cpu"), mem = m.DirectoryOf("memory");
        var acct = KeyValues(Read(cpuacct, "cpuacct.stat"));
        var cpuStat = KeyValues(Read(cpu, "cpu.stat"));
        w.WriteStartObject("cpu");
        w.WriteStartObject("usage");
        w.WriteNumber("total", Num(Read(cpuacct, "cpuacct.usage")));
        w.WriteStartArray("percpu");
        foreach (var v in (Read(cpuacct, "cpuacct.usage_percpu") ?? "").Split(' ', '\n').Where(s => s.Length > 0)) w.WriteNumberValue(Num(v));
        w.WriteEndArray();
        w.WriteNumber("kernel", Get(acct, "system") * (1_000_000_000 / UserHz));
        w.WriteNumber("user", Get(acct, "user") * (1_000_000_000 / UserHz));
        w.WriteEndObject();
        w.WriteStartObject("throttling");
        w.WriteNumber("periods", Get(cpuStat, "nr_periods"));
        w.WriteNumber("throttled_periods", Get(cpuStat, "nr_throttled"));
        w.WriteNumber("throttled_time", Get(cpuStat, "throttled_time"));
        w.WriteEndObject();
        w.WriteEndObject();

        var stat = KeyValues(Read(mem, "memory.stat"));
        w.WriteStartObject("memory");
        w.WriteNumber("cache", Get(stat, "cache"));
        foreach (var (name, prefix) in new[] { ("usage", "memory."), ("swap", "memory.memsw."), ("kernel", "memory.kmem."), ("kernelTCP", "memory.kmem.tcp.") })
            Usage(w, name, Num(Read(mem, prefix + "limit_in_bytes")), Num(Read(mem, prefix + "usage_in_bytes")),
                Num(Read(mem, prefix + "max_usage_in_bytes")), Num(Read(mem, prefix + "failcnt")));
        Raw(w, stat);
        w.WriteEndObject();

        Pids(w, m.DirectoryOf("pids"), m);

        string? blkio = m.DirectoryOf("blkio");
        w.WriteStartObject("blkio");
        BlkioV1(w, "ioServiceBytesRecursive", Read(blkio, "blkio.throttle.io_service_bytes_recursive"));
        BlkioV1(w, "ioServicedRecursive", Read(blkio, "blkio.throttle.io_serviced_recursive"));
        w.WriteEndObject();

        string? huge = m.DirectoryOf("hugetlb");
        w.WriteStartObject("hugetlb");
        foreach (var size in HugeSizes(huge, ".limit_in_bytes"))
        {
            w.WriteStartObject(size);
            w.WriteNumber("usage", Num(Read(huge, $"hugetlb.{size}.usage_in_bytes")));
            w.WriteNumber("max", Num(Read(huge, $"hugetlb.{size}.max_usage_in_bytes")));
            w.WriteNumber("failcnt", Num(Read(huge, $"hugetlb.{size}.failcnt")));
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    static void BlkioV1(Utf8JsonWriter w, string name, string? text)
    {
        w.WriteStartArray(name);
        foreach (var line in (text ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length != 3) continue;
            var mm = f[0].Split(':');
            if (mm.Length != 2) continue;
            w.WriteStartObject();
            w.WriteNumber("major", Num(mm[0]));
            w.WriteNumber("minor", Num(mm[1]));
            w.WriteString("op", f[1]);
            w.WriteNumber("value", Num(f[2]));
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    static void WriteV2(Utf8JsonWriter w, ICgroupManager m)
    {
        string? dir = m.DirectoryOf("");
        var cpuStat = KeyValues(Read(dir, "cpu.stat"));
        w.WriteStartObject("cpu");
        w.WriteStartObject("usage");
        w.WriteNumber("total", Get(cpuStat, "usage_usec") * 1000);
        w.WriteStartArray("percpu");
        w.WriteEndArray();
        w.WriteNumber("kernel", Get(cpuStat, "system_usec") * 1000);
        w.WriteNumber("user", Get(cpuStat, "user_usec") * 1000);
        w.WriteEndObject();
        w.WriteStartObject("throttling");
        w.WriteNumber("periods", Get(cpuStat, "nr_periods"));
        w.WriteNumber("throttled_periods", Get(cpuStat, "nr_throttled"));
        w.WriteNumber("throttled_time", Get(cpuStat, "throttled_usec") * 1000);
        w.WriteEndObject();
        w.WriteEndObject();

        string? mem = m.DirectoryOf("memory");
        var stat = KeyValues(Read(mem, "memory.stat"));
        var events = KeyValues(Read(mem, "memory.events"));
        w.WriteStartObject("memory");
        w.WriteNumber("cache", Get(stat, "file"));
        Usage(w, "usage", Num(Read(mem, "memory.max")), Num(Read(mem, "memory.current")), Num(Read(mem, "memory.peak")), Get(events, "max"));
        Usage(w, "swap", Num(Read(mem, "memory.swap.max")), Num(Read(mem, "memory.swap.current")), Num(Read(mem, "memory.swap.peak")),
            Get(KeyValues(Read(mem, "memory.swap.events")), "max"));
        Raw(w, stat);
        w.WriteEndObject();

        Pids(w, m.DirectoryOf("pids"), m);

        string? io = m.DirectoryOf("io");
        w.WriteStartObject("blkio");
        var bytes = new List<(string Dev, string Op, ulong V)>();
        var ios = new List<(string Dev, string Op, ulong V)>();
        foreach (var line in (Read(io, "io.stat") ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var kv in f.Skip(1))
            {
                var p = kv.Split('=');
                if (p.Length != 2) continue;
                switch (p[0])
                {
                    case "rbytes": bytes.Add((f[0], "Read", Num(p[1]))); break;
                    case "wbytes": bytes.Add((f[0], "Write", Num(p[1]))); break;
                    case "rios": ios.Add((f[0], "Read", Num(p[1]))); break;
                    case "wios": ios.Add((f[0], "Write", Num(p[1]))); break;
                }
            }
        }
        BlkioV1(w, "ioServiceBytesRecursive", string.Join('\n', bytes.Select(b => $"{b.Dev} {b.Op} {b.V}")));
        BlkioV1(w, "ioServicedRecursive", string.Join('\n', ios.Select(b => $"{b.Dev} {b.Op} {b.V}")));
        w.WriteEndObject();

        string? huge = m.DirectoryOf("hugetlb");
        w.WriteStartObject("hugetlb");
        foreach (var size in HugeSizes(huge, ".max"))
        {
            w.WriteStartObject(size);
            w.WriteNumber("usage", Num(Read(huge, $"hugetlb.{size}.current")));
            w.WriteNumber("max", 0); // v2 keeps no peak
            w.WriteNumber("failcnt", Get(KeyValues(Read(huge, $"hugetlb.{size}.events")), "max"));
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
