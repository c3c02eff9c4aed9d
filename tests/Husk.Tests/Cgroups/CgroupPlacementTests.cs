using Husk.Cgroups;
using Xunit;

namespace Husk.Tests.Cgroups;

/// <summary>
/// Where a new process goes (<see cref="CgroupPlacement"/>): the rules over a manager's directories,
/// on the hybrid host of <see cref="CgroupHostTests"/> and on a pure v2 one. Nothing is created or opened.
/// </summary>
public class CgroupPlacementTests
{
    static HostInfo Hybrid => CgroupHost.Parse(CgroupHostTests.HybridMountinfo, CgroupHostTests.HybridSelfCgroup, "");

    static HostInfo V2 => CgroupHost.Parse("24 22 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/init.scope\n", "memory pids");

    static HostInfo PureV1 => CgroupHost.Parse(
        "30 22 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n31 22 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n",
        "5:memory:/\n4:pids:/\n", null);

    static IReadOnlyList<CgroupDir> DirsOf(HostInfo host, string? path)
        => ((CgroupManagerBase)CgroupManagers.ForContainer(host, path, "abc")).Dirs;

    [Fact]
    public void Hybrid_starts_inside_the_unified_directory_and_moves_itself_into_every_v1_one()
    {
        var dirs = DirsOf(Hybrid, "/k8s/abc");
        Assert.Equal("/sys/fs/cgroup/unified/k8s/abc", CgroupPlacement.StartDirectoryOf(dirs)?.Dir);
        var files = CgroupPlacement.SelfMoveFilesOf(dirs);
        Assert.Equal(dirs.Count - 1, files.Count);
        Assert.Contains("/sys/fs/cgroup/memory/k8s/abc/tasks", files);
        Assert.Contains("/sys/fs/cgroup/systemd/k8s/abc/tasks", files);
        Assert.DoesNotContain("/sys/fs/cgroup/unified/k8s/abc/tasks", files);
    }

    [Fact]
    public void V2_starts_inside_its_one_directory_and_moves_itself_nowhere()
    {
        var dirs = DirsOf(V2, null);
        Assert.Equal("/sys/fs/cgroup/husk/abc", CgroupPlacement.StartDirectoryOf(dirs)?.Dir);
        Assert.Empty(CgroupPlacement.SelfMoveFilesOf(dirs));
    }

    [Fact]
    public void Pure_v1_is_started_outside_and_moves_itself_into_each_hierarchy()
    {
        var dirs = DirsOf(PureV1, "/k8s/abc");
        Assert.Null(CgroupPlacement.StartDirectoryOf(dirs));
        Assert.Equal(["/sys/fs/cgroup/pids/k8s/abc/tasks", "/sys/fs/cgroup/memory/k8s/abc/tasks"], CgroupPlacement.SelfMoveFilesOf(dirs));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Before_the_start_only_the_start_directory_is_made_unless_rootless(bool rootless)
    {
        var dirs = DirsOf(Hybrid, "/k8s/abc");
        var before = dirs.Where(CgroupPlacement.MadeBeforeStart(rootless)).Select(d => d.Dir).ToList();
        Assert.Equal(rootless ? dirs.Select(d => d.Dir).ToList() : ["/sys/fs/cgroup/unified/k8s/abc"], before);
        // What is not made first is exactly what the process moves itself into.
        if (!rootless) Assert.Equal(dirs.Where(CgroupPlacement.IsSelfMoved), dirs.Where(d => !CgroupPlacement.MadeBeforeStart(rootless)(d)));
        Assert.All(DirsOf(V2, null), d => Assert.True(CgroupPlacement.MadeBeforeStart(rootless)(d)));
    }

    [Fact]
    public void Criu_cgroup_roots_name_the_v1_hierarchies_where_the_path_differs()
    {
        Assert.Equal([(null, "/k8s/abc")], CgroupManagers.ForContainer(Hybrid, "/k8s/abc", "abc").CriuCgroupRoots());
        // Relative: below the caller's cgroup, which differs in the memory hierarchy only.
        Assert.Equal([(null, "/pod/abc"), ("memory", "/process_api/bcc6b75d189d5762155d630cf77027a5/pod/abc")],
            CgroupManagers.ForContainer(Hybrid, "pod/abc", "abc").CriuCgroupRoots());
        Assert.Equal([(null, "/husk/abc")], CgroupManagers.ForContainer(V2, null, "abc").CriuCgroupRoots());
    }
}
