using System.Text;
using Husk.Cgroups;
using Xunit;

namespace Husk.Tests.Cgroups;

public class CgroupPathTests
{
    static HostInfo Hybrid => CgroupHost.Parse(CgroupHostTests.HybridMountinfo, CgroupHostTests.HybridSelfCgroup, "");

    [Theory]
    [InlineData(null, "abc", "/husk/abc")]
    [InlineData("", "abc", "/husk/abc")]
    [InlineData("/kubepods/pod1/abc", "abc", "/kubepods/pod1/abc")]
    [InlineData("//a/./b/", "abc", "/a/b")]
    [InlineData("/a/x/../b", "abc", "/a/b")]
    [InlineData("pod/abc", "abc", "pod/abc")]
    [InlineData("./pod//abc/", "abc", "pod/abc")]
    public void Paths_are_normalised(string? given, string id, string expected)
        => Assert.Equal(expected, CgroupPaths.Normalize(given, id));

    [Theory]
    [InlineData("/../etc", "escapes")]
    [InlineData("/a/../../b", "escapes")]
    [InlineData("../sibling", "escapes")]
    [InlineData("/", "root cgroup")]
    [InlineData("/a/..", "root cgroup")]
    [InlineData(".", "own cgroup")]
    [InlineData("a\0b", "NUL")]
    [InlineData("a\nb", "control character")]
    [InlineData("system.slice:husk:abc", "systemd cgroup driver not supported")]
    public void Bad_paths_are_one_line_errors(string given, string fragment)
    {
        var e = Assert.Throws<HuskException>(() => CgroupPaths.Normalize(given, "abc"));
        Assert.Contains(fragment, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain('\0', e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("a\0")]
    public void Bad_ids_are_rejected_for_the_default_path(string id)
    {
        var e = Assert.Throws<HuskException>(() => CgroupPaths.Normalize(null, id));
        Assert.DoesNotContain('\0', e.Message);
    }

    [Fact]
    public void Absolute_paths_sit_under_each_hierarchy_root()
    {
        var m = CgroupManagers.ForContainer(Hybrid, "/k8s/abc", "abc");
        Assert.IsType<CgroupV1Manager>(m);
        Assert.Equal("/k8s/abc", m.Path);
        Assert.Equal(10, m.Directories.Count);
        Assert.Contains("/sys/fs/cgroup/memory/k8s/abc", m.Directories);
        Assert.Contains("/sys/fs/cgroup/systemd/k8s/abc", m.Directories);
        Assert.Equal("/sys/fs/cgroup/unified/k8s/abc", m.Directories[^1]);
        Assert.Equal("/sys/fs/cgroup/pids/k8s/abc", m.Directories[0]); // primary
    }

    [Fact]
    public void Relative_paths_sit_under_the_callers_cgroup_in_each_hierarchy()
    {
        var m = CgroupManagers.ForContainer(Hybrid, "pod/abc", "abc");
        Assert.Contains("/sys/fs/cgroup/memory/process_api/bcc6b75d189d5762155d630cf77027a5/pod/abc", m.Directories);
        Assert.Contains("/sys/fs/cgroup/cpu/pod/abc", m.Directories);
        Assert.Contains("/sys/fs/cgroup/unified/pod/abc", m.Directories);
    }

    [Fact]
    public void Relative_paths_account_for_the_mount_root()
    {
        var h = new CgroupHierarchy("/sys/fs/cgroup/memory", "/docker/x", ["memory"], false, "/docker/x/inner");
        Assert.Equal("/sys/fs/cgroup/memory/inner/c1", CgroupPaths.DirectoryIn(h, "c1"));
        Assert.Equal("/sys/fs/cgroup/memory/c1", CgroupPaths.DirectoryIn(h with { ProcessPath = "/docker/x" }, "c1"));
    }

    [Fact]
    public void Default_path_on_v2_uses_the_v2_manager()
    {
        var host = CgroupHost.Parse("24 22 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/init.scope\n", "memory pids");
        var m = CgroupManagers.ForContainer(host, null, "abc");
        Assert.IsType<CgroupV2Manager>(m);
        Assert.Equal(["/sys/fs/cgroup/husk/abc"], m.Directories);
    }

    [Fact]
    public void Info_round_trips_through_json_and_reopens_the_same_dirs()
    {
        var m = CgroupManagers.ForContainer(Hybrid, null, "abc");
        var json = Encoding.UTF8.GetString(CgroupInfo.Shape.WriteDocument(m.ToInfo()));
        Assert.Contains("\"path\":\"/husk/abc\"", json);
        Assert.Contains("\"dirs\":", json);
        Assert.Contains("\"created\":", json);
        var info = CgroupInfo.Shape.ReadDocument(Encoding.UTF8.GetBytes(json))!;
        var reopened = CgroupManagers.Open(Hybrid, info);
        Assert.IsType<CgroupV1Manager>(reopened);
        Assert.Equal(m.Directories, reopened.Directories);

        // An info with only the path (or null lists) still opens.
        var bare = CgroupManagers.Open(Hybrid, CgroupInfo.Shape.ReadDocument("{\"path\":\"/husk/abc\",\"dirs\":null}"u8)!);
        Assert.Equal(m.Directories, bare.Directories);
        Assert.Empty(bare.CreatedDirectories);
    }
}
