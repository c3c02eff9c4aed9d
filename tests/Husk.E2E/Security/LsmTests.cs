using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>AppArmor and SELinux: applied where the host has the LSM; a clear error at create where it does not.</summary>
[Collection(SecurityCollection.Name)]
public class LsmTests
{
    [Fact]
    public void An_apparmor_profile_on_a_host_without_apparmor_fails_create_in_one_line()
    {
        if (HostFacts.Here.Has("apparmor")) Assert.Skip("host has AppArmor enabled, so a profile is applied, not refused");
        using var s = new Sandbox("true");
        s.Bundle.Process["apparmorProfile"] = "husk-e2e-profile";
        var r = s.Run().AssertFailure();
        Assert.Equal("husk: /process/apparmorProfile: profile \"husk-e2e-profile\" is set but AppArmor is not enabled on this host",
            Attack.OneLine(r));
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Selinux_labels_on_a_host_without_selinux_fail_create_in_one_line()
    {
        if (HostFacts.Here.Has("selinux")) Assert.Skip("host has SELinux enabled, so labels are applied, not refused");
        using var s = new Sandbox("true");
        s.Bundle.Process["selinuxLabel"] = "system_u:system_r:container_t:s0";
        Assert.Contains("SELinux is not enabled on this host", Attack.OneLine(s.Run().AssertFailure()));
        s.Bundle.Process.Remove("selinuxLabel");
        s.Linux["mountLabel"] = "system_u:object_r:container_file_t:s0";
        Assert.Contains("/linux/mountLabel", Attack.OneLine(s.Run().AssertFailure()));
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Features_and_check_agree_on_the_hosts_lsms()
    {
        var f = JsonNode.Parse(HuskCli.Run("features").AssertSuccess().Stdout)!;
        Assert.Equal(HostFacts.Here.Has("apparmor"), (bool)f["linux"]!["apparmor"]!["enabled"]!);
        Assert.Equal(HostFacts.Here.Has("selinux"), (bool)f["linux"]!["selinux"]!["enabled"]!);
    }
}
