using Husk.Rootfs;

namespace Husk.Cgroups;

/// <summary>Builds the right <see cref="ICgroupManager"/> for the host.</summary>
public static class CgroupManagers
{
    /// <summary>
    /// The manager for a new container: <paramref name="cgroupsPath"/> as the spec's linux.cgroupsPath
    /// (absolute, relative to the runtime's cgroup, or null/empty for "/husk/&lt;id&gt;"). Creates nothing.
    /// </summary>
    public static ICgroupManager ForContainer(string? cgroupsPath, string containerId)
        => ForContainer(CgroupHost.Current, cgroupsPath, containerId);

    public static ICgroupManager ForContainer(HostInfo host, string? cgroupsPath, string containerId)
    {
        string path = CgroupPaths.Normalize(cgroupsPath, containerId);
        return host.Layout == CgroupLayout.V2
            ? CgroupV2Manager.For(host, path)
            : CgroupV1Manager.For(host, path);
    }

    /// <summary>The manager of an existing container's cgroup, from the description kept in its state.</summary>
    public static ICgroupManager Open(CgroupInfo info) => Open(CgroupHost.Current, info);

    public static ICgroupManager Open(HostInfo host, CgroupInfo info)
    {
        var dirs = info.Directories ?? [];
        if (dirs.Count == 0)
        {
            // Only the path is known: recompute the directories as ForContainer did.
            if (string.IsNullOrEmpty(info.Path)) throw new HuskException("cgroup: the saved cgroup has neither a path nor directories");
            var fresh = host.Layout == CgroupLayout.V2
                ? (CgroupManagerBase)CgroupV2Manager.For(host, info.Path)
                : CgroupV1Manager.For(host, info.Path);
            dirs = fresh.Directories.ToList();
        }

        var mapped = dirs.Select(d => new CgroupDir(HierarchyOf(host, d), d)).ToList();
        if (host.Layout == CgroupLayout.V2)
            return new CgroupV2Manager(info.Path, mapped[0], info.CreatedDirectories);
        return new CgroupV1Manager(info.Path, mapped, info.CreatedDirectories);
    }

    // The hierarchy whose mountpoint holds dir (longest match); an unknown one when none does,
    // so that the directory is still removed.
    static CgroupHierarchy HierarchyOf(HostInfo host, string dir)
    {
        CgroupHierarchy? best = null;
        int bestLength = -1;
        foreach (var h in host.Hierarchies)
        {
            var m = h.Mountpoint.AsSpan().TrimEnd('/');
            if (m.Length > bestLength && ContainerPath.IsBelow(dir, m))
                (best, bestLength) = (h, m.Length);
        }
        return best ?? new CgroupHierarchy(Path.GetDirectoryName(dir) ?? "/", "/", [], host.Layout == CgroupLayout.V2, "/");
    }
}
