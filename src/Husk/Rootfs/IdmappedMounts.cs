using Husk.Container;
using Husk.Linux;
using Husk.Spec;
using static Husk.Linux.Native;
using LinuxConfig = Husk.Spec.Linux;

namespace Husk.Rootfs;

/// <summary>One id-mapped bind mount of the spec (pure decision).</summary>
public sealed record IdmappedMount(int Index, string Source, string Destination,
    IReadOnlyList<LinuxIDMapping> Uid, IReadOnlyList<LinuxIDMapping> Gid, bool RecursiveBind, bool RecursiveIdmap, ulong Attrs);

/// <summary>
/// ID-mapped mounts (mounts[].uidMappings/gidMappings, or the "idmap"/"ridmap" option with the
/// container's own mappings), as runc 1.2 makes them: on the HOST side, `create` clones the source
/// (open_tree OPEN_TREE_CLONE), gives it MOUNT_ATTR_IDMAP with a user namespace holding the mount's
/// mappings (mount_setattr, Linux 5.12+; the source's owner must be the initial user namespace, so
/// this needs a privileged create), and hands the detached mount to the init as an fd; the init
/// attaches it at the destination resolved inside the rootfs (move_mount).
/// </summary>
public static class IdmappedMounts
{
    /// <summary>Env of the init: "INDEX:FD,INDEX:FD" (spec mount index → detached mount fd).</summary>
    public const string FdsEnv = "_HUSK_IDMAP_FDS";

    public const ulong MOUNT_ATTR_IDMAP = 0x100000;
    const uint CLONE_NEWUSER = 0x10000000;

    /// <summary>The spec's id-mapped mounts. A mount that asks for idmap without mappings uses linux.uid/gidMappings.</summary>
    public static List<IdmappedMount> Plan(Spec.Spec spec)
    {
        var result = new List<IdmappedMount>();
        for (int i = 0; i < spec.Mounts.Count; i++)
        {
            var m = spec.Mounts[i];
            var o = m.Options;
            bool option = o.Contains("idmap") || o.Contains("ridmap");
            if (m.UIDMappings.Count == 0 && m.GIDMappings.Count == 0 && !option) continue;
            var uid = m.UIDMappings.Count > 0 ? m.UIDMappings : spec.Linux?.UIDMappings ?? [];
            var gid = m.GIDMappings.Count > 0 ? m.GIDMappings : spec.Linux?.GIDMappings ?? [];
            if (uid.Count == 0 || gid.Count == 0)
                throw new HuskException($"/mounts/{i}: an id-mapped mount needs uidMappings and gidMappings (on the mount or in linux)");
            var e = MountEntry.From(m);
            if (!e.IsBind) throw new HuskException($"/mounts/{i}: id-mapped mounts are only supported for bind mounts");
            ulong attrs = 0;
            if ((e.Flags & MS_RDONLY) != 0) attrs |= MOUNT_ATTR_RDONLY;
            if ((e.Flags & MS_NOSUID) != 0) attrs |= MOUNT_ATTR_NOSUID;
            if ((e.Flags & MS_NODEV) != 0) attrs |= MOUNT_ATTR_NODEV;
            if ((e.Flags & MS_NOEXEC) != 0) attrs |= MOUNT_ATTR_NOEXEC;
            result.Add(new IdmappedMount(i, e.Source, e.Destination, uid, gid, (e.Flags & MS_REC) != 0, o.Contains("ridmap"), attrs));
        }
        return result;
    }

    /// <summary>
    /// Host side, before the init starts: one detached id-mapped mount per planned mount. Returns
    /// spec mount index → fd (close-on-exec); the caller passes them to the init and disposes them.
    /// </summary>
    public static OwnedFds<int> Create(Spec.Spec spec)
    {
        var plan = Plan(spec);
        var fds = new OwnedFds<int>();
        if (plan.Count == 0) return fds;
        using var userns = new OwnedFds<string>();
        try
        {
            foreach (var m in plan)
            {
                string what = $"id-mapped mount {m.Source} to {m.Destination}";
                string key = UserNamespace.FormatMappings(m.Uid) + "|" + UserNamespace.FormatMappings(m.Gid);
                if (!userns.TryGetValue(key, out var ns)) userns[key] = ns = UserNamespaceWith(m.Uid, m.Gid, what);
                var fd = fds[m.Index] = new OwnedFd(Check(open_tree(AT_FDCWD, m.Source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (m.RecursiveBind ? (uint)AT_RECURSIVE : 0)), $"{what}: open_tree"));
                if (SetAttr(fd.Fd, (uint)(AT_EMPTY_PATH | (m.RecursiveIdmap ? AT_RECURSIVE : 0)), MOUNT_ATTR_IDMAP | m.Attrs, ns.Fd) < 0)
                {
                    int errno = Errno;
                    throw new HuskException($"{what}: mount_setattr(MOUNT_ATTR_IDMAP): {StrError(errno)}" +
                        (errno == EINVAL ? " (the file system does not support id-mapped mounts)" : errno == EPERM ? " (needs a privileged create)" : ""));
                }
            }
            return fds;
        }
        catch
        {
            fds.Dispose();
            throw;
        }
    }

    static unsafe int SetAttr(int fd, uint flags, ulong set, int usernsFd)
    {
        var attr = new MountAttr { AttrSet = set, UsernsFd = (ulong)usernsFd };
        byte empty = 0;
        return (int)syscall(442 /* mount_setattr */, fd, (long)&empty, flags, (long)&attr, sizeof(MountAttr), 0);
    }

    /// <summary>
    /// An fd of a new user namespace with these mappings: a helper (this binary, whose C
    /// constructor unshares CLONE_NEWUSER and asks for its maps) is started, its maps written, its
    /// /proc/PID/ns/user opened, and the helper killed.
    /// </summary>
    static unsafe OwnedFd UserNamespaceWith(IReadOnlyList<LinuxIDMapping> uid, IReadOnlyList<LinuxIDMapping> gid, string what)
    {
        int[] pair = SocketPair(SOCK_STREAM, "socketpair");
        using OwnedFd ours = new(pair[0]), theirs = new(pair[1]);
        using var devnull = new OwnedFd(Check(open("/dev/null", O_RDWR | O_CLOEXEC, 0), "open /dev/null"));
        int pid = 0;
        try
        {
            pid = Spawner.Spawn(SelfExe.Path, ["husk", "init"], [$"{InitLauncher.InitPipeEnv}=3"],
                [(devnull.Fd, 0), (devnull.Fd, 1), (devnull.Fd, 2), (theirs.Fd, 3)]);
            // Only the helper holds its end: when it dies, the channel reports end-of-file.
            theirs.Dispose();
            using var ch = new InitChannel(ours.Release());
            ch.Send(InitMessage.Bootstrap, new InitChannel.BootstrapBuilder().AddUInt32(BootstrapRecord.CloneFlags, CLONE_NEWUSER).ToArray());
            var msg = ch.Receive() ?? throw new HuskException($"{what}: the user namespace helper exited");
            if (msg.Type == InitMessage.Error) throw new HuskException($"{what}: {System.Text.Encoding.UTF8.GetString(msg.Payload)}");
            if (msg.Type != InitMessage.UserMapRequest) throw new HuskException($"{what}: the user namespace helper sent {msg.Type}");
            UserNamespace.WriteMappings(pid, new LinuxConfig { UIDMappings = [.. uid], GIDMappings = [.. gid] });
            return new OwnedFd(Check(open($"/proc/{pid}/ns/user", O_RDONLY | O_CLOEXEC, 0), $"{what}: open the helper's user namespace"));
        }
        finally
        {
            if (pid > 0) { kill(pid, SIGKILL); int st; waitpid(pid, &st, 0); }
        }
    }

    /// <summary>The init's side: "INDEX:FD,..." from <see cref="FdsEnv"/>.</summary>
    public static Dictionary<int, int> FromEnvironment()
    {
        var result = new Dictionary<int, int>();
        var text = Environment.GetEnvironmentVariable(FdsEnv);
        if (string.IsNullOrEmpty(text)) return result;
        foreach (var pair in text.Split(','))
        {
            var kv = pair.Split(':');
            if (kv.Length == 2 && int.TryParse(kv[0], out int i) && int.TryParse(kv[1], out int fd) && fd > 2) result[i] = fd;
        }
        return result;
    }

    /// <summary>The init's side: attaches the detached mount <paramref name="fd"/> (taken over) at its destination inside the rootfs.</summary>
    internal static void Attach(IKernel kernel, SafeRoot root, MountEntry e, OwnedFd fd)
    {
        string what = $"id-mapped mount {e.Source} to {e.Destination}";
        using (fd)
        {
            bool isDir = (kernel.FStatx(fd.Fd, what).Mode & S_IFMT) == S_IFDIR;
            using var dst = isDir ? root.MkdirAll(e.Destination, 0x1ed, what) : root.CreateFile(e.Destination, what);
            if (MountEntry.CheckProcMount(root.ContainerPathOf(dst.Fd) ?? e.Destination, false) is { } refused)
                throw new HuskException($"{what}: {refused}");
            KernelCalls.Ok(kernel.MoveMount(fd.Fd, "", dst.Fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH), what);
        }
    }
}
