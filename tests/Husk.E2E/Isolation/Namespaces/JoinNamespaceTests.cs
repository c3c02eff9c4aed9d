using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Namespaces;

/// <summary>linux.namespaces entries with a path: the container joins that namespace instead of making one.</summary>
[Collection(IsolationCollection.Name)]
public class JoinNamespaceTests
{
    static void Join(Sandbox s, string type, string path)
    {
        var ns = s.Linux["namespaces"]!.AsArray();
        foreach (var n in ns.Where(n => (string?)n!["type"] == type).ToList()) ns.Remove(n);
        ns.Add(new JsonObject { ["type"] = type, ["path"] = path });
    }

    [Fact]
    public void Second_container_joins_the_first_ones_net_ipc_uts_and_pid()
    {
        using var first = new Sandbox("sleep", "1000");
        first.WithCgroupNamespace();
        first.Config["hostname"] = "first";
        int pid1 = first.StartDetached(out var id1);

        using var second = new Sandbox("sleep", "1000");
        second.WithCgroupNamespace();
        second.Config.Remove("hostname"); // a joined uts namespace keeps the first one's name
        foreach (var (type, name) in new[] { ("network", "net"), ("ipc", "ipc"), ("uts", "uts"), ("pid", "pid") })
            Join(second, type, $"/proc/{pid1}/ns/{name}");
        int pid2 = second.StartDetached(out var id2);

        foreach (var kind in new[] { "net", "ipc", "uts", "pid" })
            Assert.Equal(HostProc.Ns(pid1, kind), HostProc.Ns(pid2, kind));
        // Still its own mount and cgroup namespaces.
        Assert.NotEqual(HostProc.Ns(pid1, "mnt"), HostProc.Ns(pid2, "mnt"));
        Assert.NotEqual(HostProc.Ns(pid1, "cgroup"), HostProc.Ns(pid2, "cgroup"));
        // In the first one's pid namespace, but not its pid 1.
        var nspid = HostProc.Status(pid2, "NSpid").Split('\t', ' ').Where(x => x.Length > 0).ToArray();
        Assert.Equal(2, nspid.Length);
        Assert.NotEqual("1", nspid[1]);

        // From inside: the same hostname, and the first container's sleep is visible as pid 1.
        second.Script("hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$");
        var r = second.Run().AssertSuccess();
        Assert.Equal("first", r.StdoutLines[0]);
        Assert.Equal("sleep 1000", r.StdoutLines[1].Trim());
        Assert.NotEqual("1", r.StdoutLines[2]);

        second.Delete(id2);
        first.Delete(id1);
        second.AssertNothingLeaked();
        first.AssertNothingLeaked();
    }

    [Fact]
    public void Second_container_joins_the_first_ones_user_and_time_namespaces()
    {
        using var first = new Sandbox("sleep", "1000");
        first.WithUserNamespace(200000);
        first.Linux["namespaces"]!.AsArray().Add(new JsonObject { ["type"] = "time" });
        first.Linux["timeOffsets"] = new JsonObject { ["boottime"] = new JsonObject { ["secs"] = 1000000 } };
        int pid1 = first.StartDetached(out var id1);

        using var second = new Sandbox("sleep", "1000");
        File.SetUnixFileMode(second.Bundle.Dir, (UnixFileMode)0b111_101_101);
        foreach (var (type, name) in new[] { ("user", "user"), ("time", "time"), ("network", "net") })
            Join(second, type, $"/proc/{pid1}/ns/{name}");
        // Joining a user namespace: its maps are the first one's; none may be given here.
        second.Linux.Remove("uidMappings");
        second.Linux.Remove("gidMappings");
        int pid2 = second.StartDetached(out var id2);
        foreach (var kind in new[] { "user", "time", "net" })
            Assert.Equal(HostProc.Ns(pid1, kind), HostProc.Ns(pid2, kind));
        // Root of the joined namespace: host uid 200000.
        Assert.StartsWith("200000\t200000\t200000\t200000", HostProc.Status(pid2, "Uid"));
        second.Delete(id2);

        second.Script("id -u; cat /proc/uptime; echo > /dev/shm/f; stat -c %u /dev/shm/f");
        var r = second.Run().AssertSuccess();
        Assert.Equal("0", r.StdoutLines[0]);
        double uptime = double.Parse(r.StdoutLines[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(uptime > 1000000, $"uptime {uptime} inside the joined time namespace lacks the first one's offset");
        Assert.Equal("0", r.StdoutLines[2]);

        first.Delete(id1);
        second.AssertNothingLeaked();
        first.AssertNothingLeaked();
    }

    [Fact]
    public void Joins_a_network_namespace_made_by_ip_netns_add()
    {
        string name = "husk-e2e-" + Guid.NewGuid().ToString("N")[..8];
        ProcessRunner.Run("ip", "netns", "add", name).AssertSuccess("ip netns add (iproute2)");
        try
        {
            ProcessRunner.Run("ip", "-n", name, "link", "add", "hveth0", "type", "veth", "peer", "name", "hveth1").AssertSuccess("ip link add veth");
            ProcessRunner.Run("ip", "-n", name, "addr", "add", "10.123.45.6/32", "dev", "lo").AssertSuccess("ip addr add");
            using var s = new Sandbox("sleep", "1000");
            Join(s, "network", $"/run/netns/{name}");
            int pid = s.StartDetached(out var id);
            var ours = ProcessRunner.Run("stat", "-L", "-c", "%i", $"/run/netns/{name}").AssertSuccess().Stdout.Trim();
            Assert.Equal($"net:[{ours}]", HostProc.Ns(pid, "net"));
            s.Delete(id);

            s.Script("ls /sys/class/net | sort | tr '\\n' ' '; ip -o addr show dev lo | grep -c 10.123.45.6");
            Assert.Equal("hveth0 hveth1 lo 1\n", s.Run().AssertSuccess().Stdout);
            s.AssertNothingLeaked();
        }
        finally { ProcessRunner.Run("ip", "netns", "delete", name); }
    }

    [Fact]
    public void Joins_namespaces_bind_mounted_by_unshare()
    {
        // unshare --net=FILE --uts=FILE keeps the namespaces alive on bind-mounted files.
        var dir = Directory.CreateTempSubdirectory("husk-e2e-ns-").FullName;
        ProcessRunner.Run("mount", "--bind", "--make-private", dir, dir).AssertSuccess();
        string net = Path.Combine(dir, "net"), uts = Path.Combine(dir, "uts");
        File.WriteAllText(net, "");
        File.WriteAllText(uts, "");
        try
        {
            ProcessRunner.Run("unshare", $"--net={net}", $"--uts={uts}", "hostname", "bound-uts").AssertSuccess("unshare --net=FILE");
            using var s = new Sandbox("sleep", "1000");
            s.Config.Remove("hostname");
            Join(s, "network", net);
            Join(s, "uts", uts);
            int pid = s.StartDetached(out var id);
            Assert.Equal($"net:[{Inode(net)}]", HostProc.Ns(pid, "net"));
            Assert.Equal($"uts:[{Inode(uts)}]", HostProc.Ns(pid, "uts"));
            s.Delete(id);
            s.Script("hostname");
            Assert.Equal("bound-uts\n", s.Run().AssertSuccess().Stdout);
            s.AssertNothingLeaked();
        }
        finally
        {
            Mounts.UnmountUnder(dir);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_namespace_path_that_does_not_exist_is_one_clear_error_and_leaves_nothing()
    {
        using var s = new Sandbox();
        Join(s, "network", "/run/netns/husk-e2e-does-not-exist");
        var r = s.Run().AssertFailure();
        Assert.Contains("/run/netns/husk-e2e-does-not-exist", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        s.AssertNothingLeaked();
    }

    [Fact]
    public void A_namespace_path_of_the_wrong_type_is_refused()
    {
        using var s = new Sandbox();
        Join(s, "network", "/proc/self/ns/uts");
        var r = s.Run().AssertFailure();
        Assert.Contains("network", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        s.AssertNothingLeaked();
    }

    static string Inode(string path) => ProcessRunner.Run("stat", "-L", "-c", "%i", path).AssertSuccess().Stdout.Trim();
}
