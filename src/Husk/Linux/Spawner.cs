using System.Runtime.InteropServices;

namespace Husk.Linux;

/// <summary>
/// Starts a program with posix_spawn: exact argv (argv[0] may differ from the path), an exact
/// environment, chosen fds placed at chosen numbers, every other fd above 2 closed, and all
/// signals reset to default and unblocked (the .NET runtime blocks and handles some).
/// </summary>
public static unsafe class Spawner
{
    /// <param name="path">The program to execute (no PATH search).</param>
    /// <param name="argv">argv, argv[0] included.</param>
    /// <param name="env">The complete environment ("K=V").</param>
    /// <param name="fds">Pairs (source fd in this process, fd number in the child). Child fds 0-2 are
    /// inherited unless mapped here; mapped targets above 2 survive, everything else above 2 is closed.</param>
    /// <param name="newSession">Put the child in a new session (setsid).</param>
    public static int Spawn(string path, IReadOnlyList<string> argv, IReadOnlyList<string> env,
        IReadOnlyList<(int Source, int Target)>? fds = null, bool newSession = false)
    {
        fds ??= [];
        var (high, maxTarget) = MoveSourcesHigh(fds);

        var fa = NativeMemory.AllocZeroed(256);
        var attr = NativeMemory.AllocZeroed(512);
        var sigs = NativeMemory.AllocZeroed(128);
        using var strings = new CStrings();
        try
        {
            Native.posix_spawn_file_actions_init(fa);
            for (int i = 0; i < fds.Count; i++)
                Native.posix_spawn_file_actions_adddup2(fa, high[i], fds[i].Target);
            Native.posix_spawn_file_actions_addclosefrom_np(fa, maxTarget + 1);

            Native.posix_spawnattr_init(attr);
            short flags = Native.POSIX_SPAWN_SETSIGMASK | Native.POSIX_SPAWN_SETSIGDEF;
            if (newSession) flags |= Native.POSIX_SPAWN_SETSID;
            Native.posix_spawnattr_setflags(attr, flags);
            Native.sigemptyset(sigs);
            Native.posix_spawnattr_setsigmask(attr, sigs);
            Native.sigfillset(sigs);
            Native.posix_spawnattr_setsigdefault(attr, sigs);

            byte* cpath = strings.Utf8(path);
            byte** cargv = strings.Array(argv);
            byte** cenv = strings.Array(env);
            int pid;
            int rc = Native.posix_spawn(&pid, cpath, fa, attr, cargv, cenv);
            if (rc != 0) throw new KernelException($"cannot execute {path}", rc);
            return pid;
        }
        finally
        {
            Native.posix_spawn_file_actions_destroy(fa);
            Native.posix_spawnattr_destroy(attr);
            NativeMemory.Free(fa);
            NativeMemory.Free(attr);
            NativeMemory.Free(sigs);
            foreach (var h in high) Native.close(h);
        }
    }

    /// <summary>A child of <see cref="SpawnInCgroup"/> until it has exec'd: its pid, its status pipe, the memory it runs in.</summary>
    public sealed record CgroupChild(int Pid, OwnedFd Status, nint Arena, nuint ArenaSize);

    /// <summary>
    /// As <see cref="Spawn"/>, but the child starts inside the cgroup2 directory <paramref name="cgroup2Dir"/>
    /// (an open fd, the only kind clone3's CLONE_INTO_CGROUP takes; native/spawn.c), without the move by pid that waits for an RCU grace period,
    /// and this returns before the child has exec'd: <see cref="AwaitExec"/> with the returned
    /// child says whether it did. Null where the kernel has no clone3 (before 5.7): the
    /// caller then uses <see cref="Spawn"/> and moves the process by pid.
    /// </summary>
    public static CgroupChild? SpawnInCgroup(string path, IReadOnlyList<string> argv, IReadOnlyList<string> env,
        IReadOnlyList<(int Source, int Target)> fds, int cgroup2Dir)
    {
        var (high, maxTarget) = MoveSourcesHigh(fds);
        using var strings = new CStrings();
        try
        {
            var targets = fds.Select(f => f.Target).ToArray();
            int pid = 0, statusFd = -1, err = 0;
            nint arena = 0;
            nuint arenaSize = 0;
            int rc;
            fixed (int* src = high, dst = targets)
                rc = Native.husk_spawn(strings.Utf8(path), strings.Array(argv), strings.Array(env), src, dst, fds.Count,
                    maxTarget + 1, cgroup2Dir, &pid, &statusFd, &arena, &arenaSize, &err);
            if (rc == 0) return new CgroupChild(pid, new OwnedFd(statusFd), arena, arenaSize);
            const int ENOSYS = 38;
            if (err == ENOSYS) return null;
            throw new KernelException($"cannot start {path} in its cgroup (clone3)", err);
        }
        finally
        {
            foreach (var h in high) Native.close(h);
        }
    }

    /// <summary>
    /// Waits until <paramref name="child"/> has exec'd <paramref name="path"/> (its status pipe reaches
    /// end-of-file), closes the pipe and gives back the memory the child ran in; throws, after reaping
    /// it, when it failed. A child never awaited keeps that memory (it may still run in it); the
    /// process is short-lived.
    /// </summary>
    public static void AwaitExec(CgroupChild child, string path)
    {
        Span<int> failure = stackalloc int[2];
        bool failed;
        using (child.Status) failed = Native.ReadExact(child.Status.Fd, MemoryMarshal.AsBytes(failure), $"start {path}");
        if (failed) Native.waitpid(child.Pid, null, 0);
        Native.husk_spawn_release(child.Arena, child.ArenaSize);
        if (!failed) return;
        // Steps of native/spawn.c.
        throw new KernelException(failure[0] == 1 ? $"cannot start {path}: placing its fds failed" : $"cannot execute {path}", failure[1]);
    }

    // Every source fd moves above every target first, so one mapping cannot clobber another's source.
    static (int[] High, int MaxTarget) MoveSourcesHigh(IReadOnlyList<(int Source, int Target)> fds)
    {
        var high = new int[fds.Count];
        int maxTarget = 2;
        foreach (var (_, t) in fds) maxTarget = Math.Max(maxTarget, t);
        for (int i = 0; i < fds.Count; i++)
            high[i] = Native.Check(Native.fcntl(fds[i].Source, Native.F_DUPFD_CLOEXEC, Math.Max(maxTarget + 1, 100)), "fcntl(F_DUPFD)");
        return (high, maxTarget);
    }
}
