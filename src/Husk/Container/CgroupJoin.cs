using Husk.Cgroups;

namespace Husk.Container;

/// <summary>
/// Moves a container's init into its cgroup on a thread of its own. The first write of a pid
/// into cgroup.procs after an idle moment waits for an RCU grace period (~10 ms measured here,
/// runc pays it too); meanwhile the init starts its runtime and builds the rootfs, and it asks
/// for the cgroup (<see cref="InitMessage.JoinCgroup"/>) only where it needs it: before the
/// cgroup mount, its new cgroup namespace and the hooks.
/// </summary>
public sealed class CgroupJoin
{
    readonly Thread? _thread;
    Exception? _error;

    CgroupJoin(ICgroupManager? cgroup, int pid)
    {
        if (cgroup is null) return;
        _thread = new Thread(() =>
        {
            try { cgroup.AddProcess(pid); }
            catch (Exception e) { _error = e; }
        }) { IsBackground = true, Name = "cgroup-join" };
        _thread.Start();
    }

    public static CgroupJoin Start(ICgroupManager? cgroup, int pid) => new(cgroup, pid);

    /// <summary>Waits until the init is in its cgroup; rethrows what went wrong.</summary>
    public void Wait()
    {
        _thread?.Join();
        if (_error is HuskException h) throw new HuskException(h.Message, h);
        if (_error is not null) throw new HuskException($"cgroup: cannot add the init: {_error.Message}", _error);
    }

    /// <summary>Waits without throwing (cleanup after another failure).</summary>
    public void WaitQuietly() => _thread?.Join();
}
