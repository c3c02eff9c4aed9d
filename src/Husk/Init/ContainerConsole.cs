using Husk.Linux;
using Husk.Spec;

namespace Husk.Init;

/// <summary>
/// process.terminal: the pty is made inside the container (after pivot_root, so /dev/pts/ptmx is the
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
    /// Opens the container's /dev/pts/ptmx, unlocks it, sets the initial size, sends the master over
    /// <paramref name="socketFd"/> (named "/dev/ptmx", runc's SendFd), then makes the slave fds 0-2
    /// and the controlling terminal of this process, which must lead its session. The slave is
    /// given to <paramref name="uid"/> so the process can reopen it as /dev/tty. Closes the socket.
    /// The container may have put anything at /dev/pts (CVE-2025-52565): the ptmx is checked to be
    /// a devpts ptmx before it is opened for use, and the slave comes from the master itself
    /// (TIOCGPTPEER), never from its name /dev/pts/N.
    /// </summary>
    public static void Setup(int socketFd, Box? size, uint uid)
    {
        if (socketFd < 0) throw new HuskException("process.terminal is set but the init has no console socket");
        int master = OpenPtmx();
        try
        {
            int unlock = 0;
            Native.Check(Native.ioctl(master, Native.TIOCSPTLCK, &unlock), "unlockpt");
            if (size is { Height: > 0, Width: > 0 })
            {
                var ws = new Native.WinSize { Rows = (ushort)size.Height, Cols = (ushort)size.Width };
                Native.Check(Native.ioctl(master, Native.TIOCSWINSZ, &ws), "set the console size");
            }
            int slave = Native.OpenPtyPeer(master, Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC);
            if (slave < 0)
            {
                int errno = Native.Errno;
                throw errno switch
                {
                    Native.ENOTTY or Native.EINVAL => new HuskException("process.terminal needs ioctl(TIOCGPTPEER), which this kernel lacks (Linux 4.13 or later)"),
                    // The kernel finds the slave only through the devpts mount the master was opened from.
                    Native.ENOENT or Native.ENODEV => new HuskException("the container's /dev/pts/ptmx is not reached through its devpts mount (possible attack on the console)"),
                    _ => new KernelException("open the pty's slave (TIOCGPTPEER)", errno),
                };
            }
            try
            {
                Native.SendFd(socketFd, "/dev/ptmx", master, "send the console fd over the console socket");
                Native.EnsureSessionLeader();
                if (uid != 0) Native.fchown(slave, uid, uint.MaxValue);   // best effort, as runc's fixStdioPermissions
                for (int fd = 0; fd <= 2; fd++) Native.Check(Native.dup2(slave, fd), $"dup2 the pty's slave onto fd {fd}");
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

    /// <summary>
    /// /dev/pts/ptmx opened O_PATH (no device is opened before it is checked), checked, reopened
    /// read-write through the host's procfs (<see cref="ProcFs.Reopen"/>), and the reopened file
    /// checked again, as runc's safeAllocPty.
    /// </summary>
    static int OpenPtmx()
    {
        const string path = "/dev/pts/ptmx";
        int handle = Native.open(path, Native.O_PATH | Native.O_NOFOLLOW | Native.O_CLOEXEC, 0);
        if (handle < 0) throw new KernelException($"open {path} in the container", Native.Errno);
        try
        {
            CheckPtmx(handle, path);
            int master = ProcFs.Reopen(handle, Native.O_RDWR | Native.O_NOCTTY);
            if (master < 0) throw new KernelException($"reopen {path} in the container", Native.Errno);
            try { CheckPtmx(master, path); }
            catch { Native.close(master); throw; }
            return master;
        }
        finally { Native.close(handle); }
    }

    /// <summary>Throws unless <paramref name="fd"/> is a devpts ptmx: char device 5:2, inode 2, on devpts.</summary>
    static void CheckPtmx(int fd, string path)
    {
        if (Native.FsType(fd) != Native.DEVPTS_SUPER_MAGIC)
            throw new HuskException($"{path} in the container is not on a devpts file system (possible attack on the console)");
        var st = Native.FStatx(fd, $"stat {path}");
        if ((st.Mode & Native.S_IFMT) != Native.S_IFCHR || st.RdevMajor != Native.PTMX_MAJOR || st.RdevMinor != Native.PTMX_MINOR || st.Ino != Native.PTMX_INO)
            throw new HuskException($"{path} in the container is not the devpts ptmx (5:2, inode 2): possible attack on the console");
    }
}
