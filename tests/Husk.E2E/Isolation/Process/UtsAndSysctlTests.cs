using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Process;

/// <summary>hostname, domainname and linux.sysctl: set inside the container's namespaces, never on the host.</summary>
public class UtsAndSysctlTests
{
    static JsonObject Linux(Bundle b) => (JsonObject)(b.Config["linux"] ??= new JsonObject());

    [Fact]
    public void Hostname_and_domainname_are_set_in_the_containers_uts_namespace()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.Config["hostname"] = "box-one";
        bundle.Config["domainname"] = "example.test";
        bundle.SetScript("hostname; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname; readlink /proc/self/ns/uts").Save();
        string hostName = File.ReadAllText("/proc/sys/kernel/hostname"), hostDomain = File.ReadAllText("/proc/sys/kernel/domainname");

        var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();

        var lines = r.StdoutLines;
        Assert.Equal(["box-one", "box-one", "example.test"], lines[..3]);
        Assert.NotEqual(File.ResolveLinkTarget("/proc/self/ns/uts", false)!.ToString(), lines[3]);
        Assert.Equal(hostName, File.ReadAllText("/proc/sys/kernel/hostname"));
        Assert.Equal(hostDomain, File.ReadAllText("/proc/sys/kernel/domainname"));
    }

    [Fact]
    public void Namespaced_sysctls_are_written_inside_and_not_on_the_host()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        // Write the opposite of the host's values, so an accidental write to the host would show.
        string hostFwd = File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim();
        string hostShm = File.ReadAllText("/proc/sys/kernel/shm_rmid_forced").Trim();
        string fwd = hostFwd == "1" ? "0" : "1", shm = hostShm == "1" ? "0" : "1";
        Linux(bundle)["sysctl"] = new JsonObject
        {
            ["net.ipv4.ip_forward"] = fwd,
            ["kernel.shm_rmid_forced"] = shm,
            ["kernel.domainname"] = "sysctl.example",
        };
        bundle.SetScript("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced /proc/sys/kernel/domainname").Save();

        var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();

        Assert.Equal([fwd, shm, "sysctl.example"], r.StdoutLines);
        Assert.Equal(hostFwd, File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim());
        Assert.Equal(hostShm, File.ReadAllText("/proc/sys/kernel/shm_rmid_forced").Trim());
    }

    [Theory]
    [InlineData("vm.swappiness", "10", null, "not namespaced")]
    [InlineData("kernel.panic", "5", null, "not namespaced")]
    [InlineData("net.ipv4.ip_forward", "1", "network", "network namespace")]
    [InlineData("kernel.shm_rmid_forced", "1", "ipc", "IPC namespace")]
    public void A_sysctl_that_would_change_the_host_is_refused_with_one_clear_line(string key, string value, string? dropNamespace, string why)
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        var id = root.NewId();
        ProcessProbe.UseTestCgroup(bundle, id);
        Linux(bundle)["sysctl"] = new JsonObject { [key] = value };
        if (dropNamespace != null)
        {
            var ns = (JsonArray)Linux(bundle)["namespaces"]!;
            foreach (var n in ns.Where(n => (string)n!["type"]! == dropNamespace).ToList()) ns.Remove(n);
        }
        bundle.Save();
        string hostValue = File.ReadAllText("/proc/sys/" + key.Replace('.', '/'));

        var r = root.Run("create", "--bundle", bundle.Dir, id).AssertFailure();

        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains($"/linux/sysctl/{key}", r.Stderr);
        Assert.Contains(why, r.Stderr);
        Assert.Equal(hostValue, File.ReadAllText("/proc/sys/" + key.Replace('.', '/')));
        ProcessProbe.AssertNothingLeft(root, id);
    }
}
