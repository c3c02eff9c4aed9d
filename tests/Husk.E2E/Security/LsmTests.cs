using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>AppArmor and SELinux: applied where the host has the LSM; a clear error at create where it does not.</summary>
[Collection(SecurityCollection.Name)]
public class LsmTests
{
    static bool AppArmor => File.Exists("/sys/module/apparmor/parameters/enabled") &&
                            File.ReadAllText("/sys/module/apparmor/parameters/enabled").Trim() == "Y";

    static bool Selinux => File.Exists("/sys/fs/selinux/enforce");

    [Fact]
    public void A_label_for_an_lsm_the_host_lacks_fails_create_in_one_line()
    {
        using var s = new Sandbox("true");
        if (!AppArmor)
        {
            s.Bundle.Process["apparmorProfile"] = "husk-e2e-profile";
            var r = s.Run().AssertFailure();
            Assert.Equal("husk: /process/apparmorProfile: profile \"husk-e2e-profile\" is set but AppArmor is not enabled on this host",
                Attack.OneLine(r));
            s.Bundle.Process.Remove("apparmorProfile");
        }
        if (!Selinux)
        {
            s.Bundle.Process["selinuxLabel"] = "system_u:system_r:container_t:s0";
            Assert.Contains("SELinux is not enabled on this host", Attack.OneLine(s.Run().AssertFailure()));
            s.Bundle.Process.Remove("selinuxLabel");
            s.Linux["mountLabel"] = "system_u:object_r:container_file_t:s0";
            Assert.Contains("/linux/mountLabel", Attack.OneLine(s.Run().AssertFailure()));
        }
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Features_report_the_hosts_lsms()
    {
        var f = JsonNode.Parse(HuskCli.Run("features").AssertSuccess().Stdout)!;
        Assert.Equal(AppArmor, (bool)f["linux"]!["apparmor"]!["enabled"]!);
        Assert.Equal(Selinux, (bool)f["linux"]!["selinux"]!["enabled"]!);
    }
}
