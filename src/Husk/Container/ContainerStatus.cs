using Husk.Linux;
using Husk.Spec;

namespace Husk.Container;

/// <summary>The OCI status of a container, derived from its record and the live system (as runc does).</summary>
public static class ContainerStatus
{
    public const string Creating = "creating", Created = "created", Running = "running", Stopped = "stopped", Paused = "paused";

    /// <param name="createInProgress">True when another command (the create) holds the container's lock.</param>
    public static string Of(StateStore store, ContainerRecord? r, bool createInProgress)
    {
        if (r == null || !r.CreateFinished) return createInProgress ? Creating : Stopped;
        if (!ProcFs.IsAlive(r.Pid, r.PidStartTime)) return Stopped;
        if (File.Exists(Path.Combine(store.DirOf(r.Id), StateStore.ExecFifo))) return Created;
        if (r.Cgroup != null && Cgroups.CgroupManagers.Open(r.Cgroup).IsFrozen()) return Paused;
        return Running;
    }

    public static State ToState(ContainerRecord r, Spec.Spec? spec, string status, int pid) => new()
    {
        OCIVersion = spec?.OCIVersion is { Length: > 0 } v ? v : "1.2.0",
        ID = r.Id,
        Status = status,
        Pid = status == Stopped ? 0 : pid,
        Bundle = r.Bundle,
        Rootfs = r.Rootfs,
        Created = r.CreatedAt,
        Owner = r.Owner,
        Annotations = new Dictionary<string, string>(r.Annotations),
    };
}
