using Husk.Spec;

namespace Husk.Container;

/// <summary>
/// A container as a command holds it: its state directory in the store, its record and the lock
/// on it, and the OCI state made from them (one place for what the hooks and `state` see).
/// </summary>
public sealed class ContainerHandle(StateStore store, ContainerRecord record, ContainerLock? heldLock) : IDisposable
{
    ContainerLock? _lock = heldLock;

    public StateStore Store { get; } = store;
    public ContainerRecord Record { get; } = record;
    public string Id => Record.Id;
    public string Dir => Store.DirOf(Id);

    /// <summary>A new container: its directory made (failing if the id exists) and locked, its record not yet written.</summary>
    public static ContainerHandle CreateNew(StateStore store, string id, string bundle, string rootfs, Spec.Spec spec)
    {
        var l = store.CreateDirectory(id);
        return new ContainerHandle(store, ContainerRecord.New(id, bundle, rootfs, spec), l);
    }

    /// <summary>An existing container, locked, with its record; throws a clear error for an unknown id or a missing record.</summary>
    public static ContainerHandle Open(StateStore store, string id)
    {
        var l = store.Lock(id);
        try
        {
            var r = store.ReadRecord(id) ?? throw new HuskException($"container \"{id}\" has no state; delete it with --force");
            return new ContainerHandle(store, r, l);
        }
        catch
        {
            l.Dispose();
            throw;
        }
    }

    /// <summary>Its status now (not while a create is in progress: the lock is held).</summary>
    public string Status() => ContainerStatus.Of(Store, Record, createInProgress: false);

    public void Save() => Store.WriteRecord(Record);

    /// <summary>The OCI state with <paramref name="status"/> (pid 0 once stopped).</summary>
    public State State(Spec.Spec? spec, string status) => ContainerStatus.ToState(Record, spec, status, Record.Pid);

    /// <summary>The OCI state given to hooks on stdin.</summary>
    public string StateJson(Spec.Spec? spec, string status) => SpecJson.Serialize(State(spec, status));

    /// <summary>Lets other commands at it, while this one goes on with what it read (exec runs unlocked).</summary>
    public void Unlock()
    {
        _lock?.Dispose();
        _lock = null;
    }

    public void Dispose() => Unlock();
}
