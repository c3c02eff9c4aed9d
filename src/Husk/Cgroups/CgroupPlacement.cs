using Husk.Linux;
using IOPath = System.IO.Path;

namespace Husk.Cgroups;

/// <summary>
/// Where a new process goes in a cgroup, without a move by pid where it can (writing a pid to
/// cgroup.procs waits for an RCU grace period): the directory it is started inside (clone3
/// CLONE_INTO_CGROUP, native/spawn.c; cgroup v2), the files it writes "0" to while still
/// single-threaded to move itself (nsexec.c; the v1 tasks files), and the move by pid when the
/// kernel could not start it inside. Made by <see cref="ICgroupManager.CreateForInit"/> and
/// <see cref="ICgroupManager.NewProcessPlacement"/>; the launch code passes it along without knowing
/// the cgroup version. Owns <see cref="StartInsideFd"/> until disposed.
/// </summary>
public sealed class CgroupPlacement : IDisposable
{
    readonly CgroupManagerBase _cgroup;
    bool _createWhileStarting;

    internal CgroupPlacement(CgroupManagerBase cgroup, bool createWhileStarting)
    {
        _cgroup = cgroup;
        SelfMoveFiles = SelfMoveFilesOf(cgroup.Dirs);
        Directories = cgroup.Dirs.Select(d => d.Dir).ToList();
        _createWhileStarting = createWhileStarting && SelfMoveFiles.Count > 0;
        var start = StartDirectoryOf(cgroup.Dirs);
        StartInsideFd = start == null ? -1
            : Native.Check(Native.open(start.Dir, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_CLOEXEC, 0), $"cgroup: open {start.Dir}");
    }

    /// <summary>The open directory the process is started inside (clone3 CLONE_INTO_CGROUP); -1: none, it is spawned as usual.</summary>
    public int StartInsideFd { get; private set; }

    /// <summary>Every cgroup directory the process ends up in, one per hierarchy it is placed in.</summary>
    public IReadOnlyList<string> Directories { get; }

    /// <summary>The files the process writes "0" to, while single-threaded, to move itself into the cgroup (nsexec.c).</summary>
    public IReadOnlyList<string> SelfMoveFiles { get; }

    /// <summary>
    /// Creates the directories the process moves itself into, when <see cref="ICgroupManager.CreateForInit"/>
    /// left them to be made while it starts (it needs them only once it runs). On failure removes what it made and throws.
    /// </summary>
    public void CreateWhileStarting()
    {
        if (!_createWhileStarting) return;
        _createWhileStarting = false;
        _cgroup.Create(IsSelfMoved);
    }

    /// <summary>Moves <paramref name="pid"/> by pid into the directory it was to start inside, for a process the kernel could not start there (no clone3).</summary>
    public void MoveByPid(int pid) => _cgroup.AddProcess(pid, StartsInside);

    public void Dispose()
    {
        if (StartInsideFd >= 0) Native.close(StartInsideFd);
        StartInsideFd = -1;
    }

    /// <summary>A process is started inside the cgroup2 directory: clone3 takes only a cgroup2 fd.</summary>
    internal static bool StartsInside(CgroupDir d) => d.Hierarchy.IsV2;

    /// <summary>A process moves itself into each v1 directory: its tasks file accepts "0" for the writer itself.</summary>
    internal static bool IsSelfMoved(CgroupDir d) => !d.Hierarchy.IsV2;

    /// <summary>
    /// Which directories <see cref="ICgroupManager.CreateForInit"/> makes before the process starts: the one it
    /// is started inside; the rest are made while it starts. Rootless all of them, since a cgroup there is all
    /// or nothing: a tree not delegated to the user is found out, and skipped, before anything starts.
    /// </summary>
    internal static Func<CgroupDir, bool> MadeBeforeStart(bool rootless) => rootless ? static _ => true : StartsInside;

    internal static CgroupDir? StartDirectoryOf(IReadOnlyList<CgroupDir> dirs)
    {
        foreach (var d in dirs)
            if (StartsInside(d)) return d;
        return null;
    }

    internal static List<string> SelfMoveFilesOf(IReadOnlyList<CgroupDir> dirs)
    {
        var files = new List<string>();
        foreach (var d in dirs)
            if (IsSelfMoved(d)) files.Add(IOPath.Combine(d.Dir, "tasks"));
        return files;
    }
}
