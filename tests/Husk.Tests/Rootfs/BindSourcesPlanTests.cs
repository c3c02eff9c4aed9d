using Husk.Container;
using Husk.Rootfs;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Rootfs;

public class BindSourcesPlanTests
{
    static Husk.Spec.Spec SpecWith(params string[] namespaces) => new()
    {
        Linux = new Husk.Spec.Linux { Namespaces = [.. namespaces.Select(t => new LinuxNamespace { Type = t })] },
        Mounts =
        [
            new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
            new Mount { Destination = "/a", Type = "bind", Source = "/src/a" },
            new Mount { Destination = "/b", Source = "/src/b", Options = ["rbind", "ro"] },
            new Mount { Destination = "/idmapped", Type = "bind", Source = "/src/c", Options = ["idmap"] },
            new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["bind"] },
            new Mount { Destination = "/nosource", Type = "bind", Options = ["bind"] },
        ],
    };

    [Fact]
    public void With_a_user_and_a_mount_namespace_every_bind_with_a_source_is_opened_except_idmapped_ones()
    {
        var spec = SpecWith("user", "mount");
        var plan = BindSources.Plan(spec, NamespacePlan.From(spec), privileged: true, idmapped: [3]);
        Assert.Equal([(1, "/src/a"), (2, "/src/b")], plan);
    }

    [Fact]
    public void Nothing_is_opened_without_a_user_namespace_or_a_mount_namespace_or_for_a_rootless_caller()
    {
        foreach (var (namespaces, privileged) in new[] { (new[] { "mount" }, true), (["user"], true), (["user", "mount"], false) })
        {
            var spec = SpecWith(namespaces);
            Assert.Empty(BindSources.Plan(spec, NamespacePlan.From(spec), privileged, idmapped: []));
        }
    }

    [Fact]
    public void A_joined_user_namespace_counts_too()
    {
        var spec = SpecWith("mount");
        spec.Linux!.Namespaces.Add(new LinuxNamespace { Type = "user", Path = "/proc/1/ns/user" });
        Assert.Equal(2, BindSources.Plan(spec, NamespacePlan.From(spec), privileged: true, idmapped: [3]).Count);
    }
}
