using Husk.Rootfs;

namespace Husk.Cgroups;

/// <summary>How the host mounts cgroups.</summary>
public enum CgroupLayout
{
    /// <summary>Only v1 hierarchies (one per controller or group of controllers).</summary>
    V1,
    /// <summary>One cgroup2 hierarchy at /sys/fs/cgroup.</summary>
    V2,
    /// <summary>v1 controllers plus a (usually controller-less) cgroup2 hierarchy, e.g. at /sys/fs/cgroup/unified.</summary>
    Hybrid,
}

/// <summary>
/// One mounted cgroup hierarchy.
/// </summary>
/// <param name="Mountpoint">Where it is mounted, e.g. "/sys/fs/cgroup/memory".</param>
/// <param name="Root">The cgroup the mount shows at its mountpoint (mountinfo's root field, usually "/").</param>
/// <param name="Controllers">v1: the controllers bound to it ("cpu", "cpuacct", "name=systemd"); v2: empty (see <see cref="HostInfo.V2Controllers"/>).</param>
/// <param name="IsV2">Whether it is the cgroup2 hierarchy.</param>
/// <param name="ProcessPath">The cgroup of the calling process in this hierarchy (from /proc/self/cgroup), "/" if unknown.</param>
public sealed record CgroupHierarchy(string Mountpoint, string Root, IReadOnlyList<string> Controllers, bool IsV2, string ProcessPath)
{
    public bool Has(string controller) => Controllers.Contains(controller);

    /// <summary>A short name for messages: the controllers ("cpu,cpuacct", "name=systemd") or "unified".</summary>
    public string Name => IsV2 ? "unified" : string.Join(',', Controllers);
}

/// <summary>What the host offers: its layout, its hierarchies and the v2 controllers.</summary>
public sealed record HostInfo(CgroupLayout Layout, IReadOnlyList<CgroupHierarchy> Hierarchies, IReadOnlyList<string> V2Controllers)
{
    /// <summary>The cgroup2 hierarchy (V2 and Hybrid), or null on pure v1.</summary>
    public CgroupHierarchy? Unified => Hierarchies.FirstOrDefault(h => h.IsV2);

    /// <summary>The v1 hierarchies (empty on V2).</summary>
    public IReadOnlyList<CgroupHierarchy> V1 => Layout == CgroupLayout.V2 ? [] : Hierarchies.Where(h => !h.IsV2).ToList();
}

/// <summary>
/// Detects the cgroup layout of the host from /proc/self/mountinfo and /proc/self/cgroup.
/// The parsing is pure (<see cref="Parse"/>) so it is tested with sample texts.
/// </summary>
public static class CgroupHost
{
    public const string DefaultV2Mount = "/sys/fs/cgroup";

    // Super options of a v1 cgroup mount that are not controllers.
    static readonly HashSet<string> NonControllerOptions =
        ["rw", "ro", "noprefix", "clone_children", "xattr", "cpuset_v2_mode", "favordynmods", "none", "all"];

    /// <summary>The layout of this host.</summary>
    public static CgroupLayout DetectLayout() => Current.Layout;

    static readonly Lazy<HostInfo> s_current = new(Detect);

    /// <summary>
    /// <see cref="Detect"/>, once per process: the cgroup mounts a husk command sees do not change
    /// while it runs (`list` opens the cgroup of every container, `delete` several times).
    /// </summary>
    public static HostInfo Current => s_current.Value;

    /// <summary>Reads /proc/self/mountinfo, /proc/self/cgroup and the v2 root's cgroup.controllers.</summary>
    public static HostInfo Detect()
    {
        string mountinfo = ReadProc("/proc/self/mountinfo");
        string self = ReadProc("/proc/self/cgroup");
        var host = Parse(mountinfo, self, null);
        if (host.Unified is { } u)
        {
            string? ctl = CgroupFs.TryRead(System.IO.Path.Combine(u.Mountpoint, "cgroup.controllers"));
            if (ctl != null) host = host with { V2Controllers = SplitWords(ctl) };
        }
        return host;
    }

    static string ReadProc(string path)
    {
        try { return Linux.SmallFile.ReadTextOrNull(path) ?? throw new HuskException($"cgroup: cannot read {path}: no such file"); }
        catch (Linux.KernelException e) { throw new HuskException($"cgroup: {e.Message}"); }
    }

    /// <summary>
    /// Pure: the host described by a mountinfo text, a /proc/self/cgroup text and the content of the
    /// v2 root's cgroup.controllers (null when unknown).
    /// </summary>
    public static HostInfo Parse(string mountinfo, string selfCgroup, string? v2Controllers)
    {
        var procLines = ParseSelfCgroup(selfCgroup);
        var v1 = new List<CgroupHierarchy>();
        var v2 = new List<CgroupHierarchy>();
        var seenDevices = new Dictionary<string, int>(); // dev -> index in its list, to drop duplicate mounts

        foreach (var mount in MountInfoEntry.Parse(mountinfo))
        {
            if (mount.FsType is not ("cgroup" or "cgroup2")) continue;
            string dev = mount.Dev, root = mount.Root, mountpoint = mount.MountPoint, superOpts = mount.SuperOptions;
            bool isV2 = mount.FsType == "cgroup2";

            CgroupHierarchy h;
            if (isV2)
            {
                string proc = procLines.FirstOrDefault(l => l.Id == "0" && l.Controllers.Length == 0).Path ?? "/";
                h = new CgroupHierarchy(mountpoint, root, [], true, proc);
            }
            else
            {
                var opts = superOpts.Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
                var match = procLines.FirstOrDefault(l => l.Id != "0" && l.Controllers.Length > 0 && l.Controllers.All(opts.Contains));
                string[] controllers = match.Controllers is { Length: > 0 }
                    ? match.Controllers
                    : opts.Where(o => !NonControllerOptions.Contains(o) && !o.StartsWith("release_agent=", StringComparison.Ordinal)).ToArray();
                if (controllers.Length == 0) continue;
                h = new CgroupHierarchy(mountpoint, root, controllers, false, match.Path ?? "/");
            }

            var list = isV2 ? v2 : v1;
            if (seenDevices.TryGetValue(dev, out int idx))
            {
                // The same hierarchy mounted twice: keep the better mount (root "/", then the standard place).
                if (Better(h, list[idx])) list[idx] = h;
                continue;
            }
            seenDevices[dev] = list.Count;
            list.Add(h);
        }

        // Prefer the standard cgroup2 mountpoints.
        v2.Sort((a, b) => V2Rank(a).CompareTo(V2Rank(b)));
        var unified = v2.Count > 0 ? v2[0] : null;

        CgroupLayout layout;
        var hierarchies = new List<CgroupHierarchy>();
        if (unified != null && (unified.Mountpoint == DefaultV2Mount || v1.Count == 0))
        {
            layout = CgroupLayout.V2;
            hierarchies.Add(unified);
        }
        else if (v1.Count > 0)
        {
            layout = unified != null ? CgroupLayout.Hybrid : CgroupLayout.V1;
            hierarchies.AddRange(v1);
            if (unified != null) hierarchies.Add(unified);
        }
        else throw new HuskException("cgroup: no cgroup filesystem is mounted (none in /proc/self/mountinfo)");

        return new HostInfo(layout, hierarchies, v2Controllers == null ? [] : SplitWords(v2Controllers));
    }

    // Another mount of the same hierarchy elsewhere (CRIU's restore mounts every hierarchy in a
    // "cgroup yard" under /tmp, and a mount namespace made meanwhile keeps copies of them) must never
    // replace the one at the standard place, whatever the order of mountinfo's lines.
    static bool Better(CgroupHierarchy candidate, CgroupHierarchy current)
    {
        if ((candidate.Root == "/") != (current.Root == "/")) return candidate.Root == "/";
        return PlaceRank(candidate) < PlaceRank(current);
    }

    static int PlaceRank(CgroupHierarchy h) => h.IsV2 ? V2Rank(h)
        : h.Mountpoint.StartsWith(DefaultV2Mount + "/", StringComparison.Ordinal) ? 0 : 1;

    static int V2Rank(CgroupHierarchy h) => h.Mountpoint switch
    {
        DefaultV2Mount => 0,
        "/sys/fs/cgroup/unified" => 1,
        _ => h.Root == "/" ? 2 : 3,
    };

    static string[] SplitWords(string s) => s.Split([' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries);

    internal readonly record struct ProcCgroupLine(string Id, string[] Controllers, string Path);

    /// <summary>Pure: the lines of /proc/self/cgroup, "id:controllers:path".</summary>
    internal static List<ProcCgroupLine> ParseSelfCgroup(string text)
    {
        var result = new List<ProcCgroupLine>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var parts = line.Split(':', 3);
            if (parts.Length != 3) continue;
            result.Add(new ProcCgroupLine(parts[0],
                parts[1].Split(',', StringSplitOptions.RemoveEmptyEntries), parts[2].Length == 0 ? "/" : parts[2]));
        }
        return result;
    }
}
