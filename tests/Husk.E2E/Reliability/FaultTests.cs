using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Reliability;

/// <summary>
/// Crashes at any point: `husk create` SIGKILLed while a createRuntime or createContainer hook
/// blocks (deterministic) and after a spread of delays (after the clone, during the mounts,
/// before and after state writes); corrupt and truncated state files; an init that dies between
/// create and start. After each: `delete --force` and `list` work, nothing is left, and the id
/// can be used again.
/// </summary>
[Collection(ReliabilityCollection.Name)]
public class FaultTests(ITestOutputHelper output)
{
    static readonly RunOptions Quick = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Starts `husk --root R ARGS` without waiting; output is drained and discarded.</summary>
    static Process StartHusk(TestRoot root, params string[] args)
    {
        var psi = new ProcessStartInfo(HuskCli.BinaryPath)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add("--root");
        psi.ArgumentList.Add(root.Path);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        p.StandardInput.Close();
        return p;
    }

    static void SigKill(Process p)
    {
        try { p.Kill(); } catch (InvalidOperationException) { } // SIGKILL; it may have exited already
        Assert.True(p.WaitForExit(10_000), "husk create did not die after SIGKILL");
    }

    /// <summary>After a crash: delete --force and list work, nothing is left, and the id can be created and deleted again.</summary>
    static void RecoverAndReuse(TestRoot root, Bundle bundle, string id, string context, JsonObject? cleanConfig = null)
    {
        var st = root.Run(Quick, "state", id);
        if (Outcome.StateProblem(st, id) is { } sp && st.ExitCode == 0) Assert.Fail($"{context}: state: {sp}");
        Outcome.AssertClean(st, $"{context}: state");
        var list = root.Run(Quick, "list");
        Outcome.AssertClean(list, $"{context}: list");
        Assert.Equal(0, list.ExitCode);
        root.Run(Quick, "delete", "--force", id).AssertSuccess($"{context}: delete --force");
        var after = root.Run(Quick, "list", "-q").AssertSuccess($"{context}: list after delete");
        Assert.DoesNotContain(id, after.Stdout);
        Leftovers.AssertClean(root.Path, [id], [bundle.Dir], context);

        if (cleanConfig != null)
        {
            File.WriteAllText(bundle.ConfigPath, cleanConfig.ToJsonString());
            root.Run(Quick, "create", "--bundle", bundle.Dir, id).AssertSuccess($"{context}: the id again");
            root.Run(Quick, "delete", "--force", id).AssertSuccess($"{context}: delete of the id again");
            Leftovers.AssertClean(root.Path, [id], [bundle.Dir], $"{context} (reuse)");
        }
    }

    static void WaitForFile(string path, Process create, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!File.Exists(path))
        {
            if (create.HasExited) Assert.Fail($"husk create exited ({create.ExitCode}) before {what}");
            if (sw.Elapsed > TimeSpan.FromSeconds(20)) Assert.Fail($"timed out waiting for {what}");
            Thread.Sleep(10);
        }
    }

    static void Mkfifo(string path) => ProcessRunner.Run("/usr/bin/mkfifo", path).AssertSuccess("mkfifo");

    [Theory]
    [InlineData("createRuntime")]
    [InlineData("prestart")]
    [InlineData("createContainer")]
    public void Sigkill_while_a_hook_blocks(string kind)
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        var clean = (JsonObject)bundle.Config.DeepClone();
        string ready = Path.Combine(bundle.Dir, "hook-ready"), block = Path.Combine(bundle.Dir, "hook-block");
        Mkfifo(block);
        // The hook says it runs (with its pid), then becomes a cat blocked on the fifo (exec: killing that pid
        // leaves nothing behind) until the test or delete ends it.
        bundle.Config["hooks"] = new JsonObject
        {
            [kind] = new JsonArray(new JsonObject
            {
                ["path"] = "/bin/sh",
                ["args"] = new JsonArray("sh", "-c", $"echo $$ > {ready}.tmp && mv {ready}.tmp {ready}; exec cat {block} > /dev/null"),
            }),
        };
        bundle.Save();
        var id = root.NewId("fault");
        var create = StartHusk(root, "create", "--bundle", bundle.Dir, id);
        int hookPid = 0;
        try
        {
            WaitForFile(ready, create, $"the {kind} hook");
            hookPid = int.Parse(File.ReadAllText(ready).Trim());
            SigKill(create);
            // createRuntime and prestart hooks are processes of the runtime on the host, as in runc;
            // the test ends its own one. A createContainer hook is in the container and goes with it.
            RecoverAndReuse(root, bundle, id, $"create killed in a {kind} hook", clean);
        }
        finally
        {
            if (kind != "createContainer" && hookPid > 0) ProcessRunner.Run("/bin/kill", "-9", hookPid.ToString());
            create.Dispose();
        }
    }

    [Fact]
    public void Sigkill_create_after_a_spread_of_delays()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        // The rich config: more mounts, devices and cgroup files, so more points to stop at.
        var rich = JsonNode.Parse(File.ReadAllText(Path.Combine(Husk.Corpus.CorpusCases.Dir, "config", "ok-rich.json")))!.AsObject();
        // Less what this host cannot give (create would refuse it at once: nothing to kill midway).
        foreach (var (pointer, why) in HostFacts.Here.Fit(rich)) output.WriteLine($"without {pointer}: {why}");
        bundle.Config = rich;
        bundle.Save();
        var id = root.NewId("kill");

        // How long a whole create takes here, to spread the kill points over it.
        var times = new List<double>();
        for (int i = 0; i < 3; i++)
        {
            var sw = Stopwatch.StartNew();
            var c = StartHusk(root, "create", "--bundle", bundle.Dir, id);
            Assert.True(c.WaitForExit(30_000));
            times.Add(sw.Elapsed.TotalMilliseconds);
            Assert.True(c.ExitCode == 0, $"create of the rich config failed ({c.ExitCode})");
            c.Dispose();
            root.Run(Quick, "delete", "--force", id).AssertSuccess();
        }
        double total = times.Order().ElementAt(1);

        int seed = Environment.TickCount;
        var rng = new Random(seed);
        var delays = Enumerable.Range(0, 16).Select(i => i * total * 1.1 / 16)
            .Concat(Enumerable.Range(0, 6).Select(_ => rng.NextDouble() * total)).ToList();
        output.WriteLine($"create takes ~{total:0.0} ms; kill points (ms): {string.Join(" ", delays.Select(d => d.ToString("0.0")))} (random ones from seed {seed})");
        int killedMidway = 0;
        foreach (var delay in delays)
        {
            var create = StartHusk(root, "create", "--bundle", bundle.Dir, id);
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed.TotalMilliseconds < delay) Thread.SpinWait(100);
            bool exited = create.HasExited;
            SigKill(create);
            if (!exited && create.ExitCode != 0) killedMidway++;
            create.Dispose();
            // Each time the same id: it must be reusable after every crash.
            RecoverAndReuse(root, bundle, id, $"create killed after {delay:0.0} ms (seed {seed})");
        }
        output.WriteLine($"{killedMidway} of {delays.Count} creates were killed before they finished");
        Assert.True(killedMidway >= delays.Count / 3, $"only {killedMidway} creates were killed mid-way: the kill points missed create");
        root.Run(Quick, "create", "--bundle", bundle.Dir, id).AssertSuccess("the id after all the crashes");
        root.Run(Quick, "delete", "--force", id).AssertSuccess();
        Leftovers.AssertClean(root.Path, [id], [bundle.Dir], "end");
    }

    public static TheoryData<string> Corruptions => new() { "garbage", "truncated", "empty", "null", "wrong-types", "empty-object", "missing", "binary" };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void A_corrupt_state_file_is_reported_and_delete_force_removes_everything(string corruption)
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        var id = root.NewId("corrupt");
        root.Run(Quick, "create", "--bundle", bundle.Dir, id).AssertSuccess();
        var state = Path.Combine(root.Path, id, "state.json");
        var text = File.ReadAllBytes(state);
        switch (corruption)
        {
            case "garbage": File.WriteAllText(state, "{not json at all"); break;
            case "truncated": File.WriteAllBytes(state, text[..(text.Length / 2)]); break;
            case "empty": File.WriteAllBytes(state, []); break;
            case "null": File.WriteAllText(state, "null"); break;
            case "wrong-types": File.WriteAllText(state, "{\"id\": 5, \"pid\": \"x\", \"cgroup\": []}"); break;
            case "empty-object": File.WriteAllText(state, "{}"); break;
            case "missing": File.Delete(state); break;
            case "binary": File.WriteAllBytes(state, [0xFF, 0x00, 0xFE, 0x7B]); break;
        }

        var st = root.Run(Quick, "state", id);
        Outcome.AssertClean(st, "state");
        if (st.ExitCode == 0) Assert.Null(Outcome.StateProblem(st, id));
        else if (corruption is not ("missing" or "empty-object"))
            Assert.Contains("state", st.Stderr);
        var list = root.Run(Quick, "list");
        Outcome.AssertClean(list, "list");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains(id, list.Stdout);
        var del = root.Run(Quick, "delete", id);
        Outcome.AssertClean(del, "delete without --force");
        root.Run(Quick, "delete", "--force", id).AssertSuccess("delete --force");
        // The init (waiting for start) and its cgroup went with it, although state.json could not say where they are.
        Leftovers.AssertClean(root.Path, [id], [bundle.Dir], $"{corruption} state.json");
        Assert.Empty(root.ListIds());
        root.Run(Quick, "create", "--bundle", bundle.Dir, id).AssertSuccess("the id again");
        root.Run(Quick, "delete", id).AssertSuccess();
        Leftovers.AssertClean(root.Path, [id], [bundle.Dir], "reuse");
    }

    [Fact]
    public void An_init_that_dies_between_create_and_start_reports_stopped()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        var id = root.NewId("dies");
        root.Run(Quick, "create", "--bundle", bundle.Dir, id).AssertSuccess();
        var st = root.Run(Quick, "state", id).AssertSuccess();
        var pid = (int)JsonNode.Parse(st.Stdout)!["pid"]!;
        Assert.True(pid > 0);
        ProcessRunner.Run("/bin/kill", "-9", pid.ToString()).AssertSuccess();
        var sw = Stopwatch.StartNew();
        string status;
        do
        {
            status = (string)JsonNode.Parse(root.Run(Quick, "state", id).AssertSuccess().Stdout)!["status"]!;
            if (status == "stopped") break;
            Thread.Sleep(20);
        } while (sw.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Equal("stopped", status);
        var start = root.Run(Quick, "start", id).AssertFailure();
        Outcome.AssertClean(start, "start of a dead container");
        Assert.Contains("stopped", (string)JsonNode.Parse(root.Run(Quick, "state", id).Stdout)!["status"]!);
        Assert.Contains(id, root.Run(Quick, "list").AssertSuccess().Stdout);
        root.Run(Quick, "delete", id).AssertSuccess("a stopped container is deleted without --force");
        Leftovers.AssertClean(root.Path, [id], [bundle.Dir], "after delete");
    }
}
