using System.Diagnostics;
using System.Text.Json.Nodes;
using Husk.Corpus;
using Xunit;

namespace Husk.E2E.Reliability;

/// <summary>
/// The bad-input corpus and the mutation generator through the real binary: each config goes
/// through `husk create` (then `state` and `delete` when it succeeded). Each case must give one
/// clear line and exit 1, or a correct container; never a stack trace or a hang; and leave no
/// state directory, cgroup, process or mount behind.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public class BadInputCreateTests(ITestOutputHelper output)
{
    static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Files outside the container that a "..": escape in a corpus config would create.</summary>
    static readonly string[] EscapeMarkers =
        ["/tmp/husk-corpus-escape", "/tmp/husk-corpus-cwd", "/tmp/husk-corpus-dev", "/tmp/husk-fuzz-escape", "/husk-fuzz-escape"];

    /// <summary>Runs one case; returns what went wrong, or null.</summary>
    static string? CreateCase(TestRoot root, Bundle bundle, string name, byte[] config, Expect expect, out bool created)
    {
        created = false;
        // A valid config may ask for what this host cannot give (blockIO weights without BFQ, a
        // controller missing from cgroup v2): then create must refuse it in one line naming it.
        var unhonoured = expect == Expect.Ok ? HostFacts.Here.Unhonoured(JsonNode.Parse(StripBom(config))!) : [];
        string lacking = string.Join(", ", unhonoured.Select(u => u.Pointer));
        File.WriteAllBytes(bundle.ConfigPath, config);
        var id = root.NewId("bad");
        var opts = new RunOptions { Timeout = CommandTimeout };
        var r = root.Run(opts, "create", "--bundle", bundle.Dir, id);
        var problems = new List<string>();
        if (Outcome.Problem(r) is { } p) problems.Add($"create: {p}: {Outcome.Short(r.Stderr)}");
        if (r.ExitCode == 0)
        {
            created = true;
            if (expect is Expect.Err or Expect.Fail) problems.Add("create succeeded but the config must be refused");
            if (unhonoured.Count > 0) problems.Add($"create succeeded but husk check says this host cannot honour {lacking}");
            var st = root.Run(opts, "state", id);
            if (Outcome.StateProblem(st, id) is { } sp) problems.Add($"state: {sp}");
            else if (!st.Stdout.Contains("\"status\":\"created\"", StringComparison.Ordinal) && !st.Stdout.Contains("\"status\": \"created\"", StringComparison.Ordinal))
                problems.Add($"state after create: {Outcome.Short(st.Stdout)}");
            var d = root.Run(opts, "delete", id);
            if (d.ExitCode != 0) problems.Add($"delete: {Outcome.Short(d.Stderr)}");
        }
        else if (expect == Expect.Ok && unhonoured.Count == 0) problems.Add($"create failed but the config is valid: {Outcome.Short(r.Stderr)}");
        else if (expect == Expect.Ok && !unhonoured.Any(u => r.Stderr.Contains(u.Pointer, StringComparison.Ordinal)))
            problems.Add($"create failed without naming what this host cannot honour ({lacking}): {Outcome.Short(r.Stderr)}");

        var left = Leftovers.Find(root.Path, [id], [bundle.Dir]);
        if (left.Count > 0)
        {
            problems.Add("left behind: " + string.Join(", ", left));
            root.Run(opts, "delete", "--force", id);
        }
        foreach (var m in EscapeMarkers)
            if (File.Exists(m) || Directory.Exists(m))
            {
                problems.Add($"{m} was created on the host");
                try { if (Directory.Exists(m)) Directory.Delete(m, true); else File.Delete(m); } catch (Exception) { }
            }
        if (Directory.GetFileSystemEntries(root.Path).Length > 0)
            problems.Add($"--root is not empty: {string.Join(", ", Directory.GetFileSystemEntries(root.Path))}");
        return problems.Count == 0 ? null : $"{name}: {string.Join("; ", problems)}";
    }

    static byte[] StripBom(byte[] b) => b is [0xEF, 0xBB, 0xBF, ..] ? b[3..] : b;

    void RunCases(IEnumerable<CorpusCase> cases, string what)
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        var failures = new List<string>();
        int n = 0, created = 0;
        var sw = Stopwatch.StartNew();
        foreach (var c in cases)
        {
            n++;
            if (CreateCase(root, bundle, c.Name, c.Bytes, c.Expect, out bool ok) is { } f) failures.Add(f);
            if (ok) created++;
        }
        output.WriteLine($"{what}: {n} configs in {sw.Elapsed.TotalSeconds:0.0} s, {created} created, {n - created} refused, {failures.Count} problems");
        Assert.True(failures.Count == 0, $"{failures.Count} of {n} {what} configs misbehaved:\n{string.Join("\n", failures)}");
    }

    [Fact]
    public void Every_corpus_config_is_refused_in_one_line_or_runs_and_leaves_nothing() =>
        RunCases(CorpusCases.Configs(includeGenerated: false), "corpus");

    [Fact]
    public void Generated_10MB_and_huge_configs_are_refused_in_one_line_or_run_and_leave_nothing() =>
        RunCases(CorpusCases.GeneratedConfigs(), "generated");

    /// <summary>
    /// Every process.json of the corpus through `husk exec --process` into a running container:
    /// one clean line or a run of the process; the container stays usable and is deleted clean.
    /// </summary>
    [Fact]
    public void Every_process_corpus_file_through_exec()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "300");
        var id = root.NewId("exec");
        var opts = new RunOptions { Timeout = CommandTimeout };
        root.Run(opts, "run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        var failures = new List<string>();
        var file = Path.Combine(bundle.Dir, "process.json");
        foreach (var c in CorpusCases.Processes())
        {
            File.WriteAllBytes(file, c.Bytes);
            var r = root.Run(opts, "exec", "--process", file, id);
            if (Outcome.Problem(r, errorExitCode: 255) is { } p) failures.Add($"{c.Name}: {p}: {Outcome.Short(r.Stderr)}");
            else if (c.Expect == Expect.Err && r.ExitCode == 0) failures.Add($"{c.Name}: exec succeeded but the process must be refused");
            else if (c.Expect == Expect.Ok && r.ExitCode != 0) failures.Add($"{c.Name}: exec failed: {Outcome.Short(r.Stderr)}");
            var st = root.Run(opts, "state", id);
            if (Outcome.StateProblem(st, id) is { } sp || !st.Stdout.Contains("running", StringComparison.Ordinal))
                failures.Add($"{c.Name}: the container is not running after the exec: {Outcome.Short(st.Stdout + st.Stderr)}");
        }
        root.Run(opts, "delete", "--force", id).AssertSuccess();
        Leftovers.AssertClean(root.Path, [id], [bundle.Dir], "after the process corpus");
        Assert.True(failures.Count == 0, $"{failures.Count} process.json files misbehaved:\n{string.Join("\n", failures)}");
    }

    /// <summary>
    /// Mutants of valid specs through create and delete. What a mutation could turn against the
    /// host is removed first: hooks (they run on the host), cgroupsPath (a shared cgroup would be
    /// destroyed with its processes), namespace paths (joining the host's network namespace would
    /// let sysctl change the host) and sysctl.
    /// </summary>
    [Fact]
    public void Mutated_specs_through_create_and_delete()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("HUSK_E2E_FUZZ_CASES"), out var c) ? c : 150;
        int seed0 = int.TryParse(Environment.GetEnvironmentVariable("HUSK_FUZZ_SEED"), out var s) ? s : 9_000_000;
        var budget = TimeSpan.FromSeconds(60);
        var mutator = new SpecMutator { MaxStringLength = 4096, TextCorruption = 0.1, Sanitize = MakeHarmless };
        string[] bases = [CorpusCases.DefaultConfig, File.ReadAllText(Path.Combine(CorpusCases.Dir, "config", "ok-rich.json"))];

        using var root = new TestRoot();
        using var bundle = new Bundle();
        var failures = new List<string>();
        var sw = Stopwatch.StartNew();
        int n = 0, created = 0;
        for (; n < cases && sw.Elapsed < budget; n++)
        {
            var m = mutator.Create(bases[n % bases.Length], seed0 + n, maxMutations: 3);
            if (CreateCase(root, bundle, $"seed {m.Seed}", m.Bytes, Expect.Any, out bool ok) is { } f)
                failures.Add($"{f}\n    {m.Describe()}");
            if (ok) created++;
            if (failures.Count >= 5) break;
        }
        output.WriteLine($"mutants: {n} (seeds {seed0}..{seed0 + n - 1}) in {sw.Elapsed.TotalSeconds:0.0} s, {created} created");
        Assert.True(failures.Count == 0,
            $"{failures.Count} mutants misbehaved (replay: HUSK_FUZZ_SEED=<seed> HUSK_E2E_FUZZ_CASES=1):\n{string.Join("\n", failures)}");
        Assert.True(n >= Math.Min(cases, 50), $"only {n} mutants ran in {budget.TotalSeconds} s");
        Assert.True(created > 0, "no mutant was a runnable container: the generator breaks everything");
    }

    static void MakeHarmless(JsonObject spec)
    {
        spec.Remove("hooks");
        // The rootfs stays the bundle's (a host directory as rootfs would get the mount points
        // created in it), and bind sources stay inside the bundle (a mount below a bind of a host
        // directory would create its mount point there).
        if (spec["root"] is JsonObject r && r["path"] is JsonValue) r["path"] = "rootfs";
        if (spec["mounts"] is JsonArray mounts)
            foreach (var m in mounts)
                if (m is JsonObject mo && mo["source"] is JsonValue v && v.TryGetValue<string>(out var src) && src.StartsWith('/'))
                    mo["source"] = "rootfs/etc";
        if (spec["linux"] is JsonObject linux)
        {
            linux.Remove("cgroupsPath");
            linux.Remove("sysctl");
            if (linux["namespaces"] is JsonArray ns)
                foreach (var n in ns)
                    if (n is JsonObject o) o.Remove("path");
        }
    }
}
