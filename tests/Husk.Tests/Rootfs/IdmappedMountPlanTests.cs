using Husk.Rootfs;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Rootfs;

public class IdmappedMountPlanTests
{
    static LinuxIDMapping Map(uint c, uint h, uint n) => new() { ContainerID = c, HostID = h, Size = n };

    [Fact]
    public void Only_mounts_with_mappings_or_idmap_options_are_planned()
    {
        var spec = new Husk.Spec.Spec
        {
            Linux = new Husk.Spec.Linux { UIDMappings = [Map(0, 100000, 65536)], GIDMappings = [Map(0, 200000, 65536)] },
            Mounts =
            [
                new Mount { Destination = "/plain", Type = "bind", Source = "/src", Options = ["rbind"] },
                new Mount { Destination = "/own", Type = "bind", Source = "/src", Options = ["rbind", "ro", "nosuid"], UIDMappings = [Map(0, 1000, 1)], GIDMappings = [Map(0, 1000, 1)] },
                new Mount { Destination = "/inherit", Type = "bind", Source = "/src", Options = ["bind", "ridmap"] },
            ],
        };
        var plan = IdmappedMounts.Plan(spec);
        Assert.Equal([1, 2], plan.Select(p => p.Index));
        var own = plan[0];
        Assert.Equal("1000", own.Uid.Single().HostID.ToString());
        Assert.True(own.RecursiveBind);
        Assert.False(own.RecursiveIdmap);
        Assert.Equal(0x1UL | 0x2UL, own.Attrs);   // MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID
        var inherit = plan[1];
        Assert.Equal(100000u, inherit.Uid.Single().HostID);   // the container's own mappings
        Assert.Equal(200000u, inherit.Gid.Single().HostID);
        Assert.True(inherit.RecursiveIdmap);
        Assert.False(inherit.RecursiveBind);
    }

    [Fact]
    public void Idmap_without_any_mappings_or_on_a_non_bind_mount_is_refused()
    {
        var spec = new Husk.Spec.Spec { Mounts = [new Mount { Destination = "/x", Type = "bind", Source = "/src", Options = ["idmap"] }] };
        Assert.Contains("needs uidMappings and gidMappings", Assert.Throws<HuskException>(() => IdmappedMounts.Plan(spec)).Message);
        spec.Mounts[0] = new Mount { Destination = "/x", Type = "tmpfs", Source = "tmpfs", UIDMappings = [Map(0, 1, 1)], GIDMappings = [Map(0, 1, 1)] };
        Assert.Contains("only supported for bind mounts", Assert.Throws<HuskException>(() => IdmappedMounts.Plan(spec)).Message);
    }
}
