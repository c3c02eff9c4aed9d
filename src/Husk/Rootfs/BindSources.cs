using Husk.Container;
using Husk.Linux;
using Husk.Spec;
using static Husk.Linux.Native;

namespace Husk.Rootfs;

/// <summary>
/// Bind mount sources opened by `create` for an init in a user namespace (runc's "mount source
/// fds", opencontainers/runc#2484). The init resolves a source path as the container's root, a
/// remapped uid: a directory on the way that only the host's root may enter (mode 0700) refuses it
/// (EACCES). `create`, the host's root, opens each bind source O_PATH for it and sends the fds over
/// the init socket; the init binds from the fd exactly as from a source it opened itself
/// (<see cref="RootfsBuilder"/>: open_tree of the fd, attributes on the detached clone, move_mount).
/// The sources are opened inside the init's mount namespace (a thread of `create` joins it, as runc
/// 1.2 does), not the host's: the init can only clone a mount of its own namespace, and a clone of
/// its copy of the host's mount is what the bind was before: a slave, never a peer, of a shared
/// host mount, with the flags the user namespace locked (ro, nosuid, ...) still locked.
/// </summary>
public static class BindSources
{
    /// <summary>
    /// The spec mounts whose source `create` opens: with a user namespace and a mount namespace, when
    /// the caller is the host's root (a rootless caller is the container's owner: it can reach no
    /// more than the container can, and may not join its mount namespace), every bind mount that
    /// has a source and is not attached from an id-mapped clone (<paramref name="idmapped"/>).
    /// </summary>
    public static List<(int Index, string Source)> Plan(Spec.Spec spec, NamespacePlan plan, bool privileged, IReadOnlyCollection<int> idmapped)
    {
        var result = new List<(int, string)>();
        if (!privileged || !plan.HasUserNamespace || !(plan.Creates(NamespaceKind.Mount) || plan.JoinsExisting(NamespaceKind.Mount))) return result;
        for (int i = 0; i < spec.Mounts.Count; i++)
        {
            var e = MountEntry.From(spec.Mounts[i]);
            if (e.IsBind && e.Type != "cgroup" && e.Source.Length > 0 && !idmapped.Contains(i)) result.Add((i, e.Source));
        }
        return result;
    }

    /// <summary>
    /// Host side, once the init is in its mount namespace (<paramref name="initPid"/>) and before it
    /// mounts anything: spec mount index → O_PATH fd of the source (close-on-exec). A source that
    /// cannot be opened is left out: the init then tries its path itself and reports the error.
    /// </summary>
    public static OwnedFds<int> Open(IReadOnlyList<(int Index, string Source)> sources, int initPid)
    {
        var fds = new OwnedFds<int>();
        if (sources.Count == 0) return fds;
        Exception? failed = null;
        // setns(CLONE_NEWNS) moves the calling thread only, and only one with a file system context
        // (root, cwd) of its own: a thread made for this, which ends with it, so no other work ever
        // runs in the container's namespace.
        var thread = new Thread(() =>
        {
            try
            {
                Check(unshare(CLONE_FS), "bind mount sources: unshare(CLONE_FS)");
                using (var ns = new OwnedFd(Check(open($"/proc/{initPid}/ns/mnt", O_RDONLY | O_CLOEXEC, 0), "bind mount sources: open the init's mount namespace")))
                    Check(setns(ns.Fd, (int)NamespaceKinds.CLONE_NEWNS), "bind mount sources: join the init's mount namespace");
                foreach (var (index, source) in sources)
                {
                    int fd = open(source, O_PATH | O_CLOEXEC, 0);
                    if (fd >= 0) fds[index] = new OwnedFd(fd);
                }
            }
            catch (Exception e) { failed = e; }
        }) { Name = "bind-sources" };
        thread.Start();
        thread.Join();
        if (failed is null) return fds;
        fds.Dispose();
        throw failed;
    }

    /// <summary>Host side, right after the init's options: each fd in one message, named by its spec mount index.</summary>
    public static void Send(InitChannel channel, IReadOnlyDictionary<int, OwnedFd> fds)
    {
        foreach (var (index, fd) in fds) SendFd(channel.Fd, index.ToString(), fd.Fd, "send a bind mount source to the init");
    }

    /// <summary>The init's side: the <paramref name="count"/> fds <see cref="Send"/> sent (spec mount index → fd).</summary>
    public static Dictionary<int, int> Receive(InitChannel channel, int count)
    {
        var fds = new Dictionary<int, int>();
        for (int n = 0; n < count; n++)
        {
            var (fd, name) = RecvFd(channel.Fd, "receive a bind mount source", "create exited before it sent the bind mount sources");
            if (!int.TryParse(name, out int index) || fds.ContainsKey(index))
            {
                close(fd);
                throw new HuskException($"receive a bind mount source: unexpected name \"{name}\"");
            }
            fds[index] = fd;
        }
        return fds;
    }
}
