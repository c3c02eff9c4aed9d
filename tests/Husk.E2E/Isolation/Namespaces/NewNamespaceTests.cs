using System.Globalization;
using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Namespaces;

/// <summary>linux.namespaces without a path: the container gets new ones, seen from inside and from the host.</summary>
[Collection(IsolationCollection.Name)]
public class NewNamespaceTests
{
    static readonly string[] DefaultKinds = ["pid", "mnt", "uts", "ipc", "net", "cgroup"];

    [Fact]
    public void Default_namespaces_are_new_and_differ_from_the_hosts()
    {
        using var s = new Sandbox("sleep", "1000");
        s.WithCgroupNamespace();
        int pid = s.StartDetached(out var id);
        foreach (var kind in DefaultKinds)
            Assert.NotEqual(HostProc.SelfNs(kind), HostProc.Ns(pid, kind));
        // Not asked for: user and time stay the host's.
        Assert.Equal(HostProc.SelfNs("user"), HostProc.Ns(pid, "user"));
        Assert.Equal(HostProc.SelfNs("time"), HostProc.Ns(pid, "time"));
        // pid 1 in its own pid namespace.
        Assert.Matches(@"^\d+\s+1$", HostProc.Status(pid, "NSpid"));
        s.Delete(id);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Inside_pid_is_1_hostname_is_its_own_only_lo_and_cgroup_root()
    {
        using var s = new Sandbox();
        s.WithCgroupNamespace();
        s.Config["hostname"] = "iso-host";
        s.Script("echo pid=$$; hostname; ls /sys/class/net; ip -o link | cut -d: -f2; cat /proc/self/cgroup; readlink /proc/self/ns/net");
        var r = s.Run().AssertSuccess();
        var lines = r.StdoutLines;
        Assert.Equal("pid=1", lines[0]);
        Assert.Equal("iso-host", lines[1]);
        Assert.Equal("lo", lines[2]);
        Assert.Equal(" lo", lines[3]);
        var cgroupLines = lines.Where(l => Regex.IsMatch(l, @"^\d+:[^:]*:")).ToList();
        Assert.NotEmpty(cgroupLines);
        Assert.All(cgroupLines, l => Assert.EndsWith(":/", l));
        Assert.NotEqual(HostProc.SelfNs("net"), lines[^1]);
        Assert.NotEqual("iso-host", System.Net.Dns.GetHostName());
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Ipc_namespace_hides_the_hosts_message_queues()
    {
        // A System V queue made on the host (ipcmk) must not be listed inside.
        var mk = ProcessRunner.Run("ipcmk", "-Q");
        mk.AssertSuccess("ipcmk -Q on the host");
        var qid = System.Text.RegularExpressions.Regex.Match(mk.Stdout, @"\d+").Value;
        try
        {
            using var s = new Sandbox();
            s.Script("cat /proc/sysvipc/msg | wc -l");
            var r = s.Run().AssertSuccess();
            Assert.Equal("1", r.Stdout.Trim()); // the header line only
            Assert.True(File.ReadAllLines("/proc/sysvipc/msg").Length > 1, "the host's queue vanished");
            s.AssertNothingLeaked();
        }
        finally { ProcessRunner.Run("ipcrm", "-q", qid); }
    }

    [Fact]
    public void User_namespace_maps_container_root_to_host_100000()
    {
        using var s = new Sandbox("sleep", "1000");
        s.WithUserNamespace(100000);

        // Inside: root, with the mapping.
        s.Script("id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map; echo x > /dev/shm/made-inside");
        var r = s.Run().AssertSuccess();
        var lines = r.StdoutLines.Select(Words).ToArray();
        Assert.Equal(["0", "0", "0 100000 65536", "0 100000 65536"], lines);

        // From the host: the maps, the credentials, the new user namespace, and a file made in a
        // tmpfs inside belongs to host uid 100000.
        s.Script("echo x > /dev/shm/made-inside; exec sleep 1000");
        int pid = s.StartDetached(out var id);
        Assert.Equal("0 100000 65536", Words(File.ReadAllText($"/proc/{pid}/uid_map")));
        Assert.Equal("0 100000 65536", Words(File.ReadAllText($"/proc/{pid}/gid_map")));
        Assert.NotEqual(HostProc.SelfNs("user"), HostProc.Ns(pid, "user"));
        Assert.StartsWith("100000\t100000\t100000\t100000", HostProc.Status(pid, "Uid"));
        string made = $"/proc/{pid}/root/dev/shm/made-inside";
        WaitFor(() => File.Exists(made), made);
        var st = ProcessRunner.Run("stat", "-c", "%u:%g", made).AssertSuccess();
        Assert.Equal("100000:100000", st.Stdout.Trim());
        s.Delete(id);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Overlapping_uid_mappings_are_one_clear_error_and_leave_nothing()
    {
        using var s = new Sandbox();
        s.WithUserNamespace(100000);
        s.Linux["uidMappings"]!.AsArray().Add(new JsonObject { ["containerID"] = 10, ["hostID"] = 300000, ["size"] = 5 });
        var r = s.Run().AssertFailure();
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("/linux/uidMappings", r.Stderr);
        Assert.Contains("Invalid argument", r.Stderr);
        Assert.DoesNotContain(" : '", r.Stderr); // not .NET's exception text
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Time_namespace_shifts_monotonic_and_boottime_clocks()
    {
        const long bootOffset = 864000, monoOffset = 86400; // 10 days, 1 day
        using var s = new Sandbox();
        s.Linux["namespaces"]!.AsArray().Add(new JsonObject { ["type"] = "time" });
        s.Linux["timeOffsets"] = new JsonObject
        {
            ["boottime"] = new JsonObject { ["secs"] = bootOffset, ["nanosecs"] = 0 },
            ["monotonic"] = new JsonObject { ["secs"] = monoOffset, ["nanosecs"] = 0 },
        };
        s.Script("cat /proc/uptime; cat /proc/self/timens_offsets; readlink /proc/self/ns/time");
        double before = HostUptime();
        var r = s.Run().AssertSuccess();
        double after = HostUptime();
        double inside = double.Parse(r.StdoutLines[0].Split(' ')[0], CultureInfo.InvariantCulture);
        Assert.InRange(inside, before + bootOffset - 1, after + bootOffset + 1);
        Assert.Contains(r.StdoutLines, l => Regex.IsMatch(l, $@"^monotonic\s+{monoOffset}\s+0$"));
        Assert.Contains(r.StdoutLines, l => Regex.IsMatch(l, $@"^boottime\s+{bootOffset}\s+0$"));
        Assert.NotEqual(HostProc.SelfNs("time"), r.StdoutLines[^1]);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Time_namespace_works_inside_a_new_user_namespace_too()
    {
        using var s = new Sandbox();
        var ns = s.Linux["namespaces"]!.AsArray();
        ns.Add(new JsonObject { ["type"] = "time" });
        s.WithUserNamespace(100000);
        s.Linux["timeOffsets"] = new JsonObject { ["boottime"] = new JsonObject { ["secs"] = 500000 } };
        s.Script("cat /proc/uptime");
        double before = HostUptime();
        var r = s.Run().AssertSuccess();
        double inside = double.Parse(r.Stdout.Split(' ')[0], CultureInfo.InvariantCulture);
        Assert.InRange(inside, before + 500000 - 1, HostUptime() + 500000 + 1);
        s.AssertNothingLeaked();
    }

    /// <summary>Whitespace runs collapsed to one space, trimmed.</summary>
    static string Words(string s) => string.Join(' ', s.Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries));

    static double HostUptime() => double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], CultureInfo.InvariantCulture);

    internal static void WaitFor(Func<bool> cond, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!cond())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for {what}");
            Thread.Sleep(10);
        }
    }

    static class Regex
    {
        public static bool IsMatch(string s, string p) => System.Text.RegularExpressions.Regex.IsMatch(s, p);
    }
}
