using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>Devices the spec does not allow, and the ownership of the container's stdio.</summary>
[Collection(SecurityCollection.Name)]
public class DeviceAndStdioTests
{
    /// <summary>major:minor of the file system holding the host's "/" (from mountinfo).</summary>
    static (string Major, string Minor) RootDevice()
    {
        var root = MountLine.Of(Environment.ProcessId).Last(m => m.MountPoint == "/");
        var parts = root.Dev.Split(':');
        return (parts[0], parts[1]);
    }

    [Fact]
    public void Mknod_of_a_block_device_fails_and_a_made_one_cannot_be_read()
    {
        var (major, minor) = RootDevice();
        using var s = new Sandbox();
        s.Config["root"]!["readonly"] = false;
        s.Script($"mknod /tmp/disk b {major} {minor} 2>&1; echo mknod=$?");
        var r = s.Run().AssertSuccess();
        Assert.Contains("Operation not permitted", r.Stdout);
        Assert.Contains("mknod=1", r.Stdout);

        // With CAP_MKNOD the node may be made, but the device cgroup refuses to open it.
        s.WithCapability("CAP_MKNOD");
        s.Script($"mknod /tmp/disk2 b {major} {minor} 2>&1; echo mknod=$?; head -c 512 /tmp/disk2 > /dev/null 2>&1; echo read=$?");
        r = s.Run().AssertSuccess();
        Assert.Contains("read=1", r.Stdout);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void A_device_outside_dev_is_refused_at_create()
    {
        using var s = new Sandbox("true");
        s.Linux["devices"] = new JsonArray(new JsonObject { ["path"] = "/etc/evil", ["type"] = "c", ["major"] = 1, ["minor"] = 3 });
        var r = s.Run().AssertFailure();
        Assert.Contains("/etc/evil", Attack.OneLine(r));
        Assert.False(File.Exists(s.Bundle.HostPath("/etc/evil")));
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Stdio_pipes_go_to_the_container_user_but_dev_null_and_host_files_are_never_chowned()
    {
        using var s = new Sandbox();
        s.Bundle.Process["user"] = new JsonObject { ["uid"] = 1000, ["gid"] = 1000 };
        s.Script("id -u; stat -L -c %u /proc/self/fd/0; stat -L -c %u /proc/self/fd/1; echo to-stderr >&2");
        string stderrFile = Path.Combine(s.Bundle.Dir, "stderr.log");
        File.WriteAllText(stderrFile, "");
        string Stat(string p) => Attack.Sh($"stat -c '%u %g %a' {Attack.Q(p)}").AssertSuccess().Stdout.Trim();
        string nullBefore = Stat("/dev/null"), fileBefore = Stat(stderrFile);

        var r = Attack.Sh($"exec {Attack.Q(HuskCli.BinaryPath)} --root {Attack.Q(s.Root.Path)} run --bundle {Attack.Q(s.Bundle.Save().Dir)} {s.NewId()} </dev/null 2>{Attack.Q(stderrFile)}")
            .AssertSuccess();
        // stdin (/dev/null) keeps its owner; stdout (a pipe made for this run) is the container user's.
        Assert.Equal(["1000", "0", "1000"], r.StdoutLines);
        Assert.Contains("to-stderr", File.ReadAllText(stderrFile));
        Assert.Equal(nullBefore, Stat("/dev/null"));
        Assert.Equal(fileBefore, Stat(stderrFile));
        s.AssertNothingLeaked();
    }
}
