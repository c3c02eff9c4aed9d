using System.Runtime.InteropServices;

namespace Husk.Linux;

/// <summary>What Husk does as a VM guest's PID 1: load the kernel's modules, power off.</summary>
public static unsafe partial class Native
{
    const long SYS_finit_module = 313;

    /// <summary>finit_module(2) of an open .ko file, without parameters.</summary>
    public static int finit_module(int fd)
    {
        byte empty = 0;
        return (int)syscall(SYS_finit_module, fd, (long)&empty, 0, 0, 0, 0);
    }

    public const int RB_POWER_OFF = 0x4321fedc;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int reboot(int cmd);

    [LibraryImport(Libc)]
    public static partial void sync();
}
