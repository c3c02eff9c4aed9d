using Husk.Linux;

namespace Husk.Init;

/// <summary>
/// runc's fixStdioPermissions, made safe: the container's user must be able to use the stdio
/// it was given (a pipe or socket from its caller), so those are fchown'ed to its uid (the group
/// is kept). Only anonymous pipes and sockets are touched: a file, device or named fifo of the
/// host given as stdio (e.g. /dev/null, a log file, the caller's terminal) is shared with the
/// host and is never chowned or chmodded.
/// </summary>
public static class StdioOwnership
{
    public const long PIPEFS_MAGIC = 0x50495045, SOCKFS_MAGIC = 0x534F434B;

    /// <summary>Whether Husk may chown a stdio fd of this file system type and file mode (pure).</summary>
    public static bool IsPrivateToContainer(long fsType, uint mode)
    {
        uint type = mode & Native.S_IFMT;
        return (fsType == PIPEFS_MAGIC && type == Native.S_IFIFO) || (fsType == SOCKFS_MAGIC && type == 0xC000);
    }

    /// <summary>Chowns fds 0-2 to <paramref name="uid"/> where <see cref="IsPrivateToContainer"/> allows (errors ignored, as runc).</summary>
    public static void Fix(IKernel kernel, uint uid)
    {
        for (int fd = 0; fd <= 2; fd++)
        {
            if (kernel.StatxAt(fd, "", Native.AT_EMPTY_PATH | Native.AT_SYMLINK_NOFOLLOW, out var st) < 0) continue;   // closed
            if (st.Uid == uid) continue;
            if (kernel.StatFs(fd, out long fsType, out _) < 0) continue;
            if (!IsPrivateToContainer(fsType, st.Mode)) continue;
            // EINVAL (gid unmapped), EPERM (owner unmapped in our user namespace): leave it, as runc.
            kernel.Fchown(fd, uid, uint.MaxValue);
        }
    }
}
