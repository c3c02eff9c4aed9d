using System.Text;
using Husk.Linux;
using Husk.Spec;

namespace Husk.Container;

/// <summary>start, state, kill, delete and list: the commands on an existing container.</summary>
public static class Operations
{
    /// <summary>Releases the waiting init to exec the user process, then runs the poststart hooks.</summary>
    /// <param name="spec">The container's spec when the caller has it (`run`); else read from the state directory.</param>
    public static void Start(StateStore store, string id, Spec.Spec? spec = null)
    {
        using var container = ContainerHandle.Open(store, id);
        var status = container.Status();
        switch (status)
        {
            case ContainerStatus.Created: break;
            case ContainerStatus.Stopped: throw new HuskException($"cannot start container \"{id}\": it has stopped");
            default: throw new HuskException($"cannot start container \"{id}\": it is {status}, not created");
        }
        CompleteStart(container, ReleaseInit(store, id), spec);
    }

    /// <summary>
    /// Lets the waiting init go on to exec the process: one byte into the exec fifo. Returns the
    /// fifo's write end for <see cref="CompleteStart"/>.
    /// </summary>
    public static int ReleaseInit(StateStore store, string id)
    {
        var fifo = Path.Combine(store.DirOf(id), StateStore.ExecFifo);
        // Non-blocking: only the init holds the fifo open for reading, so ENXIO means it has died.
        int fd = Native.open(fifo, Native.O_WRONLY | Native.O_NONBLOCK | Native.O_CLOEXEC, 0);
        if (fd < 0)
        {
            if (Native.Errno == Native.ENXIO) throw new HuskException($"cannot start container \"{id}\": its init has exited");
            throw new KernelException($"open {fifo}", Native.Errno);
        }
        try
        {
            Native.WriteAll(fd, "0"u8, "exec fifo");
            Native.unlink(fifo);
            return fd;
        }
        catch
        {
            Native.close(fd);
            throw;
        }
    }

    /// <summary>
    /// After <see cref="ReleaseInit"/>: waits until the init has exec'd the process, then runs the
    /// poststart hooks; closes <paramref name="fifoFd"/>.
    /// </summary>
    public static void CompleteStart(ContainerHandle container, int fifoFd, Spec.Spec? spec)
    {
        var r = container.Record;
        string? initError;
        var cgroup = r.Cgroup != null ? Cgroups.CgroupManagers.Open(r.Cgroup) : null;
        try { initError = AwaitExec(fifoFd, r.Id, cgroup); }
        finally { Native.close(fifoFd); }
        // The init died before the program ran (a startContainer hook failed, the user or the
        // program could not be set up): the container has stopped; poststart hooks do not run.
        if (initError != null) throw new HuskException($"cannot start container \"{r.Id}\": {initError}");

        spec ??= container.Store.ReadConfig(r.Id);
        if (spec?.Hooks is { Poststart.Count: > 0 } hooks)
            HookRunner.RunBestEffort(hooks.Poststart, container.StateJson(spec, ContainerStatus.Running), "poststart", Log.Warn);
    }

    /// <summary>
    /// After `start` released the init: waits until the exec fifo has no reader left, that is until
    /// the init exec'd the program (its fd is close-on-exec) or exited, so poststart hooks run after
    /// the startContainer hooks and the program's start, as the runtime spec orders them. Returns the
    /// error line the init left in the fifo when it failed instead, else null. Gives up when the
    /// cgroup is frozen: the init cannot go on until it is thawed.
    /// </summary>
    static unsafe string? AwaitExec(int writeFd, string id, Cgroups.ICgroupManager? cgroup)
    {
        // Events 0: poll reports only POLLERR, which a fifo's write end gets once no reader is left.
        InitChannel.AwaitReady(writeFd, 0, () =>
        {
            if (cgroup?.FrozenDirectory() is { } frozen)
                throw new HuskException($"cannot start container \"{id}\": its cgroup {frozen} is frozen; the process starts once it is thawed");
        }, "exec fifo");
        // Our write end keeps the pipe's buffer alive: read what the init left through a new reader.
        int rfd = Native.open($"/proc/self/fd/{writeFd}", Native.O_RDONLY | Native.O_NONBLOCK | Native.O_CLOEXEC, 0);
        if (rfd < 0) return null;
        try
        {
            var buf = new byte[4096];
            int len = 0;
            fixed (byte* b = buf)
                while (len < buf.Length)
                {
                    nint n = Native.read(rfd, b + len, buf.Length - len);
                    if (n < 0 && Native.Errno == Native.EINTR) continue;
                    if (n <= 0) break;
                    len += (int)n;
                }
            var text = Encoding.UTF8.GetString(buf, 0, len).Trim();
            return text.Length == 0 ? null : text;
        }
        finally { Native.close(rfd); }
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
            catch (HuskException e)
            {
                // Listed (so it can be found and deleted) and reported: "corrupt state file ...; delete --force removes it".
                Log.Warn(e.Message);
                list.Add(new State { OCIVersion = "1.2.0", ID = id, Status = ContainerStatus.Stopped });
            }
        }
        return list;
    }

    /// <summary>
    /// Sends <paramref name="signal"/> to the init, or with <paramref name="all"/> to every process in
    /// the cgroup. As runc: --all also works once the init has exited (containerd's runc shim sends
    /// `kill --all ID KILL` then, to kill what is left), and succeeds when nothing is left; a plain
    /// kill of a stopped container fails with "container not running", the words the shim looks for.
    /// </summary>
    public static void Kill(StateStore store, string id, int signal, bool all)
    {
        using var l = store.Lock(id);
        var r = store.ReadRecord(id);
        var status = ContainerStatus.Of(store, r, createInProgress: false);
        if (all && r != null && (r.Cgroup != null || status == ContainerStatus.Stopped))
        {
            if (r.Cgroup != null) ResourceOperations.SignalAll(Cgroups.CgroupManagers.Open(r.Cgroup), signal);
            return;
        }
        if (r == null || status == ContainerStatus.Stopped) throw new HuskException($"cannot kill container \"{id}\": container not running");
        Native.Check(Native.kill(r.Pid, signal), $"kill container \"{id}\" (pid {r.Pid})");
        // A frozen (v1) process acts on SIGKILL only once thawed: runc thaws a paused container for it.
        if (signal == Cleanup.SIGKILL && status == ContainerStatus.Paused && r.Cgroup != null)
            Cgroups.CgroupManagers.Open(r.Cgroup).Thaw();
    }

    /// <summary>
    /// Removes a container: a stopped (or only created) one always; a running or paused one only
    /// with <paramref name="force"/>, which SIGKILLs it first. Then the cgroup, the poststop
    /// hooks and the state directory.
    /// </summary>
    /// <param name="spec">The container's spec when the caller has it (`run`); else read from the state directory.</param>
    public static void Delete(StateStore store, string id, bool force, Spec.Spec? spec = null)
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
            try { spec ??= store.ReadConfig(id); } catch (HuskException e) { Log.Warn($"delete {id}: {e.Message}"); }
            if (spec?.Hooks is { Poststop.Count: > 0 } hooks)
                HookRunner.RunBestEffort(hooks.Poststop, new ContainerHandle(store, r, l).StateJson(spec, ContainerStatus.Stopped), "poststop", Log.Warn);
        }
        // No record, or one that does not say where the cgroup is (corrupt, or from a create killed early).
        if (r?.Cgroup == null) DestroyWithoutRecord(store, id);
        store.RemoveDirectory(id);
    }

    /// <summary>
    /// state.json is missing or corrupt (a create killed before writing it, a truncated file): the
    /// cgroup is found again as create chose it (config.json's cgroupsPath and the id), and its
    /// processes, the init included, are killed with it, so `delete --force` still leaves nothing.
    /// </summary>
    static void DestroyWithoutRecord(StateStore store, string id)
    {
        try
        {
            Spec.Spec? spec = null;
            try { spec = store.ReadConfig(id); } catch (HuskException e) { Log.Warn($"delete {id}: {e.Message}"); }
            var cgroup = Cgroups.CgroupManagers.ForContainer(spec?.Linux?.CgroupsPath, id);
            if (cgroup.Directories.Any(Directory.Exists)) cgroup.Destroy();
        }
        catch (HuskException e) { Log.Warn($"delete {id}: {e.Message}"); }
    }
}
