namespace Husk.Rootfs;

/// <summary>One hierarchy to show under the container's cgroup mount (cgroup v1 / hybrid hosts).</summary>
/// <param name="Name">Directory under the mount, the host's name for it ("cpu,cpuacct", "memory", "systemd", "unified").</param>
/// <param name="FsType">"cgroup" or "cgroup2".</param>
/// <param name="Data">Mount data for a fresh mount in a cgroup namespace ("cpu,cpuacct", "none,name=systemd", "").</param>
/// <param name="HostSource">The host directory of the container's own cgroup in this hierarchy, for a bind mount.</param>
/// <param name="Aliases">Extra names that become symlinks to <paramref name="Name"/> ("cpu" and "cpuacct" for "cpu,cpuacct").</param>
public sealed record CgroupHierarchy(string Name, string FsType, string Data, string HostSource, IReadOnlyList<string> Aliases);

/// <summary>
/// How Husk mounts a spec mount of type "cgroup" (the simple, correct thing, as runc):
/// <list type="bullet">
/// <item>Host /sys/fs/cgroup is cgroup2 (unified): <c>mount -t cgroup2</c>. In a cgroup namespace
/// the kernel shows the container's own cgroup as the root. Where the kernel refuses (EPERM/EBUSY,
/// e.g. a user namespace without a cgroup namespace), a bind of the container's own cgroup directory.</item>
/// <item>Host is cgroup v1 or hybrid: a tmpfs at the destination, and in it one directory per host
/// hierarchy (named as on the host, with symlinks for co-mounted controllers): with a cgroup
/// namespace a fresh cgroup/cgroup2 mount of that hierarchy (the kernel roots it at the container's
/// cgroup), otherwise a bind of the container's own cgroup directory from the host. The container
/// never sees other cgroups. Read-only applies to the tmpfs and to every hierarchy.</item>
/// </list>
/// </summary>
public static class CgroupMounts
{
    public const long CGROUP2_SUPER_MAGIC = 0x63677270;

    /// <summary>(controllers, path) from /proc/self/cgroup lines "4:cpu,cpuacct:/x" and "0::/x".</summary>
    public static List<(string Controllers, string Path)> ParseProcCgroup(string text)
    {
        var list = new List<(string, string)>();
        foreach (var line in text.Split('\n'))
        {
            var f = line.Split(':', 3);
            if (f.Length == 3) list.Add((f[1], f[2]));
        }
        return list;
    }

    /// <summary>
    /// The hierarchies to show, from the host's mounts under <paramref name="cgroupRoot"/> and the
    /// process's own cgroups. A hierarchy the process is not in (no /proc/self/cgroup line) is skipped.
    /// </summary>
    public static List<CgroupHierarchy> PlanV1(IEnumerable<MountInfoEntry> mounts,
        IReadOnlyList<(string Controllers, string Path)> own, string cgroupRoot = "/sys/fs/cgroup")
    {
        var result = new List<CgroupHierarchy>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in mounts)
        {
            if (m.FsType is not ("cgroup" or "cgroup2")) continue;
            var (parent, name) = ContainerPath.Split(m.MountPoint);
            if (parent != ContainerPath.Clean(cgroupRoot) || !seen.Add(name)) continue;

            // Our line of /proc/self/cgroup for this hierarchy: the v2 one, or the v1 one whose
            // controllers the mount has. (A plain loop: Linq over value tuples is slow in NativeAOT.)
            var super = m.FsType == "cgroup2" ? null : m.SuperOptions.Split(',');
            (string Controllers, string Path)? line = null;
            foreach (var o in own)
            {
                bool mine = super is null ? o.Controllers == "" : o.Controllers != "" && o.Controllers.Split(',').All(super.Contains);
                if (mine) { line = o; break; }
            }
            if (line is not { } l) continue;

            // The path of our cgroup relative to the root of this mount of the hierarchy.
            string rel = l.Path;
            // In a cgroup namespace both are namespace-relative and mountinfo may show "/.." roots;
            // the bind source is then unused (a fresh cgroup mount is made), so only strip a real prefix.
            if (m.Root != "/" && rel.Length >= m.Root.Length && ContainerPath.IsWithin(rel, m.Root)) rel = rel[m.Root.Length..];
            string source = ContainerPath.Clean(m.MountPoint + "/" + rel);

            string data = m.FsType == "cgroup2" ? ""
                : l.Controllers.StartsWith("name=", StringComparison.Ordinal) ? "none," + l.Controllers
                : l.Controllers;
            var aliases = m.FsType == "cgroup" && !l.Controllers.StartsWith("name=", StringComparison.Ordinal)
                ? l.Controllers.Split(',').Where(c => c != name).ToList()
                : [];
            result.Add(new CgroupHierarchy(name, m.FsType, data, source, aliases));
        }
        return result;
    }
}
