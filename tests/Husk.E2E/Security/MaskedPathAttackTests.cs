using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// The 2025 runc advisories (CVE-2025-31133, -52565, -52881) and CVE-2019-16884: masked paths must stay
/// masked when the rootfs image replaces /dev/null, /proc/sys must not be writable, and /proc
/// cannot be redirected by a symlink in the image.
/// </summary>
[Collection(SecurityCollection.Name)]
public class MaskedPathAttackTests
{
    const string CorePattern = "/proc/sys/kernel/core_pattern";

    [Fact]
    public void Dev_null_replaced_by_a_symlink_fails_create_clearly_and_masks_nothing_wrong()
    {
        string before = File.ReadAllText(CorePattern);
        using var s = new Sandbox("true");
        // The image's /dev is used as it is (no tmpfs over it), and its /dev/null points at core_pattern.
        var mounts = (JsonArray)s.Config["mounts"]!;
        foreach (var m in mounts.Where(m => (string?)m!["destination"] == "/dev").ToList()) mounts.Remove(m);
        File.CreateSymbolicLink(s.Bundle.HostPath("/dev/null"), CorePattern);
        s.Linux["maskedPaths"] = Attack.Strings("/proc/keys", "/proc/timer_list");
        var r = s.Run().AssertFailure();
        Assert.Contains("/dev/null is not the null device", Attack.OneLine(r));
        Assert.Equal(before, File.ReadAllText(CorePattern));
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }

    [Fact]
    public void With_a_dev_tmpfs_the_images_dev_null_symlink_is_hidden()
    {
        using var s = new Sandbox("sh", "-c", "stat -c '%t:%T %F' /dev/null; wc -c < /proc/keys");
        File.CreateSymbolicLink(s.Bundle.HostPath("/dev/null"), CorePattern);
        s.Linux["maskedPaths"] = Attack.Strings("/proc/keys");
        var r = s.Run().AssertSuccess();
        Assert.Equal(["1:3 character special file", "0"], r.StdoutLines);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Proc_sys_writes_are_blocked_and_sysrq_trigger_is_masked()
    {
        string before = File.ReadAllText(CorePattern);
        // The default spec (husk spec): /proc/sys read-only, /proc/sysrq-trigger masked. Root inside.
        using var s = new Sandbox("sh", "-c",
            $"{{ echo '|/tmp/pwn' > {CorePattern}; }} 2>&1; echo rc=$?; " +
            "if [ -e /proc/sysrq-trigger ]; then { echo h > /proc/sysrq-trigger; } 2>&1; echo sysrq=$?; else echo sysrq=absent; fi");
        Result r;
        try { r = s.Run().AssertSuccess(); }
        finally
        {
            // Should the write ever get through, the host is put back as it was.
            if (File.ReadAllText(CorePattern) != before) File.WriteAllText(CorePattern, before);
        }
        Assert.Contains("Read-only file system", r.Stdout);
        Assert.Contains("rc=1", r.Stdout);
        if (File.Exists("/proc/sysrq-trigger"))
        {
            // Masked with /dev/null: the write "succeeds" and goes nowhere.
            s.Bundle.SetScript("exec sleep 1000").Save();
            int pid = s.StartDetached(out var id);
            Assert.Equal("/null", MountLine.At(MountLine.Of(pid), "/proc/sysrq-trigger").Root);
            s.Delete(id);
        }
        else Assert.Contains("sysrq=absent", r.Stdout);
        s.AssertNothingLeaked();
    }

    [Theory]
    [InlineData("/etc")]
    [InlineData("../..")]
    [InlineData("/")]
    public void A_symlinked_proc_in_the_rootfs_is_refused(string target)
    {
        using var s = new Sandbox("true");
        Directory.Delete(s.Bundle.HostPath("/proc"));
        File.CreateSymbolicLink(s.Bundle.HostPath("/proc"), target);
        var r = s.Run().AssertFailure();
        Assert.Contains("mount proc to /proc", Attack.OneLine(r));
        // Nothing was mounted where the link points, in the rootfs or on the host.
        Assert.DoesNotContain(Mounts.MountPoints(), m => m == s.Bundle.HostPath("/etc") || m == s.Bundle.Rootfs);
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }
}
