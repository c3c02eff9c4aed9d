using Husk.Spec.Json;

namespace Husk.Cgroups;

/// <summary>
/// A container's cgroup across the host's hierarchies (youki's libcgroups shape: one interface,
/// a v1 and a v2 implementation; hybrid hosts use the v1 one, which also keeps the unified dir).
/// What differs per version stays behind it: callers never ask which one they have.
/// </summary>
public interface ICgroupManager
{
    /// <summary>The cgroup path as in the spec, normalised: "/husk/abc" (absolute) or "a/b" (relative to the runtime's cgroup).</summary>
    string Path { get; }

    /// <summary>The container's absolute directory in each hierarchy; the primary one (used for <see cref="Pids"/>) first.</summary>
    IReadOnlyList<string> Directories { get; }

    /// <summary>The directories this manager created itself, shallowest first (the container dirs among them).</summary>
    IReadOnlyList<string> CreatedDirectories { get; }

    /// <summary>Creates the directory in every hierarchy where it must exist. On failure, removes what it created and throws.</summary>
    void Create();

    /// <summary>
    /// Creates the cgroup for a container's init about to start, and says where the init goes. What the init
    /// is started inside exists on return; what it moves itself into is made by
    /// <see cref="CgroupPlacement.CreateWhileStarting"/> (the v1 hierarchies, while it starts), or, with
    /// <paramref name="rootless"/>, here too (rootless, a cgroup is all or nothing). On failure, removes what it
    /// created and throws.
    /// </summary>
    CgroupPlacement CreateForInit(bool rootless);

    /// <summary>Where a new process goes in this existing cgroup (exec).</summary>
    CgroupPlacement NewProcessPlacement();

    /// <summary>Moves <paramref name="pid"/> into the cgroup in every hierarchy.</summary>
    void AddProcess(int pid);

    /// <summary>The pids in the cgroup (and its sub-cgroups) of the primary hierarchy, sorted; empty when it does not exist.</summary>
    IReadOnlyList<int> Pids();

    /// <summary>
    /// SIGKILLs what is left (cgroup.kill on v2 when present; else freeze, kill each, thaw), waits up to ~2 s
    /// for cgroup.procs to empty, removes the container dir in every hierarchy and then the parents this
    /// manager created when they are empty. Missing directories are not errors.
    /// </summary>
    void Destroy();

    /// <summary>Whether the primary directory exists.</summary>
    bool Exists();

    /// <summary>Freezes every process of the cgroup (v1 freezer, or cgroup.freeze on v2), waiting until it is frozen.</summary>
    void Freeze();

    void Thaw();

    bool IsFrozen();

    /// <summary>
    /// A directory of this cgroup, in any hierarchy, that holds what runs in it frozen (a v1 freezer
    /// not THAWED; cgroup.freeze set, or frozen by a parent, in cgroup2), or null. A process started
    /// there stops before its first instruction.
    /// </summary>
    string? FrozenDirectory();

    /// <summary>
    /// This cgroup with existing sub-cgroups instead of its directories (exec --cgroup, runc's
    /// SubCgroupPaths): the key "" gives one path below the container's directory in every
    /// hierarchy, a controller the path in its hierarchy. Refuses a path that leaves the container's
    /// cgroup, an unknown controller and a sub-cgroup that does not exist.
    /// </summary>
    ICgroupManager Below(IReadOnlyDictionary<string, string> subPaths);

    /// <summary>What a later process needs to find and destroy this cgroup (<see cref="CgroupManagers.Open"/>).</summary>
    CgroupInfo ToInfo();

    /// <summary>
    /// The container's directory holding <paramref name="controller"/>'s files ("" = the v2 core files), or null
    /// when the host has no such controller here.
    /// </summary>
    string? DirectoryOf(string controller);

    /// <summary>Refuses, as <see cref="ApplyResources"/> would, settings this cgroup version cannot express; writes nothing.</summary>
    void CheckResources(Husk.Spec.LinuxResources resources);

    /// <summary>
    /// Writes linux.resources (<see cref="ResourcePlan"/>) to the cgroup files; with <paramref name="applyDevices"/>
    /// also the device rules (v1 devices.allow/deny, v2 an eBPF program) built from the resources and
    /// <paramref name="devices"/> (linux.devices). Everything is checked before anything is written; a setting
    /// the host cannot honour throws a one-line error naming it.
    /// </summary>
    void ApplyResources(Husk.Spec.LinuxResources resources, IReadOnlyList<Husk.Spec.LinuxDevice>? devices, bool applyDevices);

    /// <summary>The memory the cgroup uses now, in bytes; null when the host does not account it here.</summary>
    long? MemoryUsage();

    /// <summary>Writes the stats object `events` prints (<see cref="CgroupStats"/>).</summary>
    void WriteStats(System.Text.Json.Utf8JsonWriter w);

    /// <summary>Starts watching for OOM kills in the cgroup.</summary>
    OomWatcher WatchOom();

    /// <summary>
    /// CRIU's cgroup roots that put restored tasks in this cgroup: its path below the primary hierarchy's
    /// mount (no controllers: every hierarchy), then each v1 hierarchy's controllers and path where that differs.
    /// </summary>
    IReadOnlyList<(string? Controllers, string Path)> CriuCgroupRoots();
}

/// <summary>The serialisable description of a container's cgroup, kept in the container's state.</summary>
public sealed class CgroupInfo
{
    /// <summary>The spec-level cgroup path (normalised).</summary>
    public string Path { get; set; } = "";

    /// <summary>The container's absolute directories, one per hierarchy, the primary first.</summary>
    public List<string>? Directories { get; set; }

    /// <summary>The directories the runtime created (shallowest first); parents among them are removed when empty.</summary>
    public List<string>? CreatedDirectories { get; set; }

    public static readonly JsonShape<CgroupInfo> Shape = new(m =>
    [
        m.String("path", c => c.Path, (c, v) => c.Path = v),
        m.List("dirs", c => c.Directories, (c, v) => c.Directories = v, JsonCodecs.String, absentNullEmpty: false),
        m.List("created", c => c.CreatedDirectories, (c, v) => c.CreatedDirectories = v, JsonCodecs.String, absentNullEmpty: false),
    ]);
}
