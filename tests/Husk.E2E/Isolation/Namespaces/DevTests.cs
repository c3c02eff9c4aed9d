using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Namespaces;

/// <summary>The container's /dev: default nodes, standard symlinks, linux.devices.</summary>
[Collection(IsolationCollection.Name)]
public class DevTests
{
    // stat: name, major (hex), minor (hex), permission bits, type, owner
    const string StatFormat = "'%n %t:%T %a %F %u:%g'";

    static readonly string[] DefaultNodes =
    [
        "/dev/null 1:3 666 character special file 0:0",
        "/dev/zero 1:5 666 character special file 0:0",
        "/dev/full 1:7 666 character special file 0:0",
        "/dev/random 1:8 666 character special file 0:0",
        "/dev/urandom 1:9 666 character special file 0:0",
        "/dev/tty 5:0 666 character special file 0:0",
    ];

    static void AddDevice(Sandbox s, string path, string type, int major, int minor, int? fileMode = null, int? uid = null, int? gid = null)
    {
        var d = new JsonObject { ["path"] = path, ["type"] = type, ["major"] = major, ["minor"] = minor };
        if (fileMode is { } m) d["fileMode"] = m;
        if (uid is { } u) d["uid"] = u;
        if (gid is { } g) d["gid"] = g;
        ((JsonArray)(s.Linux["devices"] ??= new JsonArray())).Add(d);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Default_devices_have_the_right_numbers_and_mode_0666_and_work(bool userNamespace)
    {
        using var s = new Sandbox();
        if (userNamespace) s.WithUserNamespace();
        s.Script($"stat -c {StatFormat} /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; " +
                 "echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; " +
                 "{ echo x > /dev/full; } 2>&1; true");
        var r = s.Run().AssertSuccess();
        var lines = r.StdoutLines;
        if (userNamespace)
        {
            // mknod is refused in a user namespace: the host's nodes are bind-mounted; the host's
            // root owner shows as the overflow id, the device numbers are the same.
            Assert.Equal(DefaultNodes.Select(n => n[..n.LastIndexOf(' ')]), lines[..6].Select(l => l[..l.LastIndexOf(' ')]));
        }
        else Assert.Equal(DefaultNodes, lines[..6]);
        Assert.Equal(["null-ok", "3", "4"], lines[6..9]);
        Assert.Contains("No space left on device", lines[9]);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Standard_symlinks_exist()
    {
        using var s = new Sandbox();
        s.Script("for l in fd stdin stdout stderr ptmx; do echo \"$l -> $(readlink /dev/$l)\"; done; ls /dev/fd/ | grep -c .");
        var r = s.Run().AssertSuccess();
        Assert.Equal(["fd -> /proc/self/fd", "stdin -> /proc/self/fd/0", "stdout -> /proc/self/fd/1",
            "stderr -> /proc/self/fd/2", "ptmx -> pts/ptmx"], r.StdoutLines[..5]);
        Assert.NotEqual("0", r.StdoutLines[5]);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Linux_devices_are_created_with_their_mode_and_owner()
    {
        using var s = new Sandbox();
        AddDevice(s, "/dev/fuse", "c", 10, 229, fileMode: 0b110_110_110);              // 0666
        AddDevice(s, "/dev/mydev", "c", 1, 3, fileMode: 0b110_100_010, uid: 1000, gid: 1001); // 0642
        AddDevice(s, "/dev/sub/dir/deep", "c", 1, 5, fileMode: 0b110_000_000);          // 0600, parents made
        s.Script($"stat -c {StatFormat} /dev/fuse /dev/mydev /dev/sub/dir/deep; echo x > /dev/mydev && echo mydev-ok");
        var r = s.Run().AssertSuccess();
        Assert.Equal([
            "/dev/fuse a:e5 666 character special file 0:0",
            "/dev/mydev 1:3 642 character special file 1000:1001",
            "/dev/sub/dir/deep 1:5 600 character special file 0:0",
            "mydev-ok",
        ], r.StdoutLines);

        // Seen from the host through /proc/PID/root, too.
        s.Script("exec sleep 1000");
        int pid = s.StartDetached(out var id);
        var st = ProcessRunner.Run("stat", "-c", "%t:%T %a %u:%g", $"/proc/{pid}/root/dev/mydev").AssertSuccess();
        Assert.Equal("1:3 642 1000:1001", st.Stdout.Trim());
        s.Delete(id);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void A_spec_device_replaces_a_default_one()
    {
        using var s = new Sandbox();
        AddDevice(s, "/dev/null", "c", 1, 3, fileMode: 0b110_110_000); // 0660
        s.Script("stat -c '%t:%T %a' /dev/null; ls /dev | grep -c '^null$'");
        var r = s.Run().AssertSuccess();
        Assert.Equal(["1:3 660", "1"], r.StdoutLines);
        s.AssertNothingLeaked();
    }

    [Theory]
    [InlineData("/etc/evil")]
    [InlineData("/dev/../etc/evil")]
    [InlineData("/dev")]
    [InlineData("dev/relative")]
    public void A_device_path_outside_dev_is_refused_with_a_clear_error(string path)
    {
        using var s = new Sandbox();
        AddDevice(s, path, "c", 1, 3);
        var r = s.Run().AssertFailure();
        Assert.Contains(path, r.Stderr);
        Assert.Contains("/dev", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.False(Path.Exists(s.Bundle.HostPath("/etc/evil")), "the device was created outside /dev");
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }
}
