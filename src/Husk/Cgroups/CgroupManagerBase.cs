using System.Globalization;
using System.Text.Json;
using Husk.Linux;
using Husk.Rootfs;
using Husk.Spec;
using IOPath = System.IO.Path;

namespace Husk.Cgroups;

/// <summary>The container's directory in one hierarchy.</summary>
internal sealed record CgroupDir(CgroupHierarchy Hierarchy, string Dir);

/// <summary>
/// What the v1 and v2 managers share: creating the directory chain (remembering what was created),
/// joining, listing, and the destroy sequence. The subclasses add what differs per version:
/// the per-level setup on create, how the remaining processes are killed, and the freezer.
/// </summary>
internal abstract class CgroupManagerBase : ICgroupManager
{
    const int DestroyWaitMs = 2000;

    readonly List<string> _created;

    protected CgroupManagerBase(string path, IReadOnlyList<CgroupDir> dirs, IEnumerable<string>? created)
    {
        if (dirs.Count == 0) throw new HuskException("cgroup: no cgroup hierarchy to use");
        Path = path;
        Dirs = dirs;
        _created = created?.ToList() ?? [];
    }

    public string Path { get; }

    /// <summary>The directory in each hierarchy, the primary first.</summary>
    public IReadOnlyList<CgroupDir> Dirs { get; }

    public IReadOnlyList<string> Directories => Dirs.Select(d => d.Dir).ToList();

    public IReadOnlyList<string> CreatedDirectories => _created;

    protected CgroupDir Primary => Dirs[0];

    public void Create() => Create(static _ => true);

    public CgroupPlacement CreateForInit(bool rootless)
    {
        Create(CgroupPlacement.MadeBeforeStart(rootless));
        return new CgroupPlacement(this, createWhileStarting: !rootless);
    }

    public CgroupPlacement NewProcessPlacement() => new(this, createWhileStarting: false);

    /// <summary>Creates the directories <paramref name="which"/> selects; on failure removes what this call made and throws.</summary>
    internal void Create(Func<CgroupDir, bool> which)
    {
        int before = _created.Count;
        try
        {
            foreach (var d in Dirs)
                if (which(d)) CreateIn(d);
        }
        catch
        {
            // Undo what this call made.
            for (int i = _created.Count - 1; i >= before; i--) CgroupFs.Rmdir(_created[i], retryBusy: false);
            _created.RemoveRange(before, _created.Count - before);
            throw;
        }
    }

    void CreateIn(CgroupDir d)
    {
        string mount = d.Hierarchy.Mountpoint.TrimEnd('/');
        if (!ContainerPath.IsBelow(d.Dir, mount))
            throw new HuskException($"cgroup: {d.Dir} is not under the hierarchy mounted at {d.Hierarchy.Mountpoint}");
        if (!Directory.Exists(mount))
            throw new HuskException($"cgroup: cannot create {d.Dir}: {mount} does not exist");
        var levels = d.Dir[(mount.Length + 1)..].Split('/', StringSplitOptions.RemoveEmptyEntries);
        string current = mount;
        OnLevel(d.Hierarchy, current, isLeaf: false, created: false);
        for (int i = 0; i < levels.Length; i++)
        {
            current = current + "/" + levels[i];
            bool made = CgroupFs.Mkdir(current);
            if (made) _created.Add(current);
            OnLevel(d.Hierarchy, current, isLeaf: i == levels.Length - 1, created: made);
        }
    }

    /// <summary>Called for the mountpoint and then each level down to the container dir, after it exists.</summary>
    protected abstract void OnLevel(CgroupHierarchy h, string dir, bool isLeaf, bool created);

    public void AddProcess(int pid) => AddProcess(pid, static _ => true);

    /// <summary>Moves <paramref name="pid"/> into the directories <paramref name="which"/> selects.</summary>
    internal void AddProcess(int pid, Func<CgroupDir, bool> which)
    {
        if (pid <= 0) throw new HuskException($"cgroup: invalid pid {pid}");
        foreach (var d in Dirs)
            if (which(d)) CgroupFs.Write(IOPath.Combine(d.Dir, CgroupFs.Procs), pid.ToString());
    }

    public IReadOnlyList<int> Pids() => CgroupFs.Pids([Primary.Dir], recursive: true);

    public bool Exists() => Directory.Exists(Primary.Dir);

    public void Destroy()
    {
        // A stopped container's cgroup is usually empty already: remove it straight away, and
        // only kill and wait when some directory still holds processes.
        var busy = Dirs.Where(d => CgroupFs.RemoveTree(d.Dir, retryBusy: false) != 0 && Directory.Exists(d.Dir)).ToList();
        if (busy.Count > 0)
        {
            KillRemaining(busy);
            CgroupFs.KillAndWait(busy.Select(d => d.Dir).ToList(), DestroyWaitMs);
        }

        string? error = null;
        foreach (var d in busy)
        {
            int e = CgroupFs.RemoveTree(d.Dir);
            if (e != 0 && error == null)
            {
                var left = CgroupFs.Pids([d.Dir], recursive: true);
                error = $"cgroup: cannot remove {d.Dir}: {Native.StrError(e)}"
                    + (left.Count > 0 ? $" (processes still in it: {string.Join(' ', left.Take(10))})" : "");
            }
        }

        // Then the parents this manager created, deepest first, when nothing else uses them.
        var own = Dirs.Select(d => d.Dir).ToHashSet();
        for (int i = _created.Count - 1; i >= 0; i--)
        {
            if (own.Contains(_created[i])) continue;
            int e = CgroupFs.Rmdir(_created[i], retryBusy: false);
            if (e != 0 && !CgroupFs.IsNotEmpty(e) && error == null)
                error = $"cgroup: cannot remove {_created[i]}: {Native.StrError(e)}";
        }
        if (error != null) throw new HuskException(error);
    }

    public ICgroupManager Below(IReadOnlyDictionary<string, string> subPaths)
    {
        var dirs = Dirs.ToList();
        foreach (var (controller, sub) in subPaths)
        {
            bool known = false;
            for (int i = 0; i < dirs.Count; i++)
            {
                if (controller.Length > 0 && (Dirs[i].Hierarchy.IsV2 || !Dirs[i].Hierarchy.Has(controller))) continue;
                known = true;
                string top = Dirs[i].Dir.TrimEnd('/');
                string joined = IOPath.GetFullPath(top + "/" + sub).TrimEnd('/');
                if (joined != top && !joined.StartsWith(top + "/", StringComparison.Ordinal))
                    throw new HuskException($"{sub} is not a sub cgroup path");
                if (!Directory.Exists(joined))
                    throw new HuskException($"adding pid to sub-cgroup: {joined}/{CgroupFs.Procs}: no such file or directory");
                dirs[i] = Dirs[i] with { Dir = joined };
            }
            if (!known) throw new HuskException($"unknown controller {controller} in SubCgroupPaths");
        }
        return WithDirectories(dirs);
    }

    /// <summary>A manager of the same kind and path over other directories (one per hierarchy, as <see cref="Dirs"/>).</summary>
    protected abstract ICgroupManager WithDirectories(IReadOnlyList<CgroupDir> dirs);

    /// <summary>SIGKILLs the processes left in the (existing) directories; the caller then waits and re-kills.</summary>
    protected abstract void KillRemaining(IReadOnlyList<CgroupDir> existing);

    public abstract void Freeze();

    public abstract void Thaw();

    public abstract bool IsFrozen();

    public string? FrozenDirectory()
    {
        foreach (var d in Dirs)
        {
            bool frozen = d.Hierarchy.IsV2
                ? CgroupFs.TryRead(IOPath.Combine(d.Dir, "cgroup.freeze"))?.Trim() == "1" || CgroupFs.IsFrozenV2(d.Dir)
                : d.Hierarchy.Has("freezer") && CgroupFs.TryRead(IOPath.Combine(d.Dir, "freezer.state"))?.Trim() is "FROZEN" or "FREEZING";
            if (frozen) return d.Dir;
        }
        return null;
    }

    /// <summary>True for the cgroup v2 manager (resources go to the unified hierarchy).</summary>
    internal abstract bool IsV2 { get; }

    public abstract string? DirectoryOf(string controller);

    public long? MemoryUsage()
    {
        var dir = DirectoryOf("memory");
        return dir != null && CgroupFs.TryRead(IOPath.Combine(dir, IsV2 ? "memory.current" : "memory.usage_in_bytes")) is { } text
            && long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long usage) ? usage : null;
    }

    public void WriteStats(Utf8JsonWriter w) => CgroupStats.Write(w, this);

    public OomWatcher WatchOom() => new(this);

    public IReadOnlyList<(string? Controllers, string Path)> CriuCgroupRoots()
    {
        var roots = new List<(string?, string)>();
        string? first = null;
        foreach (var d in Dirs)
        {
            string mount = d.Hierarchy.Mountpoint.TrimEnd('/');
            if (!d.Dir.StartsWith(mount + "/", StringComparison.Ordinal)) continue;
            string rel = d.Dir[mount.Length..];
            if (first == null)
            {
                first = rel;
                roots.Add((null, rel));
            }
            else if (rel != first && !d.Hierarchy.IsV2) roots.Add((d.Hierarchy.Name, rel));
        }
        return roots;
    }

    /// <summary>The writes for <paramref name="r"/> in this cgroup version (throws for settings it cannot express).</summary>
    protected abstract List<CgroupWrite> Plan(LinuxResources r, List<string> warnings);

    /// <summary>Why <paramref name="w"/>'s controller is not usable here (for the error message).</summary>
    protected abstract string Unavailable(CgroupWrite w);

    /// <summary>Enforces the device rules (v1 files or a v2 eBPF program).</summary>
    protected abstract void ApplyDevices(IReadOnlyList<DeviceRule> rules, bool explicitRules);

    public void CheckResources(LinuxResources resources) => Plan(resources, []);

    public void ApplyResources(LinuxResources resources, IReadOnlyList<LinuxDevice>? devices, bool applyDevices)
    {
        var warnings = new List<string>();
        var plan = Plan(resources, warnings);
        foreach (var w in warnings) Log.Warn(w);

        // Resolve every write (directory, file or its fallback) before writing anything.
        var resolved = new List<(CgroupWrite W, string Path, string Value)>();
        foreach (var w in plan)
        {
            var dir = DirectoryOf(w.Controller) ?? throw new HuskException($"{w.Pointer}: {Unavailable(w)}");
            string path = IOPath.Combine(dir, w.File);
            string value = w.Value;
            if (!File.Exists(path) && w.FallbackFile != null && File.Exists(IOPath.Combine(dir, w.FallbackFile)))
            {
                path = IOPath.Combine(dir, w.FallbackFile);
                value = w.FallbackValue ?? w.Value;
            }
            if (!File.Exists(path))
                throw new HuskException($"{w.Pointer}: this host cannot set it: {path} does not exist"
                    + (w.FallbackFile != null ? $" (nor {w.FallbackFile})" : ""));
            resolved.Add((w, path, value));
        }

        WriteInOrder(resolved, CgroupFs.TryWrite);

        if (applyDevices)
            ApplyDevices(DeviceRules.Effective(resources, devices), resources.Devices.Count > 0);
    }

    /// <summary>Writes one cgroup file; false with the errno when the kernel refused it.</summary>
    internal delegate bool CgroupFileWriter(string path, string value, out int errno);

    /// <summary>
    /// v1 files the kernel can refuse (EINVAL) until a later file of the plan holds its new value: a memory
    /// limit above the current memory+swap limit, and a cfs period whose old quota / new period exceeds
    /// the parent's limit (runc's CpuGroup.Set: period first, and on EINVAL quota then period).
    /// </summary>
    static readonly Dictionary<string, string> WrittenAfterOnEinval = new()
    {
        ["memory.limit_in_bytes"] = "memory.memsw.limit_in_bytes",
        ["cpu.cfs_period_us"] = "cpu.cfs_quota_us",
    };

    /// <summary>
    /// Makes the writes in the plan's order; where one of <see cref="WrittenAfterOnEinval"/> is refused with
    /// EINVAL and the plan also writes its partner, the partner is written first and the refused one again.
    /// The first write that still fails throws, naming its JSON pointer.
    /// </summary>
    internal static void WriteInOrder(List<(CgroupWrite W, string Path, string Value)> resolved, CgroupFileWriter write)
    {
        var done = new HashSet<int>();
        for (int i = 0; i < resolved.Count; i++)
        {
            if (done.Contains(i)) continue;
            var (w, path, value) = resolved[i];
            if (write(path, value, out int errno)) continue;
            if (errno == Native.EINVAL && WrittenAfterOnEinval.TryGetValue(w.File, out var partnerFile)
                && resolved.FindIndex(i + 1, x => x.W.File == partnerFile) is int j and >= 0)
            {
                var partner = resolved[j];
                if (!write(partner.Path, partner.Value, out int partnerErrno)) throw WriteFailed(partner.W.Pointer, partner.Path, partner.Value, partnerErrno);
                done.Add(j);
                if (write(path, value, out errno)) continue;
            }
            throw WriteFailed(w.Pointer, path, value, errno);
        }
    }

    static HuskException WriteFailed(string pointer, string path, string value, int errno) =>
        new($"{pointer}: cannot write \"{value}\" to {path}: {Native.StrError(errno)}");

    public CgroupInfo ToInfo() => new()
    {
        Path = Path,
        Directories = Directories.ToList(),
        CreatedDirectories = _created.ToList(),
    };
}
