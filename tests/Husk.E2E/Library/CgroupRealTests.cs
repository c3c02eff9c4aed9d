using System.Diagnostics;
using Husk.Cgroups;
using Xunit;

namespace Husk.E2E.Library;

/// <summary>
/// The cgroup managers of the library against the host's real cgroupfs (as root, as make test runs).
/// Each test uses its own /husk-test-&lt;random&gt; parent and removes it.
/// </summary>
public class CgroupRealTests
{
    /// <summary>These tests change the host's cgroup tree: they need root, and fail (never skip) without it.</summary>
    static void RequireRoot() =>
        Assert.True(Environment.UserName == "root", "the real cgroup tests must run as root (make test runs as root)");

    static string RandomName() => "husk-test-" + Guid.NewGuid().ToString("N")[..10];

    static Process StartSleep()
    {
        var p = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        return p;
    }

    /// <summary>
    /// A manager for {parent}/x in every host hierarchy plus one whose mountpoint does not exist, so
    /// Create fails after the real ones succeeded.
    /// </summary>
    static (CgroupV1Manager Manager, List<CgroupDir> Dirs) WithBogusHierarchy(HostInfo host, string parent)
    {
        var dirs = host.Hierarchies.Select(h => new CgroupDir(h, CgroupPaths.DirectoryIn(h, $"{parent}/x"))).ToList();
        var bogus = new CgroupHierarchy("/nonexistent-husk-cgroup", "/", ["bogus"], false, "/");
        dirs.Add(new CgroupDir(bogus, $"/nonexistent-husk-cgroup{parent}/x"));
        return (new CgroupV1Manager($"{parent}/x", dirs), dirs);
    }

    static List<int> ProcsIn(string dir)
        => File.ReadAllLines(Path.Combine(dir, "cgroup.procs")).Where(l => l.Length > 0).Select(int.Parse).ToList();

    [Fact]
    public void Create_join_destroy_in_every_hierarchy()
    {
        RequireRoot();
        var host = CgroupHost.Detect();
        string parent = "/" + RandomName();
        var m = CgroupManagers.ForContainer($"{parent}/c1", "c1");
        using var sleep = StartSleep();
        try
        {
            m.Create();
            Assert.True(m.Exists());
            int expected = host.Layout == CgroupLayout.V2 ? 1 : host.Hierarchies.Count;
            Assert.Equal(expected, m.Directories.Count);
            // The parent and the container dir, in each hierarchy, shallowest first.
            Assert.Equal(2 * expected, m.CreatedDirectories.Count);
            foreach (var h in host.Hierarchies.Where(h => host.Layout != CgroupLayout.V2 || h.IsV2))
            {
                string mount = h.Mountpoint.TrimEnd('/');
                Assert.Contains($"{mount}{parent}/c1", m.Directories);
                int ip = m.CreatedDirectories.ToList().IndexOf($"{mount}{parent}");
                int ic = m.CreatedDirectories.ToList().IndexOf($"{mount}{parent}/c1");
                Assert.True(ip >= 0 && ic > ip, $"{mount}: parent {ip} child {ic}");
            }
            if (host.Layout == CgroupLayout.Hybrid)
                Assert.Contains($"/sys/fs/cgroup/unified{parent}/c1", m.Directories);

            m.AddProcess(sleep.Id);
            foreach (var d in m.Directories)
                Assert.Contains(sleep.Id, ProcsIn(d));
            Assert.Equal([sleep.Id], m.Pids());
            Assert.False(m.IsFrozen());

            m.Destroy();
            Assert.True(sleep.WaitForExit(5000), "sleep survived Destroy");
            Assert.False(m.Exists());
            foreach (var d in m.CreatedDirectories) Assert.False(Directory.Exists(d), d + " left behind");
            m.Destroy(); // again: nothing left is not an error
        }
        finally
        {
            if (!sleep.HasExited) sleep.Kill();
            try { m.Destroy(); } catch (HuskException) { }
        }
    }

    [Fact]
    public void Freeze_and_thaw_then_destroy_a_frozen_cgroup_from_its_saved_info()
    {
        RequireRoot();
        string parent = "/" + RandomName();
        var m = CgroupManagers.ForContainer($"{parent}/c2", "c2");
        using var sleep = StartSleep();
        try
        {
            m.Create();
            m.AddProcess(sleep.Id);
            m.Freeze();
            Assert.True(m.IsFrozen());
            m.Thaw();
            Assert.False(m.IsFrozen());
            m.Freeze();

            // A later process finds it from the state file and destroys it, frozen as it is.
            var info = CgroupInfo.Shape.ReadDocument(CgroupInfo.Shape.WriteDocument(m.ToInfo()))!;
            var reopened = CgroupManagers.Open(info);
            Assert.Equal(m.Directories, reopened.Directories);
            Assert.Equal(m.CreatedDirectories, reopened.CreatedDirectories);
            reopened.Destroy();
            Assert.True(sleep.WaitForExit(5000), "sleep survived Destroy");
            foreach (var d in m.CreatedDirectories) Assert.False(Directory.Exists(d), d + " left behind");
        }
        finally
        {
            if (!sleep.HasExited) sleep.Kill();
            try { m.Destroy(); } catch (HuskException) { }
        }
    }

    [Fact]
    public void Existing_parents_are_kept_and_children_of_the_container_removed()
    {
        RequireRoot();
        string parent = "/" + RandomName();
        var first = CgroupManagers.ForContainer($"{parent}/a", "a");
        var second = CgroupManagers.ForContainer($"{parent}/b", "b");
        try
        {
            first.Create();
            second.Create();
            // The second did not create the parent: only its own dirs.
            Assert.Equal(second.Directories.OrderBy(d => d), second.CreatedDirectories.OrderBy(d => d));
            // A sub-cgroup made inside the container (as a nested runtime would) goes with it.
            foreach (var d in second.Directories) Directory.CreateDirectory(Path.Combine(d, "nested"));

            first.Destroy(); // the parent stays: b is still in it
            Assert.All(second.Directories, d => Assert.True(Directory.Exists(Path.GetDirectoryName(d))));
            second.Destroy();
            Assert.All(second.Directories, d => Assert.False(Directory.Exists(d)));
            // The parent created by the first one is now empty but was not created by the second: it stays.
            var parents = first.CreatedDirectories.Where(d => !first.Directories.Contains(d)).ToList();
            Assert.NotEmpty(parents);
            Assert.All(parents, d => Assert.True(Directory.Exists(d)));
            first.Destroy(); // once more: now it can go
            Assert.All(parents, d => Assert.False(Directory.Exists(d)));
        }
        finally
        {
            try { second.Destroy(); } catch (HuskException) { }
            try { first.Destroy(); } catch (HuskException) { }
        }
    }

    [Fact]
    public void V2_manager_on_the_unified_hierarchy_kills_with_cgroup_kill_and_freezes()
    {
        RequireRoot();
        var host = CgroupHost.Detect();
        var unified = host.Unified ?? throw new Xunit.Sdk.XunitException("this host has no cgroup2 hierarchy to test the v2 manager on");
        string parent = "/" + RandomName();
        var m = CgroupV2Manager.For(host, $"{parent}/v2");
        // Create enables the available controllers in the root's subtree_control, as runc does; on a
        // hybrid host nothing else does that, so put the root back as it was afterwards.
        string rootControl = Path.Combine(unified.Mountpoint, "cgroup.subtree_control");
        var before = File.ReadAllText(rootControl).Split(' ', '\n').Where(c => c.Length > 0).ToHashSet();
        using var sleep = StartSleep();
        try
        {
            m.Create();
            Assert.Equal([$"{unified.Mountpoint.TrimEnd('/')}{parent}/v2"], m.Directories);
            m.AddProcess(sleep.Id);
            Assert.Equal([sleep.Id], m.Pids());
            m.Freeze();
            Assert.True(m.IsFrozen());
            m.Destroy();
            Assert.True(sleep.WaitForExit(5000), "sleep survived Destroy");
            foreach (var d in m.CreatedDirectories) Assert.False(Directory.Exists(d), d + " left behind");
        }
        finally
        {
            if (!sleep.HasExited) sleep.Kill();
            try { m.Destroy(); } catch (HuskException) { }
            foreach (var c in File.ReadAllText(rootControl).Split(' ', '\n').Where(c => c.Length > 0 && !before.Contains(c)))
                File.WriteAllText(rootControl, "-" + c);
        }
    }

    [Fact]
    public void A_failed_create_leaves_nothing()
    {
        RequireRoot();
        var host = CgroupHost.Detect();
        string parent = "/" + RandomName();
        var (m, _) = WithBogusHierarchy(host, parent);
        var e = Assert.Throws<HuskException>(m.Create);
        Assert.StartsWith("cgroup: cannot create", e.Message);
        Assert.Empty(m.CreatedDirectories);
        foreach (var h in host.Hierarchies)
            Assert.False(Directory.Exists(h.Mountpoint.TrimEnd('/') + parent));
    }

    [Fact]
    public void Created_in_two_steps_a_failed_second_step_undoes_only_itself()
    {
        RequireRoot();
        var host = CgroupHost.Detect();
        string parent = "/" + RandomName();
        var (m, dirs) = WithBogusHierarchy(host, parent);
        var v2 = dirs.Where(d => d.Hierarchy.IsV2).Select(d => d.Dir).ToList();
        try
        {
            // What create makes before the init starts: the cgroup2 directories only.
            using (var placement = m.CreateForInit(rootless: false))
            {
                foreach (var d in dirs) Assert.Equal(d.Hierarchy.IsV2, Directory.Exists(d.Dir));
                Assert.Equal(host.Unified is not null, placement.StartInsideFd >= 0);
                Assert.Equal(dirs.Where(d => !d.Hierarchy.IsV2).Select(d => Path.Combine(d.Dir, "tasks")).Order(), placement.SelfMoveFiles.Order());
                // The v1 step, while the init starts, fails on the bogus hierarchy: what it made goes, the cgroup2 part stays.
                Assert.Throws<HuskException>(placement.CreateWhileStarting);
                foreach (var d in dirs) Assert.Equal(d.Hierarchy.IsV2, Directory.Exists(d.Dir));
                Assert.All(v2, d => Assert.Contains(d, m.CreatedDirectories));
            }
        }
        finally { m.Destroy(); }
        foreach (var h in host.Hierarchies)
            Assert.False(Directory.Exists(h.Mountpoint.TrimEnd('/') + parent));
    }

    [Fact]
    public void Rootless_creates_everything_before_the_start()
    {
        RequireRoot();
        var host = CgroupHost.Detect();
        string parent = "/" + RandomName();
        var (m, _) = WithBogusHierarchy(host, parent);
        Assert.Throws<HuskException>(() => m.CreateForInit(rootless: true));
        Assert.Empty(m.CreatedDirectories);
        foreach (var h in host.Hierarchies)
            Assert.False(Directory.Exists(h.Mountpoint.TrimEnd('/') + parent));
    }
}
