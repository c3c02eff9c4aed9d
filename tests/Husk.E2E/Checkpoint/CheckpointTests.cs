using System.Text.Json.Nodes;
using Husk.E2E.Terminal;
using Xunit;

namespace Husk.E2E.Checkpoint;

/// <summary>
/// `husk checkpoint` / `husk restore` through CRIU (--criu from <see cref="CriuForTests"/>): a
/// counter loop continues where it was checkpointed, --leave-running keeps it running, a restored
/// container is a normal one (state, kill, delete, checkpoint again), a shell on a terminal is
/// restored with its new pty master sent to the new --console-socket, and the restore-compatibility
/// check treats absent, null and empty alike while naming a real difference with both values.
/// </summary>
[Collection(CheckpointCollection.Name)]
public class CheckpointTests
{
    // Written through a rename so that a checkpoint between truncate and write never leaves /count empty.
    const string CounterScript = "i=0; while true; do i=$((i+1)); echo $i > /count.tmp; mv /count.tmp /count; sleep 0.1; done";

    static Result Husk(TestRoot root, params string[] args) =>
        root.Run(new RunOptions { Timeout = TimeSpan.FromSeconds(60) }, ["--criu", CriuForTests.Path, .. args]);

    static Bundle CounterBundle()
    {
        var bundle = new Bundle();
        bundle.SetScript(CounterScript);
        bundle.Config["root"]!["readonly"] = false;
        bundle.Save();
        return bundle;
    }

    static int Count(Bundle b) => int.TryParse(File.Exists(b.HostPath("/count")) ? File.ReadAllText(b.HostPath("/count")).Trim() : "", out var n) ? n : 0;

    /// <summary>Waits (bounded) until the counter is above <paramref name="above"/>; returns its value.</summary>
    static int WaitCount(Bundle b, int above)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            int n = Count(b);
            if (n > above) return n;
            Thread.Sleep(20);
        }
        Assert.Fail($"the counter stayed at {Count(b)}, expected it above {above}");
        return 0;
    }

    static string Status(TestRoot root, string id) => (string)JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!["status"]!;

    [Fact]
    public void Counter_continues_after_checkpoint_and_restore_and_again_after_a_second_round()
    {
        HostFacts.Here.Require("criu.cgroups", "cgroups CRIU can restore");
        using var root = new TestRoot();
        using var bundle = CounterBundle();
        var id = root.NewId("ckpt");
        var image = Path.Combine(bundle.Dir, "image");
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        WaitCount(bundle, 5);

        // Checkpoint: the container stops and, as with runc, is gone.
        Husk(root, "checkpoint", "--image-path", image, id).AssertSuccess();
        Assert.True(File.Exists(Path.Combine(image, "husk-spec.json")));
        Assert.True(File.Exists(Path.Combine(image, "husk-state.json")));
        root.Run("state", id).AssertFailure();
        int stoppedAt = Count(bundle);
        Thread.Sleep(400);
        Assert.Equal(stoppedAt, Count(bundle));

        // Restore: the same shell, its counter in memory, goes on from where it was.
        Husk(root, "restore", "--detach", "--image-path", image, "--bundle", bundle.Dir, id).AssertSuccess();
        Assert.Equal("running", Status(root, id));
        // A shell started afresh would write 1, 2, ... first; the restored one goes on above stoppedAt
        // (by how much depends on how long the restore took to return).
        int next = WaitCount(bundle, stoppedAt);
        Assert.InRange(next, stoppedAt + 1, stoppedAt + 30);

        // --leave-running: checkpointed and still counting.
        var image2 = Path.Combine(bundle.Dir, "image2");
        Husk(root, "checkpoint", "--leave-running", "--image-path", image2, id).AssertSuccess();
        Assert.Equal("running", Status(root, id));
        WaitCount(bundle, Count(bundle) + 2);

        // The restored container checkpoints and restores again.
        var image3 = Path.Combine(bundle.Dir, "image3");
        Husk(root, "checkpoint", "--image-path", image3, id).AssertSuccess();
        int second = Count(bundle);
        var pidFile = Path.Combine(bundle.Dir, "restored.pid");
        Husk(root, "restore", "-d", "--image-path", image3, "--bundle", bundle.Dir, "--pid-file", pidFile, id).AssertSuccess();
        var state = JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!;
        Assert.Equal("running", (string)state["status"]!);
        Assert.Equal((int)state["pid"]!, int.Parse(File.ReadAllText(pidFile).Trim()));
        Assert.InRange(WaitCount(bundle, second), second + 1, second + 30);

        // A normal container: kill, stopped, delete.
        root.Run("kill", id, "KILL").AssertSuccess();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && Status(root, id) != "stopped") Thread.Sleep(20);
        Assert.Equal("stopped", Status(root, id));
        root.Run("delete", id).AssertSuccess();
        Assert.Empty(root.ListIds());
    }

    [Fact]
    public void A_container_with_a_terminal_is_restored_with_its_new_master_sent_to_the_new_console_socket()
    {
        HostFacts.Here.Require("criu.cgroups", "cgroups CRIU can restore");
        using var root = new TestRoot();
        using var bundle = new Bundle("sh");
        bundle.Process["terminal"] = true;
        bundle.Save();
        var id = root.NewId("cktty");
        var image = Path.Combine(bundle.Dir, "image");
        using (var console = new ConsoleSocketListener())
        {
            root.Run("run", "-d", "--console-socket", console.Path, "--bundle", bundle.Dir, id).AssertSuccess();
            using var master = console.Receive(out _);
            // A shell variable: only the checkpointed shell's memory has it.
            master.Write("v=kept-$((20+1)); echo before-$v\r");
            master.WaitFor("before-kept-21");
            Husk(root, "checkpoint", "--image-path", image, id).AssertSuccess();
        }
        root.Run("state", id).AssertFailure();

        using var console2 = new ConsoleSocketListener();
        Husk(root, "restore", "-d", "--console-socket", console2.Path, "--image-path", image, "--bundle", bundle.Dir, id).AssertSuccess();
        Assert.Equal("running", Status(root, id));
        using var restored = console2.Receive(out var name);
        Assert.Equal("/dev/ptmx", name);
        // What is typed reaches the same shell, on a terminal of the container's own devpts.
        // The markers are computed, so the terminal's echo of the typed line never matches them.
        restored.Write("echo after-$v; tty; [ -t 0 ] && [ -t 1 ] && echo still-a-tty-$((40+2)); ls /dev/pts\r");
        restored.WaitFor("after-kept-21");
        restored.WaitFor("still-a-tty-42");
        Assert.Contains("/dev/pts/0", restored.Output);

        // A restored terminal can be checkpointed and restored again.
        var image2 = Path.Combine(bundle.Dir, "image2");
        Husk(root, "checkpoint", "--image-path", image2, id).AssertSuccess();
        using var console3 = new ConsoleSocketListener();
        Husk(root, "restore", "-d", "--console-socket", console3.Path, "--image-path", image2, "--bundle", bundle.Dir, id).AssertSuccess();
        using var again = console3.Receive(out _);
        again.Write("echo again-$v\r");
        again.WaitFor("again-kept-21");
        root.Run("delete", "--force", id).AssertSuccess();
    }

    [Fact]
    public void Binds_on_a_symlinked_destination_and_nested_in_another_bind_are_restored()
    {
        HostFacts.Here.Require("criu.cgroups", "cgroups CRIU can restore");
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        // /conf is a symlink to /real/conf: the bind sits on /real/conf, which is what CRIU sees.
        Directory.CreateDirectory(bundle.HostPath("/real/conf"));
        File.CreateSymbolicLink(bundle.HostPath("/conf"), "/real/conf");
        string outer = Path.Combine(bundle.Dir, "outer"), inner = Path.Combine(bundle.Dir, "inner"), conf = Path.Combine(bundle.Dir, "conf");
        foreach (var d in new[] { outer, inner, conf }) Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(inner, "mark"), "nested-bind");
        File.WriteAllText(Path.Combine(conf, "mark"), "symlinked-bind");
        var mounts = bundle.Config["mounts"]!.AsArray();
        foreach (var (source, dest) in new[] { (conf, "/conf"), (outer, "/test"), (inner, "/test/for/nested") })
            mounts.Add(new JsonObject { ["type"] = "bind", ["source"] = source, ["destination"] = dest, ["options"] = new JsonArray("rbind", "rw") });
        bundle.Save();
        var id = root.NewId("ckbind");
        var image = Path.Combine(bundle.Dir, "image");
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        Husk(root, "checkpoint", "--image-path", image, id).AssertSuccess();
        // The nested mount point was made in the outer bind's source; restore makes it again there.
        Directory.Delete(Path.Combine(outer, "for"), recursive: true);

        Husk(root, "restore", "-d", "--image-path", image, "--bundle", bundle.Dir, id).AssertSuccess();
        Assert.Equal("running", Status(root, id));
        var r = root.Run("exec", id, "cat", "/test/for/nested/mark", "/conf/mark").AssertSuccess();
        Assert.Equal("nested-bindsymlinked-bind", r.Stdout.Trim());
        root.Run("delete", "--force", id).AssertSuccess();
    }

    [Fact]
    public void Without_a_console_socket_a_restored_terminal_is_refused_detached_and_relayed_in_the_foreground()
    {
        HostFacts.Here.Require("criu.cgroups", "cgroups CRIU can restore");
        using var root = new TestRoot();
        using var bundle = new Bundle("sh");
        bundle.Process["terminal"] = true;
        bundle.Save();
        var id = root.NewId("cknocs");
        var image = Path.Combine(bundle.Dir, "image");
        using (var console = new ConsoleSocketListener())
        {
            root.Run("run", "-d", "--console-socket", console.Path, "--bundle", bundle.Dir, id).AssertSuccess();
            using var master = console.Receive(out _);
            master.Write("v=fg-$((3*4)); echo set-$v\r");
            master.WaitFor("set-fg-12");
            Husk(root, "checkpoint", "--image-path", image, id).AssertSuccess();
        }
        var r = Husk(root, "restore", "-d", "--image-path", image, "--bundle", bundle.Dir, id).AssertFailure();
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("--console-socket", r.Stderr);
        Assert.Empty(root.ListIds());

        // In the foreground husk relays the new terminal itself, as `run -t` does, and returns the shell's exit code.
        using var s = new PtySession(PtySession.CommandLine(HuskCli.BinaryPath, "--root", root.Path, "--criu", CriuForTests.Path,
            "restore", "--image-path", image, "--bundle", bundle.Dir, id));
        s.Type("echo restored-$v\r");
        s.WaitFor("restored-fg-12");
        s.Type("exit 7\r");
        Assert.Equal(7, s.WaitForExit());
        Assert.Empty(root.ListIds());
    }

    static readonly string[] Forms = ["absent", "null", "empty"];

    /// <summary>A counter bundle whose linux.sysctl, annotations and /proc mount options are all absent, null or empty.</summary>
    static Bundle FormBundle(string form)
    {
        var bundle = CounterBundle();
        var linux = (JsonObject)bundle.Config["linux"]!;
        var proc = bundle.Config["mounts"]!.AsArray().First(m => (string)m!["destination"]! == "/proc")!.AsObject();
        linux.Remove("sysctl");
        bundle.Config.Remove("annotations");
        proc.Remove("options");
        switch (form)
        {
            case "null":
                linux["sysctl"] = null;
                bundle.Config["annotations"] = null;
                proc["options"] = null;
                break;
            case "empty":
                linux["sysctl"] = new JsonObject();
                bundle.Config["annotations"] = new JsonObject();
                proc["options"] = new JsonArray();
                break;
        }
        bundle.Save();
        return bundle;
    }

    [Fact]
    public void Absent_null_and_empty_sysctl_annotations_and_mount_options_restore_in_all_nine_pairs()
    {
        HostFacts.Here.Require("criu.cgroups", "cgroups CRIU can restore");
        using var root = new TestRoot();
        var bundles = Forms.ToDictionary(f => f, FormBundle);
        try
        {
            var images = new Dictionary<string, string>();
            foreach (var form in Forms)
            {
                var id = root.NewId("ck" + form);
                root.Run("run", "-d", "--bundle", bundles[form].Dir, id).AssertSuccess();
                WaitCount(bundles[form], 1);
                images[form] = Path.Combine(bundles[form].Dir, "image");
                Husk(root, "checkpoint", "--leave-running", "--image-path", images[form], id).AssertSuccess();
                root.Run("delete", "--force", id).AssertSuccess();
            }
            foreach (var saved in Forms)
                foreach (var restore in Forms)
                {
                    var r = Husk(root, "restore", "--dry-run", "--image-path", images[saved], "--bundle", bundles[restore].Dir, root.NewId("dry"));
                    r.AssertSuccess($"checkpoint with {saved}, restore with {restore}");
                    Assert.Contains("compatible", r.Stdout);
                    Assert.DoesNotContain("differs", r.Stdout);
                }
            // One real restore across forms: checkpointed with null, restored with {} / [].
            var rid = root.NewId("real");
            int before = Count(bundles["null"]);
            Husk(root, "restore", "-d", "--image-path", images["null"], "--bundle", bundles["empty"].Dir, rid).AssertSuccess();
            Assert.Equal("running", Status(root, rid));
            WaitCount(bundles["empty"], Count(bundles["empty"]));
            root.Run("delete", "--force", rid).AssertSuccess();
            Assert.True(before > 0);
        }
        finally
        {
            foreach (var b in bundles.Values) b.Dispose();
        }
    }

    [Fact]
    public void A_changed_ip_forward_refuses_the_restore_naming_the_path_and_both_values()
    {
        using var root = new TestRoot();
        using var bundle = CounterBundle();
        ((JsonObject)bundle.Config["linux"]!)["sysctl"] = new JsonObject { ["net.ipv4.ip_forward"] = "1" };
        bundle.Save();
        var id = root.NewId("ckip");
        var image = Path.Combine(bundle.Dir, "image");
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        Husk(root, "checkpoint", "--leave-running", "--image-path", image, id).AssertSuccess();
        root.Run("delete", "--force", id).AssertSuccess();

        ((JsonObject)bundle.Config["linux"]!)["sysctl"] = new JsonObject { ["net.ipv4.ip_forward"] = "0" };
        bundle.Save();
        var dry = Husk(root, "restore", "--dry-run", "--image-path", image, "--bundle", bundle.Dir, id);
        Assert.Equal(1, dry.ExitCode);
        Assert.Contains("differs  /linux/sysctl/net.ipv4.ip_forward  checkpointed \"1\"  restore \"0\"", dry.Stdout);
        Assert.Contains("kernel setting", dry.Stdout);

        var r = Husk(root, "restore", "-d", "--image-path", image, "--bundle", bundle.Dir, id).AssertFailure();
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("/linux/sysctl/net.ipv4.ip_forward: checkpointed \"1\", restore \"0\"", r.Stderr);
        // Refused before anything was made.
        Assert.Empty(root.ListIds());
        Assert.Empty(global::Husk.E2E.Cgroups.Cg.Leftovers($"/husk/{id}"));
    }

    [Fact]
    public void Missing_or_broken_criu_is_one_line_and_husk_check_reports_criu()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId("nocriu");
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();

        var missing = root.Run("--criu", "/nonexistent/criu", "checkpoint", "--image-path", Path.Combine(bundle.Dir, "img"), id).AssertFailure();
        Assert.Single(missing.Stderr.Trim().Split('\n'));
        Assert.Contains("CRIU not found", missing.Stderr);
        var broken = root.Run("--criu", "/bin/false", "checkpoint", "--image-path", Path.Combine(bundle.Dir, "img"), id).AssertFailure();
        Assert.Single(broken.Stderr.Trim().Split('\n'));
        Assert.Contains("`criu check` failed", broken.Stderr);
        Assert.Equal("running", Status(root, id));

        var check = Husk(root, "check").AssertSuccess();
        Assert.Matches(@"criu\.check\s+ok", check.Stdout);
        var checkBroken = root.Run("--criu", "/bin/false", "check").AssertSuccess();
        Assert.Matches(@"criu\.check\s+fail", checkBroken.Stdout);
    }

    [Fact]
    public void Pre_dump_says_why_it_cannot_work_on_a_kernel_without_soft_dirty_and_a_bad_parent_path_is_refused()
    {
        using var root = new TestRoot();
        using var bundle = CounterBundle();
        var id = root.NewId("pre");
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        bool softDirty = HostFacts.Here.Has("criu.pre-dump");
        var r = Husk(root, "checkpoint", "--pre-dump", "--image-path", Path.Combine(bundle.Dir, "pre"), id);
        if (softDirty) r.AssertSuccess();
        else
        {
            r.AssertFailure();
            Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.Contains("--pre-dump needs memory change tracking (soft-dirty", r.Stderr);
        }
        Assert.Equal("running", Status(root, id));

        // As runc: the parent must be relative to the image path and exist there.
        var image = Path.Combine(bundle.Dir, "image");
        var absolute = Husk(root, "checkpoint", "--parent-path", Path.Combine(bundle.Dir, "parent"), "--image-path", image, id).AssertFailure();
        Assert.Contains("--parent-path", absolute.Stderr);
        Assert.Contains("must be relative", absolute.Stderr);
        var missing = Husk(root, "checkpoint", "--parent-path", "../parent", "--image-path", image, id).AssertFailure();
        Assert.Contains("invalid --parent-path ../parent", missing.Stderr);
        Assert.Equal("running", Status(root, id));
    }
}
