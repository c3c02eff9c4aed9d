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

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int bind(int fd, void* addr, uint addrLen);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int listen(int fd, int backlog);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int accept4(int fd, nint addr, nint addrLen, int flags);

    /// <summary>A new close-on-exec AF_UNIX stream socket listening at <paramref name="path"/> (the VM monitor's exec socket).</summary>
    public static int ListenUnix(string path)
    {
        var addr = stackalloc byte[SockaddrUnSize];
        uint len = SockaddrUn(path, "socket", addr);
        int fd = Check(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX)");
        if (bind(fd, addr, len) < 0 || listen(fd, 16) < 0)
        {
            int errno = Errno;
            close(fd);
            throw new KernelException($"listen on {path}", errno);
        }
        return fd;
    }

    /// <summary>A close-on-exec pipe: [read end, write end].</summary>
    public static int[] Pipe(string what)
    {
        int* p = stackalloc int[2];
        Check(pipe2(p, O_CLOEXEC), what);
        return [p[0], p[1]];
    }
}
