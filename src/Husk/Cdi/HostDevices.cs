using System.Runtime.InteropServices;
using System.Text;
using Husk.Linux;

namespace Husk.Cdi;

/// <summary>What a host path is, for filling in a CDI device node's type and numbers.</summary>
public interface IHostDevices
{
    /// <summary>The node's type ("b", "c" or "p") and numbers, without following a final symlink; null + reason when it is not a device node.</summary>
    (string Type, long Major, long Minor)? Stat(string path, out string? error);
}

/// <summary>The real host: statx(2) with AT_SYMLINK_NOFOLLOW through <see cref="Native.syscall"/>.</summary>
public sealed unsafe class HostDevices : IHostDevices
{
    public static readonly HostDevices Instance = new();

    static long SYS_statx => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.Arm64 => 291,
        _ => 332, // x86-64
    };

    const int STATX_TYPE = 0x1;
    const int ModeOffset = 28, RdevMajorOffset = 128, RdevMinorOffset = 132, StatxSize = 256;

    public (string Type, long Major, long Minor)? Stat(string path, out string? error)
    {
        error = null;
        var p = Encoding.UTF8.GetBytes(path + "\0");
        var buf = stackalloc byte[StatxSize];
        long rc;
        fixed (byte* pp = p)
            rc = Native.syscall(SYS_statx, Native.AT_FDCWD, (long)pp, Native.AT_SYMLINK_NOFOLLOW, STATX_TYPE, (long)buf, 0);
        if (rc < 0)
        {
            error = Native.StrError(Native.Errno);
            return null;
        }
        uint mode = *(ushort*)(buf + ModeOffset);
        long major = *(uint*)(buf + RdevMajorOffset), minor = *(uint*)(buf + RdevMinorOffset);
        switch (mode & Native.S_IFMT)
        {
            case Native.S_IFBLK: return ("b", major, minor);
            case Native.S_IFCHR: return ("c", major, minor);
            case Native.S_IFIFO: return ("p", 0, 0);
            default:
                error = "not a device node";
                return null;
        }
    }
}
