using Husk.Spec;
using IOPath = System.IO.Path;

namespace Husk.Cgroups;

/// <summary>
/// cgroup v2: one directory in the unified hierarchy. Creating it enables, as runc does, every
/// available controller in cgroup.subtree_control of each ancestor (failures there are not errors:
/// a controller that cannot be enabled fails later, when a resource that needs it is set).
/// </summary>
internal sealed class CgroupV2Manager : CgroupManagerBase
{
    public CgroupV2Manager(string path, CgroupDir dir, IEnumerable<string>? created = null)
        : base(path, [dir], created) { }

    /// <summary>The manager for <paramref name="path"/> (normalised) on a v2 host.</summary>
    public static CgroupV2Manager For(HostInfo host, string path)
    {
        var h = host.Unified ?? throw new HuskException("cgroup: no cgroup2 hierarchy is mounted");
        return new(path, new CgroupDir(h, CgroupPaths.DirectoryIn(h, path)));
    }

    string Dir => Primary.Dir;

    protected override ICgroupManager WithDirectories(IReadOnlyList<CgroupDir> dirs) => new CgroupV2Manager(Path, dirs[0]);

    protected override void OnLevel(CgroupHierarchy h, string dir, bool isLeaf, bool created)
    {
        if (isLeaf) return;
        EnableControllers(dir);
    }

    /// <summary>Writes "+c" for each controller of <paramref name="dir"/>'s cgroup.controllers to its cgroup.subtree_control.</summary>
    internal static void EnableControllers(string dir)
    {
        var available = CgroupFs.TryRead(IOPath.Combine(dir, "cgroup.controllers"))?
            .Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries) ?? [];
        if (available.Length == 0) return;
        var enabled = CgroupFs.TryRead(IOPath.Combine(dir, "cgroup.subtree_control"))?
            .Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).ToHashSet() ?? [];
        var missing = available.Where(c => !enabled.Contains(c)).ToList();
        if (missing.Count == 0) return;
        string file = IOPath.Combine(dir, "cgroup.subtree_control");
        if (CgroupFs.TryWrite(file, string.Join(' ', missing.Select(c => "+" + c)), out _)) return;
        // One at a time: some may be refused (threaded cgroups, processes in a non-root parent).
        foreach (var c in missing) CgroupFs.TryWrite(file, "+" + c, out _);
    }

    protected override void KillRemaining(IReadOnlyList<CgroupDir> existing)
    {
        string kill = IOPath.Combine(Dir, "cgroup.kill");
        if (File.Exists(kill) && CgroupFs.TryWrite(kill, "1", out _)) return;
        // Kernels before 5.14: freeze, kill each, thaw.
        bool canFreeze = CgroupFs.HasV2Freezer(Dir);
        if (canFreeze) CgroupFs.TryWrite(IOPath.Combine(Dir, "cgroup.freeze"), "1", out _);
        CgroupFs.KillAll(CgroupFs.Pids([Dir], recursive: true));
        if (canFreeze) CgroupFs.TryWrite(IOPath.Combine(Dir, "cgroup.freeze"), "0", out _);
    }

    public override void Freeze()
    {
        if (!CgroupFs.HasV2Freezer(Dir))
            throw new HuskException($"cgroup: cannot freeze {Dir}: no cgroup.freeze (kernel before 5.2, or the cgroup does not exist)");
        CgroupFs.FreezeV2(Dir, true);
    }

    public override void Thaw()
    {
        if (!CgroupFs.HasV2Freezer(Dir))
            throw new HuskException($"cgroup: cannot thaw {Dir}: no cgroup.freeze (kernel before 5.2, or the cgroup does not exist)");
        CgroupFs.FreezeV2(Dir, false);
    }

    public override bool IsFrozen() => CgroupFs.IsFrozenV2(Dir);

    internal override bool IsV2 => true;

    /// <summary>The controllers enabled for the container's cgroup (its cgroup.controllers).</summary>
    public IReadOnlyList<string> Controllers()
        => CgroupFs.TryRead(IOPath.Combine(Dir, "cgroup.controllers"))?.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries) ?? [];

    public override string? DirectoryOf(string controller)
        => controller is "" or "unified" || Controllers().Contains(controller) ? Dir : null;

    protected override List<CgroupWrite> Plan(LinuxResources r, List<string> warnings) => ResourcePlan.V2(r, warnings);

    protected override string Unavailable(CgroupWrite w)
    {
        var have = Controllers();
        return $"the {w.Controller} controller is not available in this host's cgroup v2 hierarchy (controllers here: {(have.Count == 0 ? "none" : string.Join(", ", have))})";
    }

    protected override void ApplyDevices(IReadOnlyList<DeviceRule> rules, bool explicitRules) => BpfDevices.Attach(Dir, rules);
}
