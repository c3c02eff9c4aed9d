using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Namespaces;

/// <summary>The container's root: pivot_root or --no-pivot, root.readonly, linux.rootfsPropagation.</summary>
[Collection(IsolationCollection.Name)]
public class RootTests
{
    /// <summary>The mount points a default-spec container has, and nothing of the host's.</summary>
    static readonly string[] SpecMountPoints =
        ["/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Root_is_the_rootfs_and_the_hosts_files_are_out_of_reach(bool noPivot)
    {
        using var s = new Sandbox();
        s.Bundle.WriteFile("/etc/marker", "inside-rootfs\n");
        string[] flags = noPivot ? ["--no-pivot"] : [];
        // The bundle's own path, the host's /work and the host's root (via .. and via /proc/1/root) are not reachable.
        s.Script($"cat /etc/marker; ls {s.Bundle.Dir} 2>&1 >/dev/null | grep -c 'No such file'; cd /../../..; ls -a | sort | tr '\\n' ' '; echo; " +
                 "ls /proc/1/root/ | sort | tr '\\n' ' '; echo; cat /proc/self/mountinfo");
        var r = s.Run(flags).AssertSuccess();
        var lines = r.StdoutLines;
        Assert.Equal("inside-rootfs", lines[0]);
        Assert.Equal("1", lines[1]);
        var rootList = Directory.GetFileSystemEntries(s.Bundle.Rootfs).Select(Path.GetFileName).Append(".").Append("..").Order(StringComparer.Ordinal);
        Assert.Equal(string.Join(' ', rootList) + " ", lines[2]);
        Assert.Equal(string.Join(' ', Directory.GetFileSystemEntries(s.Bundle.Rootfs).Select(Path.GetFileName).Order(StringComparer.Ordinal)) + " ", lines[3]);
        // Only the spec's mounts are visible inside (and the masked/read-only paths below /proc and /sys).
        var mounts = MountLine.ParseAll(string.Join('\n', lines[4..]));
        var unexpected = mounts.Select(m => m.MountPoint)
            .Where(p => !SpecMountPoints.Contains(p) && !p.StartsWith("/proc/") && !p.StartsWith("/sys/")).ToList();
        Assert.True(unexpected.Count == 0, "host mounts visible inside: " + string.Join(", ", unexpected));

        // From the host: /proc/PID/root is the rootfs.
        s.Script("exec sleep 1000");
        int pid = s.StartDetached(out var id, flags);
        Assert.Equal("inside-rootfs\n", File.ReadAllText($"/proc/{pid}/root/etc/marker"));
        Assert.False(File.Exists($"/proc/{pid}/root{s.Bundle.ConfigPath}"), "the bundle is reachable through the container's root");
        var hostSide = MountLine.Of(pid);
        Assert.DoesNotContain(hostSide, m => m.MountPoint == "/work" || m.MountPoint.StartsWith("/run/husk-test"));
        // The old root is gone from the container's mount namespace: the host's proc mount (and
        // with --no-pivot any host proc or sysfs, which would let it undo masks) is not there.
        Assert.Equal(1, hostSide.Count(m => m.FsType == "proc" && m.Root == "/"));
        s.Delete(id);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Readonly_root_refuses_writes_but_a_tmpfs_on_tmp_stays_writable()
    {
        using var s = new Sandbox();
        s.Config["root"]!["readonly"] = true;
        ((JsonArray)s.Config["mounts"]!).Add(new JsonObject
        {
            ["destination"] = "/tmp", ["type"] = "tmpfs", ["source"] = "tmpfs",
            ["options"] = new JsonArray("nosuid", "nodev", "mode=1777"),
        });
        s.Script("touch /newfile 2>&1; echo rc=$?; { echo x > /etc/hostname; } 2>&1; echo rc=$?; echo ok > /tmp/f && cat /tmp/f; echo ok > /dev/shm/f && cat /dev/shm/f; " +
                 "awk '$5 == \"/\"' /proc/self/mountinfo");
        var r = s.Run().AssertSuccess();
        var lines = r.StdoutLines;
        Assert.Contains("Read-only file system", lines[0]);
        Assert.Equal("rc=1", lines[1]);
        Assert.Contains("Read-only file system", lines[2]);
        Assert.Equal("rc=1", lines[3]);
        Assert.Equal("ok", lines[4]);
        Assert.Equal("ok", lines[5]);
        Assert.True(MountLine.Parse(lines[6]).Has("ro"), lines[6]);
        Assert.False(File.Exists(s.Bundle.HostPath("/newfile")));
        Assert.Equal("husk\n", File.ReadAllText(s.Bundle.HostPath("/etc/hostname")));
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Writable_root_writes_reach_the_rootfs()
    {
        using var s = new Sandbox();
        s.Config["root"]!["readonly"] = false;
        s.Script("echo written > /newfile; awk '$5 == \"/\"' /proc/self/mountinfo");
        var r = s.Run().AssertSuccess();
        Assert.True(MountLine.Parse(r.StdoutLines[0]).Has("rw"), r.Stdout);
        Assert.Equal("written\n", File.ReadAllText(s.Bundle.HostPath("/newfile")));
        s.AssertNothingLeaked();
    }

    [Theory]
    [InlineData("shared", "shared:", false)]
    [InlineData("rshared", "shared:", false)]
    [InlineData("slave", "", false)]
    [InlineData("rslave", "", false)]
    [InlineData("private", "", false)]
    [InlineData("rprivate", "", false)]
    [InlineData("unbindable", "unbindable", false)]
    [InlineData("runbindable", "unbindable", false)]
    [InlineData("rshared", "shared:", true)]
    [InlineData("rslave", "", true)]
    [InlineData("runbindable", "unbindable", true)]
    public void Rootfs_propagation_applies_to_the_containers_root_and_never_reaches_the_host(string propagation, string expectedField, bool noPivot)
    {
        string[] flags = noPivot ? ["--no-pivot"] : [];
        using var s = new Sandbox();
        // The bundle lies on a host mount that is shared: a mistake in how the rootfs is bound
        // would make the container's mounts (proc, dev, ...) appear on the host under the bundle.
        ProcessRunner.Run("mount", "--bind", s.Bundle.Dir, s.Bundle.Dir).AssertSuccess();
        try
        {
            ProcessRunner.Run("mount", "--make-shared", s.Bundle.Dir).AssertSuccess();
            s.Linux["rootfsPropagation"] = propagation;
            s.Script("awk '$5 == \"/\"' /proc/self/mountinfo; mount -t tmpfs made-inside /tmp && echo mounted");
            s.Config["root"]!["readonly"] = false;
            s.WithCapability("CAP_SYS_ADMIN");
            var r = s.Run(flags).AssertSuccess();
            var root = MountLine.Parse(r.StdoutLines[0]);
            if (expectedField.Length > 0) Assert.StartsWith(expectedField, root.Propagation);
            else Assert.True(root.Propagation is "" or ['m', ..], $"/ inside is {root.Propagation}, expected private or a slave");
            Assert.Equal("mounted", r.StdoutLines[1]);

            // While one runs, the host sees nothing new under the bundle.
            s.Script("exec sleep 1000");
            int pid = s.StartDetached(out var id, flags);
            Assert.Equal([s.Bundle.Dir], Mounts.Under(s.Bundle.Dir));
            Assert.Contains(MountLine.Of(pid), m => m.MountPoint == "/" && (expectedField.Length == 0 || m.Propagation.StartsWith(expectedField)));
            s.Delete(id);
            Assert.Equal([s.Bundle.Dir], Mounts.Under(s.Bundle.Dir));
        }
        finally { Mounts.UnmountUnder(s.Bundle.Dir); }
        s.AssertNothingLeaked();
    }

    [Fact]
    public void An_invalid_rootfs_propagation_is_one_clear_error()
    {
        using var s = new Sandbox();
        s.Linux["rootfsPropagation"] = "sideways";
        var r = s.Run().AssertFailure();
        Assert.Contains("sideways", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        s.AssertNothingLeaked();
    }
}
