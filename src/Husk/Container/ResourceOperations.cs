using Husk.Cgroups;
using Husk.Linux;
using Husk.Spec;

namespace Husk.Container;

/// <summary>pause, resume, update, events, ps and check: the commands on a container's cgroup.</summary>
public static class ResourceOperations
{
    static (ContainerRecord Record, string Status, ICgroupManager Cgroup) Open(StateStore store, string id, string verb)
    {
        var r = store.ReadRecord(id) ?? throw new HuskException($"container \"{id}\" has no state; delete it with --force");
        var status = ContainerStatus.Of(store, r, createInProgress: false);
        if (r.Cgroup == null) throw new HuskException($"cannot {verb} container \"{id}\": it has no cgroup");
        return (r, status, CgroupManagers.Open(r.Cgroup));
    }

    /// <summary>Freezes every process of a running container.</summary>
    public static void Pause(StateStore store, string id)
    {
        using var l = store.Lock(id);
        var (_, status, cgroup) = Open(store, id, "pause");
        if (status != ContainerStatus.Running)
            throw new HuskException($"cannot pause container \"{id}\": it is {status}, not running");
        cgroup.Freeze();
    }

    /// <summary>Thaws a paused container.</summary>
    public static void Resume(StateStore store, string id)
    {
        using var l = store.Lock(id);
        var (_, status, cgroup) = Open(store, id, "resume");
        if (status != ContainerStatus.Paused)
            throw new HuskException($"cannot resume container \"{id}\": it is {status}, not paused");
        cgroup.Thaw();
    }

    /// <summary>
    /// Applies <paramref name="changes"/> (only the settings it names) to a created, running or paused
    /// container and saves the merged resources in the container's config.json, so later updates
    /// and checkpoints see them.
    /// </summary>
    public static LinuxResources Update(StateStore store, string id, LinuxResources changes)
    {
        var errors = SpecValidator.ValidateResources(changes, ResourcePlan.Prefix);
        if (errors.Count > 0) throw new HuskException($"update: {errors[0]}");
        using var l = store.Lock(id);
        var (_, status, cgroup) = Open(store, id, "update");
        if (status is ContainerStatus.Stopped)
            throw new HuskException($"cannot update container \"{id}\": it is stopped");
        var spec = store.ReadConfig(id) ?? throw new HuskException($"cannot update container \"{id}\": its config.json is missing");
        Husk.Vm.VmIsolation.RefuseIfInVm(spec, id, "update");
        spec.Linux ??= new Spec.Linux();
        // runc: unlimited memory with no word on swap makes memory+swap unlimited too; the old
        // (lower) memory+swap limit would otherwise refuse it.
        if (changes.Memory is { Limit: -1, Swap: null } unlimited) unlimited.Swap = -1;
        var merged = ResourcePlan.Merge(spec.Linux.Resources, changes);
        if (changes.Memory is { Limit: long lim, Swap: null } && lim > 0 && merged.Memory?.Swap is long oldSwap && oldSwap > 0 && oldSwap < lim)
            throw new HuskException($"update: memory limit {lim} is above the current memory+swap limit {oldSwap}; set the memory+swap limit too (--memory-swap)");
        var mergedErrors = SpecValidator.ValidateResources(merged, ResourcePlan.Prefix);
        if (mergedErrors.Count > 0) throw new HuskException($"update: {mergedErrors[0]}");

        var toApply = ResourcePlan.ForUpdate(changes, merged);
        if (changes.Memory is { Limit: long newLimit } && merged.Memory?.CheckBeforeUpdate == true && newLimit > 0)
        {
            // checkBeforeUpdate: refuse a limit below what the container uses now.
            if (cgroup.MemoryUsage() is long usage && usage > newLimit)
                throw new HuskException($"{ResourcePlan.Prefix}/memory/limit: {newLimit} is below the current usage {usage} (checkBeforeUpdate)");
        }
        cgroup.ApplyResources(toApply, spec.Linux.Devices, applyDevices: changes.Devices.Count > 0);
        spec.Linux.Resources = merged;
        store.WriteConfig(id, SpecJson.SerializeToUtf8(spec));
        return merged;
    }

    /// <summary>The pids in the container's cgroup (host pids, sorted).</summary>
    public static IReadOnlyList<int> Pids(StateStore store, string id)
    {
        StateStore.ValidateId(id);
        if (!store.Exists(id)) throw new HuskException($"container \"{id}\" does not exist");
        var r = store.ReadRecord(id) ?? throw new HuskException($"container \"{id}\" has no state");
        // In its own VM the container's processes are the guest's: their pids there.
        if (r.Pid > 0 && InVm(store, id)) return Husk.Vm.VmExec.GuestPids(store.DirOf(id));
        if (r.Cgroup == null) return [];
        return CgroupManagers.Open(r.Cgroup).Pids();
    }

    /// <summary>Whether container <paramref name="id"/> runs in its own VM, which is up (its runtime directory exists).</summary>
    public static bool InVm(StateStore store, string id) =>
        store.ReadConfig(id) is { } spec && Husk.Vm.VmIsolation.InVm(spec) && Directory.Exists(Path.Combine(store.DirOf(id), "vm"));

    /// <summary>One stats line for `events --stats`.</summary>
    public static string StatsLine(StateStore store, string id)
    {
        StateStore.ValidateId(id);
        if (!store.Exists(id)) throw new HuskException($"container \"{id}\" does not exist");
        var (_, status, cgroup) = Open(store, id, "get stats of");
        if (status == ContainerStatus.Stopped) throw new HuskException($"container \"{id}\" is not running");
        return CgroupStats.EventLine("stats", id, cgroup);
    }

    /// <summary>
    /// `events`: prints a stats line every <paramref name="interval"/> and an {"type":"oom"} line for each OOM kill,
    /// until the container stops.
    /// </summary>
    public static void Events(StateStore store, string id, TimeSpan interval, Action<string> emit)
    {
        StateStore.ValidateId(id);
        if (!store.Exists(id)) throw new HuskException($"container \"{id}\" does not exist");
        var (r, status, cgroup) = Open(store, id, "watch");
        if (status == ContainerStatus.Stopped) throw new HuskException($"container \"{id}\" is not running");
        using var oom = cgroup.WatchOom();
        long next = Environment.TickCount64 + (long)interval.TotalMilliseconds;
        while (true)
        {
            int wait = (int)Math.Clamp(next - Environment.TickCount64, 0, 1000);
            int ooms = oom.Wait(wait);
            if (!store.Exists(id) || !cgroup.Exists()) return;
            for (int i = 0; i < ooms; i++) emit(CgroupStats.EventLine("oom", id, null));
            var rec = store.ReadRecord(id);
            if (rec == null || ContainerStatus.Of(store, rec, createInProgress: false) == ContainerStatus.Stopped) return;
            if (Environment.TickCount64 >= next)
            {
                emit(CgroupStats.EventLine("stats", id, cgroup));
                next = Environment.TickCount64 + (long)interval.TotalMilliseconds;
            }
        }
    }

    /// <summary>
    /// `kill --all`: signals every process in the cgroup, freezing it meanwhile so nothing forks
    /// between the listing and the signals (runc's signalAllProcesses). Works on a stopped container
    /// whose cgroup still holds processes.
    /// </summary>
    public static void SignalAll(ICgroupManager cgroup, int signal)
    {
        bool wasFrozen = cgroup.IsFrozen();
        bool froze = false;
        if (!wasFrozen)
        {
            try { cgroup.Freeze(); froze = true; }
            catch (HuskException e) { Log.Debug($"kill --all: {e.Message}; signalling without freezing"); }
        }
        try
        {
            foreach (var pid in cgroup.Pids()) Native.kill(pid, signal);
        }
        finally
        {
            if (froze || (wasFrozen && signal == Cleanup.SIGKILL))
            {
                try { cgroup.Thaw(); } catch (HuskException e) { Log.Warn($"kill --all: {e.Message}"); }
            }
        }
    }
}
