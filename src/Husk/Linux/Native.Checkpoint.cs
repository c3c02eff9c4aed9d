using System.Runtime.InteropServices;

namespace Husk.Linux;

/// <summary>Calls used by checkpoint/restore (Husk.Checkpoint) and by the init to lead its own session.</summary>
public static unsafe partial class Native
{
    [LibraryImport(Libc, SetLastError = true)]
    public static partial int setsid();

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int getsid(int pid);

    /// <summary>The inode number of <paramref name="path"/> (links followed; stx_ino at offset 32 of struct statx), or null.</summary>
    public static ulong? InodeOf(string path)
    {
        Statx st;
        if (statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &st) != 0) return null;
        return *(ulong*)((byte*)&st + 32);
    }

    /// <summary>
    /// Makes the calling process the leader of a new session unless it already leads one, as runc's
    /// nsexec does for every container init: CRIU refuses to dump a tree whose session leader is
    /// outside the container's pid namespace. Best effort (a failure leaves the caller's session).
    /// </summary>
    public static void EnsureSessionLeader()
    {
        int self = getpid();
        if (getsid(0) == self) return;
        setsid();
    }
}
