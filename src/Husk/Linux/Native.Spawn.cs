using System.Runtime.InteropServices;

namespace Husk.Linux;

// posix_spawn, and husk_spawn (native/spawn.c) for the init: the safe ways for a multi-threaded
// .NET process to start another program (a child that ran managed code after a fork would have
// one thread and locks held by the others; these children only make system calls until exec).
public static unsafe partial class Native
{
    [LibraryImport(Libc, SetLastError = true)]
    public static partial int posix_spawn(int* pid, byte* path, void* fileActions, void* attr, byte** argv, byte** envp);

    [LibraryImport(Libc)]
    public static partial int posix_spawn_file_actions_init(void* fa);

    [LibraryImport(Libc)]
    public static partial int posix_spawn_file_actions_destroy(void* fa);

    [LibraryImport(Libc)]
    public static partial int posix_spawn_file_actions_adddup2(void* fa, int fd, int newfd);

    [LibraryImport(Libc)]
    public static partial int posix_spawn_file_actions_addclosefrom_np(void* fa, int from);

    [LibraryImport(Libc)]
    public static partial int posix_spawnattr_init(void* attr);

    [LibraryImport(Libc)]
    public static partial int posix_spawnattr_destroy(void* attr);

    [LibraryImport(Libc)]
    public static partial int posix_spawnattr_setflags(void* attr, short flags);

    [LibraryImport(Libc)]
    public static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);

    [LibraryImport(Libc)]
    public static partial int posix_spawnattr_setsigdefault(void* attr, void* sigset);

    [LibraryImport(Libc)]
    public static partial int sigemptyset(void* set);

    [LibraryImport(Libc)]
    public static partial int sigfillset(void* set);

    public const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSID = 0x80;
    public const int F_DUPFD_CLOEXEC = 1030;

    /// <summary>native/startfds.c: 1 when <paramref name="fd"/> was open when husk started, 0 when not, -1 when not known.</summary>
    [LibraryImport("husk_native")]
    private static partial int husk_fd_open_at_start(int fd);

    /// <summary>
    /// Refuses to pass fds <paramref name="first"/>..<paramref name="first"/>+<paramref name="count"/>-1
    /// on unless each was open when husk started (the caller's: native/startfds.c recorded them before
    /// the runtime or Husk opened anything of their own). <paramref name="what"/> names the request.
    /// </summary>
    public static void CheckOpenAtStart(int first, int count, string what)
    {
        for (int fd = first; fd < first + count; fd++)
        {
            int open = husk_fd_open_at_start(fd);
            if (open == 1) continue;
            throw new HuskException(open == 0
                ? $"{what}: fd {fd} was not open when husk started (only the caller's own fds can be passed)"
                : $"{what}: cannot tell whether fd {fd} was open when husk started (no /proc/self/fd at start, or fd above 4095)");
        }
    }

    /// <summary>native/spawn.c: posix_spawn's job plus starting the child inside its cgroup v2 (see <see cref="Spawner.SpawnInCgroup"/>).</summary>
    [LibraryImport("husk_native")]
    public static partial int husk_spawn(byte* path, byte** argv, byte** envp, int* fdSrc, int* fdDst, int fdCount, int closeFrom,
        int cgroup2Fd, int* pid, int* statusFd, nint* arena, nuint* arenaSize, int* err);

    /// <summary>native/spawn.c: unmaps the memory a child of husk_spawn used, once it has exec'd or died.</summary>
    [LibraryImport("husk_native")]
    public static partial void husk_spawn_release(nint arena, nuint arenaSize);
}
