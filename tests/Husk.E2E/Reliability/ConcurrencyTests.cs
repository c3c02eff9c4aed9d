using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Reliability;

/// <summary>
/// Many husk commands at once: on one id (create/start/kill/delete/state races) and on many ids
/// (containers through their whole life, in parallel). Every command succeeds or fails in one
/// line, every `state` output is a whole document, and at the end the mounts, the cgroups, the
/// open fds of this process and --root are back where they started.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public class ConcurrencyTests(ITestOutputHelper output)
{
    static readonly RunOptions Slow = new() { Timeout = TimeSpan.FromSeconds(90) };

    [Fact]
    public void Ten_parallel_creates_of_one_id_exactly_one_wins()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        for (int round = 0; round < 3; round++)
        {
            var id = root.NewId("race");
            var results = RunParallel(Enumerable.Repeat<string[]>(["create", "--bundle", bundle.Dir, id], 10), root);
            foreach (var r in results) Outcome.AssertClean(r, "a racing create");
            Assert.True(results.Count(r => r.ExitCode == 0) == 1,
                $"round {round}: {results.Count(r => r.ExitCode == 0)} creates of one id succeeded:\n{string.Join("\n", results.Select(r => $"{r.ExitCode} {r.Stderr.Trim()}"))}");
            Assert.All(results.Where(r => r.ExitCode != 0), r => Assert.Contains("already exists", r.Stderr));
            var st = root.Run(Slow, "state", id).AssertSuccess();
            Assert.Null(Outcome.StateProblem(st, id));
            Assert.Equal("created", (string)JsonNode.Parse(st.Stdout)!["status"]!);
            root.Run(Slow, "delete", id).AssertSuccess();
            Leftovers.AssertClean(root.Path, [id], [bundle.Dir], $"round {round}");
        }
    }

    [Fact]
    public void Create_start_kill_delete_and_state_racing_on_one_id_never_tear_or_leak()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "30");
        int seed = Environment.TickCount;
        var rng = new Random(seed);
        output.WriteLine($"seed {seed}");
        var ids = new List<string>();
        var problems = new ConcurrentBag<string>();
        for (int round = 0; round < 20; round++)
        {
            var id = root.NewId("race");
            ids.Add(id);
            var commands = new List<string[]>
            {
                new[] { "create", "--bundle", bundle.Dir, id }, new[] { "create", "--bundle", bundle.Dir, id },
                new[] { "start", id }, new[] { "start", id }, new[] { "kill", id, "KILL" }, new[] { "kill", id, "TERM" },
                new[] { "state", id }, new[] { "state", id }, new[] { "state", id }, new[] { "list" },
                new[] { "delete", id }, new[] { "delete", "--force", id }, new[] { "create", "--bundle", bundle.Dir, id },
                new[] { "pause", id }, new[] { "resume", id }, new[] { "ps", id },
            };
            var shuffled = commands.OrderBy(_ => rng.Next()).ToList();
            var results = RunParallel(shuffled, root);
            foreach (var (cmd, r) in shuffled.Zip(results))
            {
                if (Outcome.Problem(r) is { } p) problems.Add($"round {round}: {string.Join(' ', cmd)}: {p}: {r.Stderr.Trim()}");
                if (cmd[0] == "state" && r.ExitCode == 0 && Outcome.StateProblem(r, id) is { } sp) problems.Add($"round {round}: state: {sp}");
                if (cmd[0] == "list" && r.ExitCode != 0) problems.Add($"round {round}: list failed: {r.Stderr.Trim()}");
            }
            // Whatever the interleaving, the id ends deletable and leaves nothing.
            root.Run(Slow, "delete", "--force", id).AssertSuccess($"round {round}: delete --force after the race");
            Leftovers.AssertClean(root.Path, [id], [bundle.Dir], $"round {round} (seed {seed})");
        }
        Assert.True(problems.IsEmpty, $"seed {seed}:\n{string.Join("\n", problems)}");
        Assert.Empty(Directory.GetFileSystemEntries(root.Path));
    }

    [Fact]
    public void Two_hundred_containers_through_their_whole_life_in_parallel()
    {
        int count = int.TryParse(Environment.GetEnvironmentVariable("HUSK_E2E_PARALLEL_CONTAINERS"), out var c) ? c : 200;
        const int Parallelism = 16;
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "60");
        // The fds of this process, the mounts and cgroups: compared at the end.
        Settle();
        var fdsBefore = Leftovers.OpenFds();

        var ids = Enumerable.Range(0, count).Select(_ => root.NewId("par")).ToList();
        var problems = new ConcurrentBag<string>();
        var sw = Stopwatch.StartNew();
        Parallel.ForEach(ids, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, id =>
        {
            try { Life(root, bundle, id, problems); }
            catch (Exception e) { problems.Add($"{id}: {e.GetType().Name}: {e.Message}"); }
        });
        output.WriteLine($"{count} containers, {Parallelism} at a time: {sw.Elapsed.TotalSeconds:0.0} s");
        Assert.True(problems.IsEmpty, $"{problems.Count} problems:\n{string.Join("\n", problems.Take(30))}");

        Leftovers.AssertClean(root.Path, ids, [bundle.Dir], "after 200 containers");
        Assert.Empty(Directory.GetFileSystemEntries(root.Path));
        // Other engineers' tests mount and unmount on this host at the same time: only our directories are compared.
        Assert.Empty(Mounts.Under(root.Path));
        Assert.Empty(Mounts.Under(bundle.Dir));
        Settle();
        var fdsAfter = Leftovers.OpenFds();
        var extra = fdsAfter.Where(kv => !fdsBefore.TryGetValue(kv.Key, out var t) || t != kv.Value).Select(kv => $"{kv.Key} -> {kv.Value}").ToList();
        // A few fds may belong to the runtime itself (thread pool, epoll); a leak per container would be hundreds.
        Assert.True(fdsAfter.Count <= fdsBefore.Count + 4,
            $"the test process had {fdsBefore.Count} fds before and {fdsAfter.Count} after; new ones:\n{string.Join("\n", extra.Take(40))}");
    }

    /// <summary>create → state → start → state → kill → (stopped) → delete, each checked.</summary>
    static void Life(TestRoot root, Bundle bundle, string id, ConcurrentBag<string> problems)
    {
        Result Step(params string[] args)
        {
            var r = root.Run(Slow, args);
            if (r.ExitCode != 0 || Outcome.Problem(r) != null) problems.Add($"{id}: {string.Join(' ', args[..1])}: exit {r.ExitCode}: {r.Stderr.Trim()}");
            return r;
        }
        string Status()
        {
            var r = Step("state", id);
            if (Outcome.StateProblem(r, id) is { } p) { problems.Add($"{id}: state: {p}"); return "?"; }
            return r.ExitCode == 0 ? (string)JsonNode.Parse(r.Stdout)!["status"]! : "?";
        }
        if (Step("create", "--bundle", bundle.Dir, id).ExitCode != 0) return;
        if (Status() != "created") problems.Add($"{id}: not created after create");
        Step("start", id);
        if (Status() != "running") problems.Add($"{id}: not running after start");
        Step("kill", id, "KILL");
        var sw = Stopwatch.StartNew();
        string s;
        while ((s = Status()) != "stopped" && sw.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(20);
        if (s != "stopped") problems.Add($"{id}: still {s} 30 s after SIGKILL");
        Step("delete", id);
    }

    static List<Result> RunParallel(IEnumerable<string[]> commands, TestRoot root)
    {
        var list = commands.ToList();
        var results = new Result[list.Count];
        using var go = new ManualResetEventSlim();
        var threads = list.Select((args, i) => new Thread(() =>
        {
            go.Wait();
            results[i] = root.Run(Slow, args);
        })).ToList();
        foreach (var t in threads) t.Start();
        go.Set();
        foreach (var t in threads) t.Join();
        return results.ToList();
    }

    static void Settle()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Thread.Sleep(200);
    }
}
