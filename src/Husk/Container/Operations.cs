using System.Text;
using Husk.Linux;
using Husk.Spec;

namespace Husk.Container;

/// <summary>start, state, kill, delete and list: the commands on an existing container.</summary>
public static class Operations
{
    /// <summary>Releases the waiting init to exec the user process, then runs the poststart hooks.</summary>
    public static void Start(StateStore store, string id)
    {
        using var l = store.Lock(id);
        var r = store.ReadRecord(id) ?? throw new HuskException($"container \"{id}\" has no state; delete it with --force");
        var status = ContainerStatus.Of(store, r, createInProgress: false);
        switch (status)
        {
            case ContainerStatus.Created: break;
            case ContainerStatus.Stopped: throw new HuskException($"cannot start container \"{id}\": it has stopped");
            default: throw new HuskException($"cannot start container \"{id}\": it is {status}, not created");
        }
        var fifo = Path.Combine(store.DirOf(id), StateStore.ExecFifo);
        // Non-blocking: only the init holds the fifo open for reading, so ENXIO means it has died.
        int fd = Native.open(fifo, Native.O_WRONLY | Native.O_NONBLOCK | Native.O_CLOEXEC, 0);
        if (fd < 0)
        {
            if (Native.Errno == Native.ENXIO) throw new HuskException($"cannot start container \"{id}\": its init has exited");
            throw new KernelException($"open {fifo}", Native.Errno);
        }
        try { Native.WriteAll(fd, "0"u8, "exec fifo"); }
        finally { Native.close(fd); }
        Native.unlink(fifo);

        var spec = store.ReadConfig(id);
        if (spec?.Hooks is { Poststart.Count: > 0 } hooks)
            HookRunner.RunBestEffort(hooks.Poststart, Creator.StateJson(r, spec, ContainerStatus.Running), "poststart", Log.Warn);
    }

    public static State GetState(StateStore store, string id)
    {
        StateStore.ValidateId(id);
        if (!store.Exists(id)) throw new HuskException($"container \"{id}\" does not exist");
        var (r, status) = Inspect(store, id);
        if (r == null) return new State { OCIVersion = "1.2.0", ID = id, Status = status };
        return ContainerStatus.ToState(r, null, status, r.Pid);
    }

    /// <summary>Reads a container's record and status without waiting for a command that holds its lock.</summary>
    static (ContainerRecord? Record, string Status) Inspect(StateStore store, string id)
    {
        bool busy;
        using (var l = store.TryLock(id)) busy = l == null;
        var r = store.ReadRecord(id);
        return (r, ContainerStatus.Of(store, r, busy));
    }

    public static IReadOnlyList<State> List(StateStore store)
    {
        var list = new List<State>();
        foreach (var id in store.Ids())
        {
            try { list.Add(GetState(store, id)); }
            catch (HuskException) { list.Add(new State { OCIVersion = "1.2.0", ID = id, Status = ContainerStatus.Stopped }); }
        }
        return list;
    }

    public static void Kill(StateStore store, string id, int signal, bool all)
    {
        using var l = store.Lock(id);
        var r = store.ReadRecord(id);
        var status = ContainerStatus.Of(store, r, createInProgress: false);
        if (r == null || status == ContainerStatus.Stopped) throw new HuskException($"cannot kill container \"{id}\": it is not running");
        if (all && r.Cgroup != null)
        {
            foreach (var pid in Cgroups.CgroupManagers.Open(r.Cgroup).Pids()) Native.kill(pid, signal);
            return;
        }
        Native.Check(Native.kill(r.Pid, signal), $"kill container \"{id}\" (pid {r.Pid})");
    }

    /// <summary>
    /// Removes a container: a stopped (or only created) one always; a running or paused one only
    /// with <paramref name="force"/>, which SIGKILLs it first. Then the cgroup, the poststop
    /// hooks and the state directory.
    /// </summary>
    public static void Delete(StateStore store, string id, bool force)
    {
        StateStore.ValidateId(id);
        if (!store.Exists(id))
        {
            if (force) return; // runc: delete --force of an unknown id succeeds
            throw new HuskException($"container \"{id}\" does not exist");
        }
        using var l = store.Lock(id);
        ContainerRecord? r;
        try { r = store.ReadRecord(id); }
        catch (HuskException) when (force) { r = null; }
        var status = ContainerStatus.Of(store, r, createInProgress: false);
        if (status is ContainerStatus.Running or ContainerStatus.Paused && !force)
            throw new HuskException($"cannot delete container \"{id}\" that is not stopped: {status}; use --force");

        if (r != null)
        {
            var cgroup = r.Cgroup != null ? Cgroups.CgroupManagers.Open(r.Cgroup) : null;
            if (status == ContainerStatus.Paused) cgroup?.Thaw();
            Cleanup.KillInit(r.Pid, r.PidStartTime);
            cgroup?.Destroy();
            Spec.Spec? spec = null;
            try { spec = store.ReadConfig(id); } catch (HuskException e) { Log.Warn($"delete {id}: {e.Message}"); }
            if (spec?.Hooks is { Poststop.Count: > 0 } hooks)
                HookRunner.RunBestEffort(hooks.Poststop, Creator.StateJson(r, spec, ContainerStatus.Stopped), "poststop", Log.Warn);
        }
        store.RemoveDirectory(id);
    }
}
