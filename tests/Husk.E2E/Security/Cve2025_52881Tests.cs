using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// CVE-2025-52881 class: a runtime that writes a sysctl through the container's /proc writes wherever
/// that path leads, and a check that the file is on procfs does not help when what sits there is
/// another procfs file bind-mounted over it (in the CVE, by a container racing through a shared
/// mount). Here a createContainer hook stands in for that racer: in the container's mount namespace,
/// before the sysctls are written, it bind-mounts the host-global /proc/sys/kernel/printk_ratelimit_burst
/// over the container's /proc/sys/net/ipv4/ip_forward, and the spec sets net.ipv4.ip_forward.
/// Husk writes sysctls (and LSM attributes) through the host's procfs opened by nsexec.c before any
/// namespace was entered, with openat2 RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV|RESOLVE_BENEATH, and checks
/// the file is on procfs.
/// Observed before the fix: the host's printk_ratelimit_burst took the container's ip_forward value.
/// After: the host's value is unchanged and the container's ip_forward is set.
/// The init of `husk exec` reads what its security depends on (cap_last_cap, setgroups) the same
/// way: the container's root, able to mount, puts "3" over its /proc/sys/kernel/cap_last_cap and the
/// caller execs a process with only CAP_KILL. Observed before the fix: the exec'd process kept every
/// capability of the host's bounding set above 3 in its bounding set (CapBnd 000001fffefffff0: more than
/// the container itself has, CAP_SYS_MODULE included).
/// After: CapBnd is CAP_KILL alone (0000000000000020).
/// </summary>
[Collection(SecurityCollection.Name)]
public class Cve2025_52881Tests
{
    const string Target = "/proc/sys/kernel/printk_ratelimit_burst";

    [Fact]
    public void A_procfs_file_mounted_over_a_sysctl_never_receives_the_write()
    {
        using var s = new Sandbox("cat", "/proc/self/net/snmp");
        string before = File.ReadAllText(Target).Trim();
        string value = (int.Parse(before) + 7).ToString();   // not 0 or 1, so it cannot match by chance
        s.Linux["sysctl"] = new JsonObject { ["net.ipv4.ip_forward"] = value };
        s.Config["hooks"] = new JsonObject
        {
            ["createContainer"] = new JsonArray(new JsonObject
            {
                ["path"] = "/bin/sh",
                ["args"] = Attack.Strings("sh", "-c", $"mount --bind {Target} \"$0/proc/sys/net/ipv4/ip_forward\"", s.Bundle.Rootfs),
            }),
        };
        try
        {
            var r = s.Run();
            Assert.True(File.ReadAllText(Target).Trim() == before,
                $"the container's sysctl was written into the host's {Target}: {File.ReadAllText(Target).Trim()} (was {before}); {r.Describe("run")}");
            r.AssertSuccess("run with a procfs file over the sysctl");
            // The real sysctl of the container's network namespace got it ("Forwarding 1" in snmp's Ip line).
            var ip = r.StdoutLines.Where(l => l.StartsWith("Ip:", StringComparison.Ordinal)).ToArray();
            Assert.True(ip.Length == 2 && ip[1].Split(' ')[1] == "1", r.Describe("the container's ip_forward is not set"));
            s.AssertNothingLeaked();
        }
        finally
        {
            if (File.ReadAllText(Target).Trim() != before) File.WriteAllText(Target, before);
        }
    }

    [Fact]
    public void A_fake_cap_last_cap_in_the_container_does_not_shrink_the_exec_processes_bounding_set_drop()
    {
        using var s = new Sandbox("sh", "-c", "mount --bind /fake_cap_last_cap /proc/sys/kernel/cap_last_cap && touch /tmp/ready && exec sleep 1000");
        s.WithCapability("CAP_SYS_ADMIN");
        s.Config["root"]!["readonly"] = false;
        s.Bundle.WriteFile("/fake_cap_last_cap", "3\n");
        s.StartDetached(out var id);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!File.Exists(s.Bundle.HostPath("/tmp/ready")) && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.True(File.Exists(s.Bundle.HostPath("/tmp/ready")), "the container's set-up did not finish");

        string process = Path.Combine(s.Bundle.Dir, "process.json");
        var kill = Attack.Strings("CAP_KILL");
        File.WriteAllText(process, new JsonObject
        {
            ["args"] = Attack.Strings("grep", "CapBnd", "/proc/self/status"), ["cwd"] = "/",
            ["env"] = Attack.Strings("PATH=/bin"), ["user"] = new JsonObject { ["uid"] = 0, ["gid"] = 0 },
            ["capabilities"] = new JsonObject { ["bounding"] = kill.DeepClone(), ["effective"] = kill.DeepClone(), ["permitted"] = kill.DeepClone() },
            ["noNewPrivileges"] = true,
        }.ToJsonString());
        var r = s.Root.Run("exec", "--process", process, id).AssertSuccess("exec with CAP_KILL only");
        Assert.Equal("CapBnd:\t0000000000000020", r.Stdout.Trim());
        s.Delete(id);
        s.AssertNothingLeaked();
    }
}
