using System.Runtime.InteropServices;
using System.Text;

namespace Husk.Linux;

// Terminals and fd passing: the pty of a container with process.terminal (made inside the
// container by its init), termios for relaying a terminal, and unix sockets that carry fds
// with SCM_RIGHTS (runc's --console-socket protocol). socket, connect, sendmsg, msghdr and
// fchown are declared in Native.Seccomp.cs, setsid in Native.Checkpoint.cs.
public static unsafe partial class Native
{
    [LibraryImport(Libc, SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, void* arg);

    public const nuint TIOCSCTTY = 0x540E, TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414,
        TIOCSPTLCK = 0x40045431, TIOCGPTPEER = 0x5441;

    /// <summary>ioctl(TIOCGPTPEER) (Linux 4.13): opens the slave of the pty master <paramref name="master"/> with <paramref name="flags"/>, by no path.</summary>
    public static int OpenPtyPeer(int master, int flags) => ioctl(master, TIOCGPTPEER, (void*)(nint)flags);

    /// <summary>devpts' f_type; its ptmx is char device 5:2 with inode 2 (fs/devpts/inode.c mknod_ptmx).</summary>
    public const long DEVPTS_SUPER_MAGIC = 0x1cd1;
    public const uint PTMX_MAJOR = 5, PTMX_MINOR = 2;
    public const ulong PTMX_INO = 2;

    [StructLayout(LayoutKind.Sequential)]
    public struct WinSize
    {
        public ushort Rows, Cols, XPixel, YPixel;
    }

    /// <summary>struct termios of x86_64/aarch64 glibc (60 bytes), kept opaque: only libc reads it.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    public struct Termios
    {
        public uint IFlag, OFlag, CFlag, LFlag;
    }

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int tcgetattr(int fd, Termios* t);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int tcsetattr(int fd, int when, Termios* t);

    [LibraryImport(Libc)]
    public static partial void cfmakeraw(Termios* t);

    public const int TCSANOW = 0, TCSADRAIN = 1;
    public const uint ONLCR = 0x4;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int isatty(int fd);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint recvmsg(int fd, MsgHdr* msg, int flags);

    public const int MSG_CMSG_CLOEXEC = 0x40000000, MSG_CTRUNC = 0x8;
    public const int EIO = 5, ENOTTY = 25, ENODEV = 19;

    /// <summary>CMSG_LEN / CMSG_SPACE for one int on 64-bit Linux: a 16-byte cmsghdr, data padded to 8.</summary>
    const int CmsgHdrLen = 16, CmsgLenOneFd = CmsgHdrLen + 4, CmsgSpaceOneFd = CmsgHdrLen + 8;

    /// <summary>
    /// Sends <paramref name="fd"/> over the unix socket <paramref name="sock"/> with SCM_RIGHTS, and
    /// <paramref name="name"/> as the message's data: runc's utils.SendFd, which the receivers of a
    /// console socket (containerd, conmon, runc's recvtty) read with RecvFd. Errors name <paramref name="what"/>.
    /// </summary>
    public static void SendFd(int sock, string name, int fd, string what)
    {
        var data = Encoding.UTF8.GetBytes(name);
        if (data.Length == 0 || data.Length >= 4096) throw new HuskException($"sendfd: bad name \"{name}\"");
        var control = stackalloc byte[CmsgSpaceOneFd];
        new Span<byte>(control, CmsgSpaceOneFd).Clear();
        *(nuint*)control = CmsgLenOneFd;
        *(int*)(control + 8) = SOL_SOCKET;
        *(int*)(control + 12) = SCM_RIGHTS;
        *(int*)(control + CmsgHdrLen) = fd;
        fixed (byte* d = data)
        {
            var iov = new IoVec { Base = d, Len = (nuint)data.Length };
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = CmsgSpaceOneFd };
            while (true)
            {
                if (sendmsg(sock, &msg, 0) >= 0) return;
                if (Errno != EINTR) throw new KernelException(what, Errno);
            }
        }
    }

    /// <summary>
    /// Receives one fd sent with <see cref="SendFd"/> (close-on-exec); returns it and the name sent with it.
    /// Errors name <paramref name="what"/>; <paramref name="senderGone"/> is the error when the socket is closed.
    /// </summary>
    public static (int Fd, string Name) RecvFd(int sock, string what, string senderGone)
    {
        var data = new byte[4096];
        var (n, fd) = RecvMessage(sock, data, what);
        if (fd < 0) throw new HuskException(n == 0 ? senderGone : $"{what}: no fd in the message");
        return (fd, Encoding.UTF8.GetString(data, 0, n));
    }

    /// <summary>
    /// Receives one message into <paramref name="data"/> and the fd sent with it by SCM_RIGHTS, if any
    /// (close-on-exec; -1 when none). Returns the message's length (0: the peer closed).
    /// </summary>
    public static (int Length, int Fd) RecvMessage(int sock, Span<byte> data, string what)
    {
        var control = stackalloc byte[CmsgSpaceOneFd * 4];
        fixed (byte* d = data)
        {
            var iov = new IoVec { Base = d, Len = (nuint)data.Length };
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = (nuint)(CmsgSpaceOneFd * 4) };
            nint n;
            while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0)
                if (Errno != EINTR) throw new KernelException(what, Errno);
            bool hasFd = msg.ControlLen >= CmsgLenOneFd && *(int*)(control + 8) == SOL_SOCKET && *(int*)(control + 12) == SCM_RIGHTS;
            return ((int)n, hasFd ? *(int*)(control + CmsgHdrLen) : -1);
        }
    }

    /// <summary>Connects a new close-on-exec AF_UNIX stream socket to <paramref name="path"/>; errors name it <paramref name="what"/>.</summary>
    public static int ConnectUnix(string path, string what = "console socket")
    {
        var addr = stackalloc byte[SockaddrUnSize];
        uint len = SockaddrUn(path, what, addr);
        int fd = Check(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX)");
        while (connect(fd, addr, len) != 0)
        {
            int errno = Errno;
            if (errno == EINTR) continue;
            close(fd);
            throw new HuskException($"connect to {what} \"{path}\": {StrError(errno)}");
        }
        return fd;
    }

    const int SockaddrUnSize = 110;

    /// <summary>Fills <paramref name="addr"/> (<see cref="SockaddrUnSize"/> bytes) as a sockaddr_un for <paramref name="path"/>; returns its length.</summary>
    static uint SockaddrUn(string path, string what, byte* addr)
    {
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length == 0 || bytes.Length >= SockaddrUnSize - 2) throw new HuskException($"{what} \"{path}\": path too long for a unix socket");
        new Span<byte>(addr, SockaddrUnSize).Clear();
        *(ushort*)addr = AF_UNIX;
        bytes.CopyTo(new Span<byte>(addr + 2, SockaddrUnSize - 2));
        return (uint)(2 + bytes.Length + 1);
    }
}
