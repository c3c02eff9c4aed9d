using Husk.Linux;
using Husk.Spec;

namespace Husk.Init;

/// <summary>
/// process.terminal: the pty is made inside the container (after pivot_root, so /dev/ptmx is the
/// container's devpts instance) and its master sent over the console socket, as runc's
/// setupConsole does; the slave becomes the process's stdio and controlling terminal.
/// </summary>
public static unsafe class ContainerConsole
{
    /// <summary>The environment variable naming the console socket fd passed to `husk init`.</summary>
    public const string ConsoleFdEnv = "_HUSK_CONSOLEFD";

    /// <summary>The console socket fd given to this init, or -1.</summary>
    public static int InheritedSocket() =>
        int.TryParse(Environment.GetEnvironmentVariable(ConsoleFdEnv), out var fd) && fd > 2 ? fd : -1;

    /// <summary>
    /// Opens /dev/ptmx, unlocks it, sets the initial size, sends the master over
    /// <paramref name="socketFd"/> (named "/dev/ptmx", runc's SendFd), then makes the slave fds 0-2
    /// and the controlling terminal of this process, which must lead its session. The slave is
    /// given to <paramref name="uid"/> so the process can reopen it as /dev/tty. Closes the socket.
    /// </summary>
    public static void Setup(int socketFd, Box? size, uint uid)
    {
        if (socketFd < 0) throw new HuskException("process.terminal is set but the init has no console socket");
        int master = Native.open("/dev/ptmx", Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC, 0);
        if (master < 0) throw new KernelException("open /dev/ptmx in the container", Native.Errno);
        try
        {
            int unlock = 0;
            Native.Check(Native.ioctl(master, Native.TIOCSPTLCK, &unlock), "unlockpt");
            uint n;
            Native.Check(Native.ioctl(master, Native.TIOCGPTN, &n), "ptsname");
            var slavePath = $"/dev/pts/{n}";
            if (size is { Height: > 0, Width: > 0 })
            {
                var ws = new Native.WinSize { Rows = (ushort)size.Height, Cols = (ushort)size.Width };
                Native.Check(Native.ioctl(master, Native.TIOCSWINSZ, &ws), "set the console size");
            }
            int slave = Native.open(slavePath, Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC, 0);
            if (slave < 0) throw new KernelException($"open {slavePath}", Native.Errno);
            try
            {
                Native.SendFd(socketFd, "/dev/ptmx", master);
                Native.EnsureSessionLeader();
                if (uid != 0) Native.fchown(slave, uid, uint.MaxValue);   // best effort, as runc's fixStdioPermissions
                for (int fd = 0; fd <= 2; fd++) Native.Check(Native.dup2(slave, fd), $"dup2 {slavePath} onto fd {fd}");
                Native.Check(Native.ioctl(0, Native.TIOCSCTTY, null), "make the pty the controlling terminal");
            }
            finally { Native.close(slave); }
        }
        finally
        {
            Native.close(master);
            Native.close(socketFd);
        }
    }
}
