using Husk.Linux;

namespace Husk.Container;

/// <summary>
/// Starts `husk init` from this very binary with a socket to talk to it and the exec fifo.
/// The fds the caller asked to preserve (3 .. 3+N-1) keep their numbers; the socket and the
/// fifo come right after them, and their numbers travel in the environment.
/// </summary>
public sealed class InitLauncher : IDisposable
{
    public const string InitPipeEnv = "_HUSK_INITPIPE", FifoFdEnv = "_HUSK_FIFOFD";

    public required int SpawnedPid { get; init; }
    public required InitChannel Channel { get; init; }
    /// <summary>Whether the init started inside the cgroup directory it was given; when not (no clone3), <see cref="JoinCgroup"/> moves it by pid.</summary>
    public bool StartedInCgroup { get; init; }

    /// <summary>
    /// Which `husk init` to be: unset, the container's init (<see cref="ContainerInit"/>); <see cref="ExecMode"/>
    /// for `husk exec`, a process joining a running container (<see cref="ExecInit"/>); <see cref="VmMode"/>,
    /// the host-side monitor of a container in its own VM (<see cref="Husk.Vm.VmMonitor"/>).
    /// </summary>
    public const string InitModeEnv = "_HUSK_INITMODE", ExecMode = "exec", VmMode = "vm";

    /// <param name="fifoPath">The exec fifo (create); null for `exec`, which has none.</param>
    /// <param name="consoleSocket">A connected console socket for process.terminal, or -1; it follows the fifo.</param>
    /// <param name="mode">The <see cref="InitModeEnv"/> to start it in; null: the container's init.</param>
    /// <param name="idmapFds">Detached id-mapped mounts (spec mount index → fd) for the init to attach; they follow the console. The caller keeps them.</param>
    /// <param name="seccompListener">The pinned seccomp listener socket for `exec`, or -1; it comes last.</param>
    /// <param name="cgroup">Where the init goes in the container's cgroup: it starts inside the directory given there (see <see cref="StartedInCgroup"/>); null: no cgroup.</param>
    public static InitLauncher Launch(int preserveFds, string? fifoPath, int consoleSocket = -1, string? mode = null,
        IReadOnlyDictionary<int, OwnedFd>? idmapFds = null, int seccompListener = -1, Husk.Cgroups.CgroupPlacement? cgroup = null)
    {
        // Only the init may hold the fifo and its end of the socket (both closed here once it is
        // spawned): when it dies, `start` sees a fifo without a reader and the socket reports end-of-file.
        using var fifo = fifoPath == null ? null : new OwnedFd(Native.Check(Native.open(fifoPath, Native.O_RDWR | Native.O_CLOEXEC, 0), $"open {fifoPath}"));
        int[] pair = Native.SocketPair(Native.SOCK_STREAM, "socketpair");
        using OwnedFd ours = new(pair[0]), theirs = new(pair[1]);
        int sockTarget = 3 + preserveFds, next = 4 + preserveFds;
        var fds = new List<(int, int)>();
        for (int i = 3; i < 3 + preserveFds; i++) fds.Add((i, i));
        fds.Add((theirs.Fd, sockTarget));
        var env = new List<string> { $"{InitPipeEnv}={sockTarget}" };
        if (fifo != null)
        {
            next = FifoFd(preserveFds);
            fds.Add((fifo.Fd, next));
            env.Add($"{FifoFdEnv}={next++}");
        }
        if (consoleSocket >= 0)
        {
            fds.Add((consoleSocket, next));
            env.Add($"{Husk.Init.ContainerConsole.ConsoleFdEnv}={next++}");
        }
        if (idmapFds is { Count: > 0 })
        {
            var list = new List<string>();
            foreach (var (index, fd) in idmapFds)
            {
                fds.Add((fd.Fd, next));
                list.Add($"{index}:{next++}");
            }
            env.Add($"{Husk.Rootfs.IdmappedMounts.FdsEnv}={string.Join(',', list)}");
        }
        if (seccompListener >= 0)
        {
            fds.Add((seccompListener, next));
            env.Add($"{Husk.Seccomp.SeccompListener.InheritedFdEnv}={next++}");
        }
        if (mode != null) env.Add($"{InitModeEnv}={mode}");
        // CVE-2019-5736: what enters the container runs from an unwritable copy of husk, so
        // its /proc/PID/exe cannot be used to overwrite the binary on the host.
        var exe = SealedExe.Create();
        Log.Debug($"{exe.Kind} copy of husk for the init: {exe.CopyMilliseconds:0.00} ms");
        Spawner.CgroupChild? inCgroup = null;
        try
        {
            int dir = cgroup?.StartInsideFd ?? -1;
            if (dir >= 0) inCgroup = Spawner.SpawnInCgroup(exe.ExecPath, ["husk", "init"], env, fds, dir);
            int pid = inCgroup?.Pid ?? Spawner.Spawn(exe.ExecPath, ["husk", "init"], env, fds);
            // The copy must stay until the child has exec'd it: posix_spawn waits for that, husk_spawn does not.
            return new InitLauncher
            {
                SpawnedPid = pid, Channel = new InitChannel(ours.Release()), StartedInCgroup = inCgroup != null,
                _child = inCgroup, _exe = inCgroup != null ? exe : null,
            };
        }
        finally { if (inCgroup == null) exe.Dispose(); }
    }

    /// <summary>The fd number the exec fifo has in the init (the init plan names it).</summary>
    public static int FifoFd(int preserveFds) => 4 + preserveFds;

    /// <summary>
    /// The fds 3.. the init keeps: the <paramref name="listenFds"/> of socket activation, then the
    /// <paramref name="requested"/> of --preserve-fds; each must have been open when husk started. Returns their count.
    /// </summary>
    public static int CheckPreserveFds(int requested, int listenFds)
    {
        if (requested < 0 || requested > 1000) throw new HuskException($"--preserve-fds {requested}: out of range");
        int total = listenFds + requested;
        if (total > 0)
            Native.CheckOpenAtStart(3, total, listenFds > 0 ? $"LISTEN_FDS={listenFds} and --preserve-fds {requested}" : $"--preserve-fds {requested}");
        return total;
    }

    /// <summary>
    /// Puts the spawned process where <paramref name="cgroup"/> says, without a move by pid where it can:
    /// the directory it was started in, the v1 tasks files nsexec.c moves it into itself (its bootstrap
    /// records), or (no clone3) it is moved there by pid now.
    /// </summary>
    public void JoinCgroup(Husk.Cgroups.CgroupPlacement? cgroup)
    {
        AwaitExec();
        if (cgroup is not null && !StartedInCgroup) cgroup.MoveByPid(SpawnedPid);
    }

    Spawner.CgroupChild? _child;
    SealedExe? _exe;

    /// <summary>Waits until the spawned process has exec'd husk (the spawn returns before that); throws when it could not.</summary>
    public void AwaitExec()
    {
        if (_child is not { } child) return;
        _child = null;
        // A child started into a frozen cgroup (CLONE_INTO_CGROUP under a frozen parent) never
        // execs: the caller's stall check gives up on it, as it does for the init's messages.
        try
        {
            // Closed here when the wait gives up, else by Spawner.AwaitExec.
            using (child.Status)
            {
                if (Channel.WhileWaiting is { } stalled) InitChannel.AwaitReady(child.Status.Fd, Native.POLLIN, stalled, "exec status pipe");
                Spawner.AwaitExec(child, _exe!.ExecPath);
            }
        }
        finally { _exe?.Dispose(); _exe = null; }
    }

    public void Dispose()
    {
        _child?.Status.Dispose();
        _exe?.Dispose();
        Channel.Dispose();
    }

    /// <summary>In the init: an fd whose number `create` or `exec` put in the environment variable <paramref name="name"/>.</summary>
    public static int InheritedFd(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var fd) && fd > 2
            ? fd
            : throw new HuskException($"husk init is started by husk create or exec, not by hand ({name} is not set)");

    /// <summary>In the init: its config, the first message; null when the parent went away or sent something else (it reports what happened).</summary>
    public static Husk.Container.Launch.InitConfig? ReceiveConfig(InitChannel channel)
    {
        try
        {
            return Husk.Container.Launch.InitConfig.Shape.ReadDocument(channel.Expect(InitMessage.Config, "before receiving its config"))
                ?? throw new HuskException("init: empty config");
        }
        catch (HuskException) { return null; }
    }
}
