using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E;

/// <summary>One line of `husk check`: a named check, "ok", "warn" or "fail", and what it found.</summary>
public sealed record HostCheck(string Name, string Status, string Detail)
{
    public bool Ok => Status == "ok";
}

/// <summary>
/// What a host has, as `husk check --format json` reports it. Tests ask here, never the host
/// directly, so a test and `husk check` cannot disagree. A test that needs what the host lacks
/// is skipped with the feature and husk check's line as its reason (<see cref="Require"/>);
/// a test of a setting the host may lack asserts the value where the host has it and the
/// one-line refusal where it has not (<see cref="Unhonoured"/>).
/// </summary>
public sealed class HostFacts
{
    static readonly Lazy<HostFacts> s_here = new(() => Of(HuskCli.Run(new RunOptions { Timeout = TimeSpan.FromSeconds(90) },
        ["--criu", Checkpoint.CriuForTests.Candidate.Path, "check", "--format", "json"]).AssertSuccess("husk check").Stdout));

    /// <summary>This host, asked once per test run (the CRIU checked is the tests' one, see <see cref="Checkpoint.CriuForTests"/>).</summary>
    public static HostFacts Here => s_here.Value;

    readonly Dictionary<string, HostCheck> _checks = new(StringComparer.Ordinal);

    /// <summary>The facts in the JSON array `husk check --format json` prints (a name seen twice keeps its first line).</summary>
    public static HostFacts Of(string checkJson)
    {
        var facts = new HostFacts();
        foreach (var n in JsonNode.Parse(checkJson)!.AsArray())
        {
            var c = new HostCheck((string)n!["name"]!, (string)n["status"]!, (string)n["detail"]!);
            facts._checks.TryAdd(c.Name, c);
        }
        return facts;
    }

    /// <summary>The line named <paramref name="name"/>, or null when husk check does not report it on this host.</summary>
    public HostCheck? Find(string name) => _checks.GetValueOrDefault(name);

    /// <summary>Whether the line <paramref name="name"/> is there and "ok".</summary>
    public bool Has(string name) => Find(name)?.Ok == true;

    /// <summary>"v1", "v2" or "hybrid": the first word of the cgroup.layout line.</summary>
    public string CgroupLayout => Find("cgroup.layout")?.Detail.Split(' ')[0] ?? "none";

    /// <summary>Whether resources go to v1 controllers (a v1 or hybrid host).</summary>
    public bool HasV1 => CgroupLayout is "v1" or "hybrid";

    /// <summary>Whether <paramref name="controller"/> can take linux.resources on this host.</summary>
    public bool HasController(string controller) => Has($"cgroup.controller.{controller}");

    /// <summary>Skips the running test unless check <paramref name="name"/> is ok; the reason names <paramref name="feature"/>.</summary>
    public void Require(string name, string feature)
    {
        if (Has(name)) return;
        Assert.Skip(Find(name) is { } c ? $"host lacks {feature} (husk check {name}: {c.Status}: {c.Detail})" : $"host lacks {feature} (husk check has no {name} line)");
    }

    /// <summary>Skips the running test on a host without cgroup v1 controllers (pure v2).</summary>
    public void RequireV1()
    {
        if (!HasV1) Assert.Skip($"host has no cgroup v1 controllers (husk check cgroup.layout: {Find("cgroup.layout")?.Detail ?? "none"})");
    }

    /// <summary>Skips the running test unless <paramref name="controller"/> can take linux.resources here.</summary>
    public void RequireController(string controller) => Require($"cgroup.controller.{controller}", $"the {controller} cgroup controller");

    /// <summary>
    /// The linux.resources settings of <paramref name="spec"/> (a config.json tree) this host cannot
    /// honour, each as the JSON pointer of the setting (a create that refuses it names a path below
    /// it) and the husk check line that says why.
    /// </summary>
    public List<(string Pointer, string Why)> Unhonoured(JsonNode spec)
    {
        var found = new List<(string, string)>();
        if (spec["linux"]?["resources"] is not JsonObject res) return found;
        const string P = "/linux/resources";
        void Need(bool set, string pointer, string check)
        {
            if (set && !Has(check)) found.Add((pointer, Find(check) is { } c ? $"{check}: {c.Detail}" : $"{check}: not reported on a {CgroupLayout} host"));
        }
        static bool Set(JsonNode? n) => n switch
        {
            null => false,
            JsonObject o => o.Count > 0,
            JsonArray a => a.Count > 0,
            _ => true,
        };
        bool v2 = CgroupLayout == "v2";
        if (res["memory"] is JsonObject mem) Need(Set(mem), $"{P}/memory", "cgroup.controller.memory");
        if (res["cpu"] is JsonObject cpu)
        {
            foreach (var k in new[] { "shares", "quota", "period", "burst", "realtimeRuntime", "realtimePeriod", "idle" })
                Need(Set(cpu[k]), $"{P}/cpu/{k}", "cgroup.controller.cpu");
            foreach (var k in new[] { "cpus", "mems" })
                Need(Set(cpu[k]), $"{P}/cpu/{k}", "cgroup.controller.cpuset");
        }
        if (res["pids"] is JsonObject pids) Need(Set(pids), $"{P}/pids", "cgroup.controller.pids");
        if (res["blockIO"] is JsonObject bio)
        {
            foreach (var k in new[] { "weight", "leafWeight", "weightDevice" })
                Need(Set(bio[k]), $"{P}/blockIO/{k}", "cgroup.blkio.weight");
            foreach (var k in new[] { "throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice" })
                Need(Set(bio[k]), $"{P}/blockIO/{k}", v2 ? "cgroup.controller.io" : "cgroup.controller.blkio");
        }
        Need(Set(res["hugepageLimits"]), $"{P}/hugepageLimits", "cgroup.controller.hugetlb");
        if (res["network"] is JsonObject net)
        {
            Need(Set(net["classID"]), $"{P}/network/classID", "cgroup.controller.net_cls");
            Need(Set(net["priorities"]), $"{P}/network/priorities", "cgroup.controller.net_prio");
        }
        Need(Set(res["rdma"]), $"{P}/rdma", "cgroup.controller.rdma");
        return found;
    }

    /// <summary>Removes from <paramref name="spec"/> what <see cref="Unhonoured"/> lists, so a create of it can succeed here; returns what it removed.</summary>
    public List<(string Pointer, string Why)> Fit(JsonObject spec)
    {
        var gone = Unhonoured(spec);
        foreach (var (pointer, _) in gone)
        {
            var parts = pointer.TrimStart('/').Split('/');
            JsonNode? parent = spec;
            foreach (var p in parts[..^1]) parent = parent?[p];
            (parent as JsonObject)?.Remove(parts[^1]);
        }
        return gone;
    }
}
