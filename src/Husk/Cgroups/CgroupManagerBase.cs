using Husk.Linux;
using IOPath = System.IO.Path;

namespace Husk.Cgroups;

/// <summary>The container's directory in one hierarchy.</summary>
public sealed record CgroupDir(CgroupHierarchy Hierarchy, string Dir);

/// <summary>
/// What the v1 and v2 managers share: creating the directory chain (remembering what was created),
/// joining, listing, and the destroy sequence. The subclasses add what differs per version:
/// the per-level setup on create, how the remaining processes are killed, and the freezer.
/// </summary>
public abstract class CgroupManagerBase : ICgroupManager
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

    public void Create()
    {
        try
        {
            foreach (var d in Dirs) CreateIn(d);
        }
        catch
        {
            for (int i = _created.Count - 1; i >= 0; i--) CgroupFs.Rmdir(_created[i], retryBusy: false);
            _created.Clear();
            throw;
        }
    }

    void CreateIn(CgroupDir d)
    {
        string mount = d.Hierarchy.Mountpoint.TrimEnd('/');
        if (!d.Dir.StartsWith(mount + "/", StringComparison.Ordinal))
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

    public void AddProcess(int pid)
    {
        if (pid <= 0) throw new HuskException($"cgroup: invalid pid {pid}");
        foreach (var d in Dirs) CgroupFs.Write(IOPath.Combine(d.Dir, CgroupFs.Procs), pid.ToString());
    }

    public IReadOnlyList<int> Pids() => CgroupFs.Pids([Primary.Dir], recursive: true);

    public bool Exists() => Directory.Exists(Primary.Dir);

    public void Destroy()
    {
        var existing = Dirs.Where(d => Directory.Exists(d.Dir)).ToList();
        if (existing.Count > 0)
        {
            KillRemaining(existing);
            CgroupFs.KillAndWait(existing.Select(d => d.Dir).ToList(), DestroyWaitMs);
        }

        string? error = null;
        foreach (var d in Dirs)
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

    /// <summary>SIGKILLs the processes left in the (existing) directories; the caller then waits and re-kills.</summary>
    protected abstract void KillRemaining(IReadOnlyList<CgroupDir> existing);

    public abstract void Freeze();

    public abstract void Thaw();

    public abstract bool IsFrozen();

    public CgroupInfo ToInfo() => new()
    {
        Path = Path,
        Directories = Directories.ToList(),
        CreatedDirectories = _created.ToList(),
    };
}
