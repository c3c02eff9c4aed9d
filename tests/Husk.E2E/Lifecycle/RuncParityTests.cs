using System.Text.Json.Nodes;
using Husk.E2E.Reliability;
using Xunit;

namespace Husk.E2E.Lifecycle;

/// <summary>
/// Where runc 1.1.5's integration suite and containerd's CRI plugin found Husk behaving unlike
/// runc (issue 15). Each expectation is what runc 1.1.5 does on this host (checked side by side
/// with /usr/sbin/runc), with the runc test or code it comes from.
/// </summary>
public class RuncParityTests
{
    static string Status(TestRoot root, string id) =>
        (string)JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!["status"]!;

    static void WaitForStatus(TestRoot root, string id, string status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Status(root, id) != status)
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"container {id} never became {status}");
            Thread.Sleep(20);
        }
    }

    /// <summary>Alive and not a zombie (PID 1 of this host reaps nothing).</summary>
    static bool IsLive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] is not ('Z' or 'X');
        }
        catch (IOException) { return false; }
    }

    /// <summary>A bundle without a pid namespace, as a pod's container sharing the pause container's: its init's exit does not end its children.</summary>
    static Bundle BundleWithoutPidNamespace(string script)
    {
        var bundle = new Bundle();
        var namespaces = (JsonArray)bundle.Config["linux"]!["namespaces"]!;
        foreach (var pid in namespaces.Where(n => (string)n!["type"]! == "pid").ToList()) namespaces.Remove(pid);
        bundle.SetScript(script).Save();
        return bundle;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Kill_all_after_the_init_exited_kills_what_is_left_and_succeeds(bool childLeft)
    {
        // containerd's runc shim, after the init exited: `runc kill --all ID KILL`. runc 1.1.5
        // (libcontainer Signal with all=true) signals whatever is in the cgroup and exits 0, also
        // when nothing is left; a plain kill of the stopped container fails: "container not running".
        using var root = new TestRoot();
        using var bundle = BundleWithoutPidNamespace(childLeft ? "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!" : "echo none");
        var id = root.NewId();
        var run = root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        WaitForStatus(root, id, "stopped");
        int child = childLeft ? int.Parse(run.Stdout.Trim()) : 0;
        if (childLeft) Assert.True(IsLive(child), $"the background child {child} should outlive the init");

        root.Run("kill", "--all", id, "KILL").AssertSuccess();
        if (childLeft)
        {
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (IsLive(child) && DateTime.UtcNow < deadline) Thread.Sleep(20);
            Assert.False(IsLive(child), $"kill --all left {child} alive");
        }
        root.Run("kill", "--all", id, "KILL").AssertSuccess("nothing left to signal is no error");

        var plain = root.Run("kill", id, "KILL").AssertFailure(1);
        Assert.Contains("container not running", plain.Stderr);
        Assert.Single(plain.Stderr.Trim().Split('\n'));

        root.Run("delete", id).AssertSuccess();
        Leftovers.AssertClean(root.Path, [id], [bundle.Dir], "after kill --all and delete");
    }
}
