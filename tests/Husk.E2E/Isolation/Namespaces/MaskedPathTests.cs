using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Namespaces;

/// <summary>linux.maskedPaths and linux.readonlyPaths, from inside and in /proc/PID/mountinfo.</summary>
[Collection(IsolationCollection.Name)]
public class MaskedPathTests
{
    static void Set(Sandbox s, string field, params string[] paths) =>
        s.Linux[field] = new JsonArray(paths.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray());

    [Fact]
    public void Masked_files_read_empty_and_masked_directories_are_empty_readonly_tmpfs()
    {
        using var s = new Sandbox();
        s.Bundle.WriteFile("/etc/secret/key", "do not show\n");
        s.Bundle.WriteFile("/etc/secret.txt", "hidden file\n");
        // /proc/kcore is masked by default, but this kernel has no /proc/kcore (CONFIG_PROC_KCORE
        // off): a missing path is skipped. /proc/keys and /proc/timer_list stand in for it.
        Set(s, "maskedPaths", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/acpi", "/etc/secret", "/etc/secret.txt", "/does/not/exist");
        s.Config["root"]!["readonly"] = false;
        s.WithCapability("CAP_DAC_OVERRIDE");
        s.Script("for f in /proc/keys /proc/timer_list /etc/secret.txt; do echo \"$f $(wc -c < $f)\"; done; " +
                 "ls -A /etc/secret | wc -l; ls -A /proc/acpi | wc -l; touch /etc/secret/x 2>&1; " +
                 "{ echo x > /etc/secret.txt; } 2>&1; echo rc=$?; cat /etc/secret.txt | wc -c");
        var r = s.Run().AssertSuccess();
        var lines = r.StdoutLines;
        Assert.Equal(["/proc/keys 0", "/proc/timer_list 0", "/etc/secret.txt 0", "0", "0"], lines[..5]);
        Assert.Contains("Read-only file system", lines[5]);
        // Writing to a file masked with /dev/null succeeds and goes nowhere.
        Assert.Equal(["rc=0", "0"], lines[6..8]);
        Assert.Equal("hidden file\n", File.ReadAllText(s.Bundle.HostPath("/etc/secret.txt")));
        Assert.Equal("do not show\n", File.ReadAllText(s.Bundle.HostPath("/etc/secret/key")));

        // The host sees the masks in the container's mount table.
        s.Script("exec sleep 1000");
        int pid = s.StartDetached(out var id);
        var mounts = MountLine.Of(pid);
        foreach (var dir in new[] { "/proc/acpi", "/etc/secret" })
        {
            var m = MountLine.At(mounts, dir);
            Assert.Equal("tmpfs", m.FsType);
            Assert.True(m.Has("ro"), m.ToString());
        }
        foreach (var file in new[] { "/proc/keys", "/proc/timer_list", "/etc/secret.txt" })
            Assert.Equal("/null", MountLine.At(mounts, file).Root); // the container's /dev/null
        Assert.DoesNotContain(mounts, m => m.MountPoint is "/proc/kcore" or "/does/not/exist");
        s.Delete(id);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Readonly_paths_refuse_writes()
    {
        using var s = new Sandbox();
        s.Bundle.WriteFile("/data/file", "original\n");
        // (This kernel has no /proc/sysrq-trigger; /proc/bus stands in for the default list's others.)
        Set(s, "readonlyPaths", "/proc/sys", "/proc/bus", "/data", "/does/not/exist");
        s.Config["root"]!["readonly"] = false;
        // Even with CAP_SYS_ADMIN the writes fail: the mounts are read-only.
        s.WithCapability("CAP_SYS_ADMIN");
        s.Script("{ echo 1 > /proc/sys/kernel/domainname; } 2>&1; echo rc=$?; { echo x > /data/file; } 2>&1; echo rc=$?; " +
                 "cat /proc/sys/kernel/ostype; cat /data/file");
        var r = s.Run().AssertSuccess();
        var lines = r.StdoutLines;
        Assert.Contains("Read-only file system", lines[0]);
        Assert.Equal("rc=1", lines[1]);
        Assert.Contains("Read-only file system", lines[2]);
        Assert.Equal("rc=1", lines[3]);
        Assert.Equal(["Linux", "original"], lines[4..6]);

        s.Script("exec sleep 1000");
        int pid = s.StartDetached(out var id);
        var mounts = MountLine.Of(pid);
        foreach (var p in new[] { "/proc/sys", "/proc/bus", "/data" })
        {
            var m = MountLine.At(mounts, p);
            foreach (var o in new[] { "ro", "nosuid", "nodev", "noexec" }) Assert.True(m.Has(o), $"{p} lacks {o}: {m}");
        }
        Assert.DoesNotContain(mounts, m => m.MountPoint == "/does/not/exist");
        s.Delete(id);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Default_spec_masks_and_readonly_paths_apply()
    {
        using var s = new Sandbox();
        s.Script("wc -c < /proc/keys; ls -A /sys/firmware | wc -l; { echo 1 > /proc/sys/vm/drop_caches; } 2>&1; true");
        var r = s.Run().AssertSuccess();
        Assert.Equal("0", r.StdoutLines[0].Trim());
        Assert.Equal("0", r.StdoutLines[1].Trim());
        Assert.Contains("Read-only file system", r.StdoutLines[2]);
        s.AssertNothingLeaked();
    }

    [Theory]
    [InlineData("maskedPaths")]
    [InlineData("readonlyPaths")]
    public void A_symlink_in_a_masked_or_readonly_path_is_refused(string field)
    {
        using var s = new Sandbox();
        File.CreateSymbolicLink(s.Bundle.HostPath("/etc/link"), "/proc/self");
        Set(s, field, "/etc/link");
        var r = s.Run().AssertFailure();
        Assert.Contains("/etc/link", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        s.AssertNothingLeaked();
    }
}
