using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Process;

/// <summary>
/// The six OCI hooks: order, the state JSON on stdin, the namespaces each runs in, timeouts and
/// the failure semantics of the runtime spec (config.md "Lifecycle", runtime.md).
/// </summary>
public class HookTests
{
    /// <summary>
    /// A hook script: saves its stdin as KIND.json, its mount/uts/pid namespaces and hostname as
    /// KIND.ns, its environment as KIND.env, its working directory as KIND.cwd, and appends KIND to
    /// the sequence file. Runs under the
    /// host's /bin/sh and under the container's busybox sh alike.
    /// </summary>
    const string Recorder = """
        #!/bin/sh
        kind=$1; log=$2
        cat > "$log/$kind.json"
        { readlink /proc/self/ns/mnt; readlink /proc/self/ns/uts; readlink /proc/self/ns/pid; cat /proc/sys/kernel/hostname; } > "$log/$kind.ns"
        tr '\0' '\n' < /proc/self/environ > "$log/$kind.env"
        pwd > "$log/$kind.cwd"
        echo "$kind" >> "$log/seq"
        exit ${3:-0}
        """;

    sealed class HookBundle : IDisposable
    {
        public readonly TestRoot Root = new();
        public readonly Bundle Bundle = new("sleep", "1000");
        public readonly string Id;
        /// <summary>Host path of the log directory; /hooklog inside the container.</summary>
        public string Log => Bundle.HostPath("/hooklog");
        public string HostScript => Path.Combine(Bundle.Dir, "record.sh");
        public JsonObject Hooks => (JsonObject)(Bundle.Config["hooks"] ??= new JsonObject());

        public HookBundle()
        {
            Id = Root.NewId("hook");
            ProcessProbe.UseTestCgroup(Bundle, Id);
            Bundle.Config["root"]!["readonly"] = false;
            Bundle.Config["hostname"] = "hooked";
            Bundle.Config["annotations"] = new JsonObject { ["org.husk.test"] = "hooks" };
            Directory.CreateDirectory(Log);
            File.WriteAllText(HostScript, Recorder);
            // In the rootfs only: a startContainer hook's path is resolved in the container.
            Bundle.WriteFile("/hooks/record.sh", Recorder);
            File.SetUnixFileMode(Bundle.HostPath("/hooks/record.sh"), (UnixFileMode)0b111_101_101);
        }

        /// <summary>A host-side hook running the recorder under /bin/sh.</summary>
        public JsonObject HostHook(string kind, int exit = 0) => new()
        {
            ["path"] = "/bin/sh",
            ["args"] = ProcessProbe.Strings("sh", HostScript, kind, Log, exit.ToString()),
            ["env"] = ProcessProbe.Strings($"HOOK_KIND={kind}"),
        };

        /// <summary>The startContainer hook: the rootfs copy, run inside the container.</summary>
        public JsonObject ContainerHook(string kind, int exit = 0) => new()
        {
            ["path"] = "/hooks/record.sh",
            ["args"] = ProcessProbe.Strings("record.sh", kind, "/hooklog", exit.ToString()),
            ["env"] = ProcessProbe.Strings($"HOOK_KIND={kind}", "PATH=/bin"),
        };

        public void Set(string kind, params JsonObject[] hooks) => Hooks[kind] = new JsonArray(hooks);

        public string[] Sequence() => File.Exists(Path.Combine(Log, "seq")) ? File.ReadAllLines(Path.Combine(Log, "seq")) : [];
        public JsonObject StateSeenBy(string kind) => JsonNode.Parse(File.ReadAllText(Path.Combine(Log, kind + ".json")))!.AsObject();
        public string[] NamespacesSeenBy(string kind) => File.ReadAllLines(Path.Combine(Log, kind + ".ns"));
        public string[] EnvSeenBy(string kind) => File.ReadAllLines(Path.Combine(Log, kind + ".env"));
        public string CwdOf(string kind) => File.ReadAllText(Path.Combine(Log, kind + ".cwd")).Trim();

        public Result Husk(params string[] args) => Root.Run(args);
        public Result Create() => Root.Run("create", "--bundle", Bundle.Dir, Id);

        public void Dispose()
        {
            Root.Dispose();
            Bundle.Dispose();
        }
    }

    static string[] Ns(string pid) =>
        new[] { "mnt", "uts", "pid" }.Select(n => new FileInfo($"/proc/{pid}/ns/{n}").LinkTarget!).ToArray();

    [Fact]
    public void All_six_hooks_run_in_order_with_the_state_on_stdin_in_the_right_namespaces()
    {
        using var h = new HookBundle();
        foreach (var kind in new[] { "prestart", "createRuntime", "createContainer", "poststart", "poststop" })
            h.Set(kind, h.HostHook(kind));
        h.Set("startContainer", h.ContainerHook("startContainer"));
        h.Bundle.Save();
        Assert.False(File.Exists("/hooks/record.sh"), "the startContainer hook must exist only in the rootfs");

        h.Create().AssertSuccess();
        Assert.Equal(["prestart", "createRuntime", "createContainer"], h.Sequence());
        int pid = (int)ProcessProbe.State(h.Root, h.Id)["pid"]!;
        string[] host = Ns("self"), container = Ns(pid.ToString());
        Assert.NotEqual(host, container);

        h.Husk("start", h.Id).AssertSuccess();
        Assert.Equal(["prestart", "createRuntime", "createContainer", "startContainer", "poststart"], h.Sequence());
        ProcessProbe.WaitForComm(pid, "sleep");
        h.Husk("kill", h.Id, "KILL").AssertSuccess();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && !h.Husk("state", h.Id).Stdout.Contains("\"stopped\"")) Thread.Sleep(10);
        Assert.Equal(["prestart", "createRuntime", "createContainer", "startContainer", "poststart"], h.Sequence());
        h.Husk("delete", h.Id).AssertSuccess();
        Assert.Equal(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"], h.Sequence());

        // The state on stdin.
        var expectedStatus = new Dictionary<string, string>
        {
            ["prestart"] = "creating", ["createRuntime"] = "creating", ["createContainer"] = "creating",
            ["startContainer"] = "created", ["poststart"] = "running", ["poststop"] = "stopped",
        };
        foreach (var (kind, status) in expectedStatus)
        {
            var s = h.StateSeenBy(kind);
            Assert.Equal(h.Id, (string)s["id"]!);
            Assert.Equal(status, (string)s["status"]!);
            Assert.Equal(h.Bundle.Dir, (string)s["bundle"]!);
            Assert.Equal("hooks", (string)s["annotations"]!["org.husk.test"]!);
            Assert.Equal(kind == "poststop" ? 0 : pid, (int)s["pid"]!);
        }

        // Where each ran: the runtime's namespaces, or the container's.
        foreach (var kind in new[] { "prestart", "createRuntime", "poststart", "poststop" })
            Assert.Equal([.. host, File.ReadAllText("/proc/sys/kernel/hostname").Trim()], h.NamespacesSeenBy(kind));
        // createContainer runs in the container's namespaces before the hostname is set (as in runc).
        Assert.Equal(container, h.NamespacesSeenBy("createContainer")[..3]);
        Assert.Equal([.. container, "hooked"], h.NamespacesSeenBy("startContainer"));
        // createContainer runs from the rootfs (runc's prepareRootfs; runc's hooks.bats names "./lib/..." in it).
        Assert.Equal(h.Bundle.Rootfs, h.CwdOf("createContainer"));

        // Exactly the hook's environment (the shell may export PWD to the tr that saved it).
        foreach (var kind in expectedStatus.Keys)
            Assert.Equal(kind == "startContainer" ? new[] { $"HOOK_KIND={kind}", "PATH=/bin" } : new[] { $"HOOK_KIND={kind}" },
                h.EnvSeenBy(kind).Where(e => !e.StartsWith("PWD=")).ToArray());
    }

    [Theory]
    [InlineData("prestart")]
    [InlineData("createRuntime")]
    [InlineData("createContainer")]
    public void A_failing_create_hook_fails_create_destroys_the_container_and_runs_poststop(string kind)
    {
        using var h = new HookBundle();
        h.Set(kind, h.HostHook(kind, exit: 3));
        h.Set("poststop", h.HostHook("poststop"));
        h.Set("startContainer", h.ContainerHook("startContainer"));
        h.Bundle.Save();

        var r = h.Create().AssertFailure();

        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains($"error running hook: {kind} hook #0 (/bin/sh): exit status 3", r.Stderr);
        ProcessProbe.AssertNothingLeft(h.Root, h.Id);
        Assert.Equal([kind, "poststop"], h.Sequence()[^2..]);
        Assert.Equal("stopped", (string)h.StateSeenBy("poststop")["status"]!);
        Assert.DoesNotContain("startContainer", h.Sequence());
    }

    [Theory]
    [InlineData("createRuntime", false)]
    [InlineData("prestart", true)]
    [InlineData("createContainer", true)]
    public void A_hook_that_outlives_its_timeout_fails_create_quickly_and_leaves_nothing(string kind, bool viaShell)
    {
        using var h = new HookBundle();
        string marker = $"10.{Random.Shared.Next(100000, 999999)}";
        h.Set(kind, viaShell
            // The shell forks sleep: the whole hook, children included, must go.
            ? new JsonObject { ["path"] = "/bin/sh", ["args"] = ProcessProbe.Strings("sh", "-c", $"sleep {marker}; true"), ["timeout"] = 1 }
            : new JsonObject { ["path"] = "/bin/sleep", ["args"] = ProcessProbe.Strings("sleep", marker), ["timeout"] = 1 });
        h.Bundle.Save();

        var sw = Stopwatch.StartNew();
        var r = h.Create().AssertFailure();
        sw.Stop();

        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"create took {sw.Elapsed.TotalSeconds:0.0} s with a 1 s hook timeout");
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains($"error running hook: {kind} hook #0 ({(viaShell ? "/bin/sh" : "/bin/sleep")}): timed out after 1s", r.Stderr);
        Thread.Sleep(50);
        ProcessProbe.AssertNothingLeft(h.Root, h.Id, marker);
    }

    [Fact]
    public void A_failing_startContainer_hook_fails_start_and_stops_the_container()
    {
        using var h = new HookBundle();
        h.Set("startContainer", h.ContainerHook("startContainer", exit: 4));
        h.Set("poststart", h.HostHook("poststart"));
        h.Set("poststop", h.HostHook("poststop"));
        h.Bundle.Save();
        h.Create().AssertSuccess();

        var r = h.Husk("start", h.Id).AssertFailure();

        Assert.Contains("error running hook: startContainer hook #0 (/hooks/record.sh): exit status 4", r.Stderr);
        Assert.Equal("stopped", (string)ProcessProbe.State(h.Root, h.Id)["status"]!);
        Assert.Equal(["startContainer"], h.Sequence());   // the program and poststart never ran
        h.Husk("delete", h.Id).AssertSuccess();
        Assert.Equal(["startContainer", "poststop"], h.Sequence());
        ProcessProbe.AssertNothingLeft(h.Root, h.Id);
    }

    [Fact]
    public void A_failing_poststart_hook_is_a_warning_and_the_remaining_hooks_run()
    {
        using var h = new HookBundle();
        h.Set("poststart", h.HostHook("poststart", exit: 5), h.HostHook("poststart2"));
        h.Bundle.Save();
        h.Create().AssertSuccess();

        var r = h.Husk("start", h.Id).AssertSuccess();

        Assert.Contains("error running hook: poststart hook #0 (/bin/sh): exit status 5", r.Stderr);
        Assert.Equal(["poststart", "poststart2"], h.Sequence());
        Assert.Equal("running", (string)ProcessProbe.State(h.Root, h.Id)["status"]!);
        h.Husk("delete", "--force", h.Id).AssertSuccess();
    }

    [Fact]
    public void A_failing_poststop_hook_is_a_warning_and_delete_succeeds()
    {
        using var h = new HookBundle();
        h.Set("poststop", h.HostHook("poststop", exit: 6), h.HostHook("poststop2"));
        h.Bundle.Save();
        h.Create().AssertSuccess();
        h.Husk("start", h.Id).AssertSuccess();

        var r = h.Husk("delete", "--force", h.Id).AssertSuccess();

        Assert.Contains("error running hook: poststop hook #0 (/bin/sh): exit status 6", r.Stderr);
        Assert.Equal(["poststop", "poststop2"], h.Sequence());
        ProcessProbe.AssertNothingLeft(h.Root, h.Id);
    }
}
