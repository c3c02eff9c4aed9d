using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// ID-mapped bind mounts (mounts[].uidMappings/gidMappings) through mount_setattr(MOUNT_ATTR_IDMAP).
/// As in runc, a mapping's containerID is the id on disk and its hostID the id the mount shows
/// (then seen through the container's own user namespace, if it has one).
/// </summary>
[Collection(SecurityCollection.Name)]
public class IdmappedMountTests : IDisposable
{
    readonly string _src = Directory.CreateTempSubdirectory("husk-idmap-").FullName;

    public IdmappedMountTests()
    {
        File.WriteAllText(Path.Combine(_src, "owned"), "x");
        ProcessRunner.Run("chown", ["-R", "1234:1234", _src], new RunOptions()).AssertSuccess();
        File.SetUnixFileMode(_src, (UnixFileMode)0b111_101_101);
    }

    public void Dispose()
    {
        Mounts.UnmountUnder(_src);
        Directory.Delete(_src, recursive: true);
    }

    static JsonArray Maps(int container, int host, int size) =>
        new(new JsonObject { ["containerID"] = container, ["hostID"] = host, ["size"] = size });

    [Fact]
    public void A_file_owned_by_host_uid_1234_appears_as_the_mapped_id_and_writes_map_back()
    {
        using var s = new Sandbox("sh", "-c", "stat -c '%u %g' /plain/owned /mapped/owned; touch /mapped/new 2>&1; echo touch=$?");
        var mounts = (JsonArray)s.Config["mounts"]!;
        mounts.Add(new JsonObject { ["destination"] = "/plain", ["type"] = "bind", ["source"] = _src, ["options"] = Attack.Strings("rbind", "ro") });
        mounts.Add(new JsonObject
        {
            ["destination"] = "/mapped", ["type"] = "bind", ["source"] = _src, ["options"] = Attack.Strings("rbind"),
            ["uidMappings"] = Maps(1234, 0, 1), ["gidMappings"] = Maps(1234, 0, 1),
        });
        var r = s.Run().AssertSuccess();
        Assert.Equal("1234 1234", r.StdoutLines[0]);
        Assert.Equal("0 0", r.StdoutLines[1]);
        Assert.Contains("touch=0", r.Stdout);
        // Root inside wrote through the mapping: on disk the new file is host uid 1234's.
        var owner = Attack.Sh($"stat -c '%u %g' {Attack.Q(Path.Combine(_src, "new"))}").AssertSuccess().Stdout.Trim();
        Assert.Equal("1234 1234", owner);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void An_id_mapped_read_only_mount_refuses_writes()
    {
        using var s = new Sandbox("sh", "-c", "stat -c %u /mapped/owned; touch /mapped/x 2>&1; echo touch=$?");
        ((JsonArray)s.Config["mounts"]!).Add(new JsonObject
        {
            ["destination"] = "/mapped", ["type"] = "bind", ["source"] = _src, ["options"] = Attack.Strings("bind", "ro"),
            ["uidMappings"] = Maps(1234, 5, 1), ["gidMappings"] = Maps(1234, 5, 1),
        });
        var r = s.Run().AssertSuccess();
        Assert.Equal("5", r.StdoutLines[0]);
        Assert.Contains("Read-only file system", r.Stdout);
        Assert.False(File.Exists(Path.Combine(_src, "x")));
        s.AssertNothingLeaked();
    }
}
