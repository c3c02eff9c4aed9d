using Husk.Spec;
using IOPath = System.IO.Path;

namespace Husk.Cgroups;

/// <summary>
/// cgroup v1 (and hybrid): one directory per mounted v1 hierarchy (named ones such as name=systemd
/// included) plus, on hybrid hosts, the directory in the unified v2 hierarchy, which holds the same
/// processes. The freezer hierarchy freezes; without one, the unified dir's cgroup.freeze does.
/// </summary>
internal sealed class CgroupV1Manager : CgroupManagerBase
{
    // The hierarchy whose cgroup.procs Pids() reads: the first mounted of these, else the first v1 one.
    static readonly string[] PrimaryPreference = ["pids", "devices", "memory", "freezer", "cpu"];

    public CgroupV1Manager(string path, IReadOnlyList<CgroupDir> dirs, IEnumerable<string>? created = null)
        : base(path, Order(dirs), created) { }

    static List<CgroupDir> Order(IReadOnlyList<CgroupDir> dirs)
    {
        int Rank(CgroupDir d)
        {
            if (d.Hierarchy.IsV2) return PrimaryPreference.Length + 1;
            for (int i = 0; i < PrimaryPreference.Length; i++)
                if (d.Hierarchy.Has(PrimaryPreference[i])) return i;
            return PrimaryPreference.Length;
        }
        // Stable by rank; plain loops (Linq ordering over value tuples is slow in NativeAOT).
        var ordered = new List<CgroupDir>(dirs.Count);
        for (int rank = 0; rank <= PrimaryPreference.Length + 1; rank++)
            foreach (var d in dirs)
                if (Rank(d) == rank) ordered.Add(d);
        return ordered;
    }

    /// <summary>The manager for <paramref name="path"/> (normalised) on a v1 or hybrid host.</summary>
    public static CgroupV1Manager For(HostInfo host, string path)
        => new(path, host.Hierarchies.Select(h => new CgroupDir(h, CgroupPaths.DirectoryIn(h, path))).ToList());

    protected override ICgroupManager WithDirectories(IReadOnlyList<CgroupDir> dirs) => new CgroupV1Manager(Path, dirs);

    CgroupDir? FreezerDir => Dirs.FirstOrDefault(d => !d.Hierarchy.IsV2 && d.Hierarchy.Has("freezer"));

    CgroupDir? UnifiedDir => Dirs.FirstOrDefault(d => d.Hierarchy.IsV2);

    protected override void OnLevel(CgroupHierarchy h, string dir, bool isLeaf, bool created)
    {
        // A new cpuset cgroup starts with empty cpus/mems and refuses tasks (ENOSPC) until they are set:
        // copy them from the parent, as runc does.
        if (h.IsV2 || !h.Has("cpuset") || dir.TrimEnd('/') == h.Mountpoint.TrimEnd('/')) return;
        string parent = IOPath.GetDirectoryName(dir)!;
        foreach (var file in new[] { "cpuset.cpus", "cpuset.mems" })
        {
            string mine = IOPath.Combine(dir, file);
            var current = CgroupFs.TryRead(mine);
            if (current == null || current.Trim().Length > 0) continue;
            var fromParent = CgroupFs.TryRead(IOPath.Combine(parent, file))?.Trim();
            if (!string.IsNullOrEmpty(fromParent)) CgroupFs.Write(mine, fromParent);
        }
    }

    protected override void KillRemaining(IReadOnlyList<CgroupDir> existing)
    {
        var dirs = existing.Select(d => d.Dir).ToList();
        var freezer = FreezerDir;
        if (freezer != null && Directory.Exists(freezer.Dir))
        {
            // Freeze so nothing forks between listing and killing; the SIGKILLs land at the thaw.
            bool frozen = TryFreezeV1(freezer.Dir, 500);
            CgroupFs.KillAll(CgroupFs.Pids(dirs, recursive: true));
            CgroupFs.TryWrite(IOPath.Combine(freezer.Dir, "freezer.state"), "THAWED", out _);
            if (frozen) return;
        }
        var unified = UnifiedDir;
        if (unified != null && File.Exists(IOPath.Combine(unified.Dir, "cgroup.kill")))
            CgroupFs.TryWrite(IOPath.Combine(unified.Dir, "cgroup.kill"), "1", out _);
        CgroupFs.KillAll(CgroupFs.Pids(dirs, recursive: true));
    }

    static bool TryFreezeV1(string dir, int timeoutMs)
    {
        string state = IOPath.Combine(dir, "freezer.state");
        // Writing FROZEN again nudges a freeze stuck in FREEZING (runc does the same).
        return CgroupFs.WaitFor(() => CgroupFs.TryRead(state)?.Trim() == "FROZEN", timeoutMs,
            () => CgroupFs.TryWrite(state, "FROZEN", out _));
    }

    public override void Freeze()
    {
        var freezer = FreezerDir;
        if (freezer != null)
        {
            string state = IOPath.Combine(freezer.Dir, "freezer.state");
            CgroupFs.Write(state, "FROZEN");
            if (!TryFreezeV1(freezer.Dir, 2000))
            {
                CgroupFs.TryWrite(state, "THAWED", out _);
                throw new HuskException($"cgroup: cannot freeze {freezer.Dir}: timed out (freezer.state stays {CgroupFs.TryRead(state)?.Trim()})");
            }
            return;
        }
        var unified = UnifiedDir;
        if (unified != null && CgroupFs.HasV2Freezer(unified.Dir))
        {
            CgroupFs.FreezeV2(unified.Dir, true);
            return;
        }
        throw new HuskException("cgroup: cannot freeze: no freezer hierarchy is mounted");
    }

    public override void Thaw()
    {
        var freezer = FreezerDir;
        if (freezer != null)
        {
            string state = IOPath.Combine(freezer.Dir, "freezer.state");
            CgroupFs.Write(state, "THAWED");
            if (!CgroupFs.WaitFor(() => CgroupFs.TryRead(state)?.Trim() == "THAWED", 2000))
                throw new HuskException($"cgroup: cannot thaw {freezer.Dir}: timed out (freezer.state stays {CgroupFs.TryRead(state)?.Trim()})");
            return;
        }
        var unified = UnifiedDir;
        if (unified != null && CgroupFs.HasV2Freezer(unified.Dir))
        {
            CgroupFs.FreezeV2(unified.Dir, false);
            return;
        }
        throw new HuskException("cgroup: cannot thaw: no freezer hierarchy is mounted");
    }

    internal override bool IsV2 => false;

    public override string? DirectoryOf(string controller)
    {
        if (controller is "unified" or "") return UnifiedDir?.Dir;
        return Dirs.FirstOrDefault(d => !d.Hierarchy.IsV2 && d.Hierarchy.Has(controller))?.Dir;
    }

    protected override List<CgroupWrite> Plan(LinuxResources r, List<string> warnings)
        => ResourcePlan.V1(r, hybrid: UnifiedDir != null, warnings, CgroupHost.Current.V2Controllers);

    protected override string Unavailable(CgroupWrite w)
    {
        if (w.Controller == "unified") return "this host has no cgroup2 hierarchy for unified settings";
        var mounted = string.Join(", ", Dirs.Where(d => !d.Hierarchy.IsV2).Select(d => d.Hierarchy.Name));
        return $"the {w.Controller} cgroup controller is not mounted on this host (cgroup v1 hierarchies: {mounted})";
    }

    protected override void ApplyDevices(IReadOnlyList<DeviceRule> rules, bool explicitRules)
    {
        var dir = DirectoryOf("devices");
        if (dir == null)
        {
            // Hybrid without a v1 devices hierarchy: the unified directory can take an eBPF program.
            if (UnifiedDir is { } u) { BpfDevices.Attach(u.Dir, rules); return; }
            if (explicitRules) throw new HuskException($"{ResourcePlan.Prefix}/devices: the devices cgroup controller is not mounted on this host");
            return;
        }
        foreach (var rule in rules)
        {
            string file = IOPath.Combine(dir, rule.Allow ? "devices.allow" : "devices.deny");
            if (!CgroupFs.TryWrite(file, rule.CgroupString, out int errno))
                throw new HuskException($"{ResourcePlan.Prefix}/devices: cannot write \"{rule.CgroupString}\" to {file}: {Linux.Native.StrError(errno)}");
        }
    }

    public override bool IsFrozen()
    {
        var freezer = FreezerDir;
        if (freezer != null) return CgroupFs.TryRead(IOPath.Combine(freezer.Dir, "freezer.state"))?.Trim() == "FROZEN";
        var unified = UnifiedDir;
        return unified != null && CgroupFs.IsFrozenV2(unified.Dir);
    }
}
