using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Lifecycle;

/// <summary>The OCI lifecycle through husk's CLI: create, state, start, list, kill, delete, run.</summary>
public class LifecycleTests
{
    static JsonObject State(TestRoot root, string id) => JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!.AsObject();

    static string Status(TestRoot root, string id) => (string)State(root, id)["status"]!;

    /// <summary>Waits (bounded) until the container reaches <paramref name="status"/>.</summary>
    static void WaitForStatus(TestRoot root, string id, string status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            last = Status(root, id);
            if (last == status) return;
            Thread.Sleep(20);
        }
        Assert.Fail($"container {id} stayed {last}, expected {status}");
    }

    [Fact]
    public void Run_prints_hostname_and_pid_1_and_returns_the_exit_code()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.SetScript("echo host=$(hostname) pid=$$; exit 7");
        bundle.Config["hostname"] = "h1";
        bundle.Save();
        var r = root.Run("run", "--bundle", bundle.Dir, root.NewId());
        Assert.Equal("host=h1 pid=1\n", r.Stdout);
        Assert.Equal(7, r.ExitCode);
        Assert.Empty(root.ListIds());
    }

    [Fact]
    public async Task Run_of_a_killed_container_returns_128_plus_the_signal()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId();
        // pid 1 ignores signals it has no handler for from inside its namespace: kill it from outside.
        var run = Task.Run(() => root.Run("run", "--bundle", bundle.Dir, id));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && !root.Run("state", id).Stdout.Contains("\"running\"")) Thread.Sleep(20);
        root.Run("kill", id, "KILL").AssertSuccess();
        Assert.Equal(137, (await run).ExitCode);
    }

    [Fact]
    public void Create_start_kill_delete_follow_the_oci_lifecycle()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId();
        var pidFile = Path.Combine(bundle.Dir, "pid");

        root.Run("create", "--bundle", bundle.Dir, "--pid-file", pidFile, id).AssertSuccess();
        var state = State(root, id);
        Assert.Equal("created", (string)state["status"]!);
        int pid = (int)state["pid"]!;
        Assert.Equal(pid.ToString(), File.ReadAllText(pidFile).Trim());
        Assert.Equal(id, (string)state["id"]!);
        Assert.Equal(bundle.Dir, (string)state["bundle"]!);

        root.Run("start", id).AssertSuccess();
        Assert.Equal("running", Status(root, id));
        // In its own pid namespace: a different pid-namespace inode than ours, and pid 1 inside.
        Assert.NotEqual(File.ResolveLinkTarget("/proc/self/ns/pid", false)!.ToString(),
            new FileInfo($"/proc/{pid}/ns/pid").LinkTarget);
        Assert.Contains("NSpid:", File.ReadAllText($"/proc/{pid}/status"));
        Assert.Matches(@"NSpid:\s+\d+\s+1\n", File.ReadAllText($"/proc/{pid}/status"));

        var list = root.Run("list").AssertSuccess();
        Assert.Contains(id, list.Stdout);
        Assert.Contains("running", list.Stdout);
        var json = JsonNode.Parse(root.Run("list", "--format", "json").AssertSuccess().Stdout)!.AsArray();
        Assert.Contains(json, c => (string)c!["id"]! == id);

        root.Run("kill", id, "KILL").AssertSuccess();
        WaitForStatus(root, id, "stopped");
        Assert.Equal(0, (int)State(root, id)["pid"]!);

        root.Run("delete", id).AssertSuccess();
        var gone = root.Run("state", id).AssertFailure();
        Assert.Contains($"container \"{id}\" does not exist", gone.Stderr);
        Assert.Single(gone.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void Delete_of_a_running_container_needs_force()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        Assert.Equal("running", Status(root, id));
        var r = root.Run("delete", id).AssertFailure();
        Assert.Contains("not stopped", r.Stderr);
        Assert.Equal("running", Status(root, id));
        root.Run("delete", "--force", id).AssertSuccess();
        Assert.Empty(root.ListIds());
    }

    [Fact]
    public void Kill_defaults_to_sigterm_and_accepts_names_and_numbers()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done");
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        root.Run("kill", id).AssertSuccess();
        WaitForStatus(root, id, "stopped");
        var r = root.Run("kill", id, "9").AssertFailure();
        Assert.Contains("not running", r.Stderr);
        root.Run("delete", id).AssertSuccess();
    }

    [Fact]
    public void Double_create_of_one_id_fails_and_keeps_the_first()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId();
        root.Run("create", "--bundle", bundle.Dir, id).AssertSuccess();
        var r = root.Run("create", "--bundle", bundle.Dir, id).AssertFailure();
        Assert.Contains("already exists", r.Stderr);
        Assert.Equal("created", Status(root, id));
        root.Run("delete", id).AssertSuccess();
    }

    [Fact]
    public void Delete_of_a_created_container_kills_its_init()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId();
        root.Run("create", "--bundle", bundle.Dir, id).AssertSuccess();
        int pid = (int)State(root, id)["pid"]!;
        root.Run("delete", id).AssertSuccess();
        Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z "),
            "the init of a deleted container is still alive");
    }

    [Fact]
    public void Unknown_ids_get_one_clear_line()
    {
        using var root = new TestRoot();
        foreach (var cmd in new[] { "state", "start", "kill", "delete" })
        {
            var r = root.Run(cmd, "no-such-container").AssertFailure();
            Assert.Equal($"husk: container \"no-such-container\" does not exist", r.Stderr.Trim());
        }
        Assert.Contains("invalid container id", root.Run("state", "../etc").AssertFailure().Stderr);
    }
}
