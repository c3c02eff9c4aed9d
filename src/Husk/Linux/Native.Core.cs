using System.Runtime.InteropServices;

namespace Husk.Linux;

/// <summary>
/// The one place that talks to the kernel. Every P/Invoke of Husk lives in this partial class,
/// split into files by area (Native.Core.cs, Native.Mount.cs, Native.Process.cs, ...).
/// Functions return the raw libc result; callers use <see cref="Check"/> to turn -1 into
/// a <see cref="KernelException"/> that names the call and the errno.
/// </summary>
public static unsafe partial class Native
{
    const string Libc = "libc";

    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80,
        O_NOCTTY = 0x100, O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800,
        O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;

    public const int EINTR = 4, ENOENT = 2, ESRCH = 3, EAGAIN = 11, EEXIST = 17, ENOTDIR = 20,
        EINVAL = 22, EBUSY = 16, EPERM = 1, ENOSYS = 38, ENXIO = 6, ECHILD = 10;

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags, int mode);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int openat(int dirfd, string path, int flags, int mode);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint read(int fd, byte* buf, nint count);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint write(int fd, byte* buf, nint count);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint pread(int fd, byte* buf, nint count, long offset);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);

    public const int SEEK_SET = 0;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int dup2(int oldfd, int newfd);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int getpid();

    /// <summary>unshare(2): from a multi-threaded process this moves only the calling thread (see native/nsexec.c).</summary>
    [LibraryImport(Libc, SetLastError = true)]
    public static partial int unshare(int flags);

    /// <summary>setns(2): joining a mount namespace needs a thread that shares no file system context (unshare CLONE_FS first).</summary>
    [LibraryImport(Libc, SetLastError = true)]
    public static partial int setns(int fd, int nstype);

    public const int CLONE_FS = 0x200;

    [LibraryImport(Libc)]
    public static partial uint getegid();

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int kill(int pid, int sig);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int flock(int fd, int operation);

    public const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mkfifo(string path, int mode);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mkdir(string path, int mode);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int unlink(string path);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rename(string oldPath, string newPath);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int pipe2(int* fds, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int socketpair(int domain, int type, int protocol, int* sv);

    public const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_SEQPACKET = 5, SOCK_CLOEXEC = 0x80000;

    /// <summary>A connected close-on-exec AF_UNIX pair of <paramref name="type"/> (SOCK_STREAM, SOCK_SEQPACKET); errors name <paramref name="what"/>.</summary>
    public static int[] SocketPair(int type, string what)
    {
        var pair = new int[2];
        fixed (int* p = pair) Check(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, p), what);
        return pair;
    }
    public const int F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int waitpid(int pid, int* status, int options);

    public const int WNOHANG = 1, __WALL = 0x40000000;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    public const int PR_SET_PDEATHSIG = 1, PR_SET_KEEPCAPS = 8, PR_SET_NAME = 15,
        PR_CAPBSET_DROP = 24, PR_SET_CHILD_SUBREAPER = 36, PR_SET_NO_NEW_PRIVS = 38,
        PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_RAISE = 2, PR_CAP_AMBIENT_CLEAR_ALL = 4;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial long syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>The name ps shows for this process (PR_SET_NAME, at most 15 bytes).</summary>
    public static void SetProcessName(string name)
    {
        Span<byte> buf = stackalloc byte[16];
        buf.Clear();
        System.Text.Encoding.ASCII.GetBytes(name.AsSpan(0, Math.Min(name.Length, 15)), buf);
        fixed (byte* p = buf) prctl(PR_SET_NAME, (nuint)p, 0, 0, 0);
    }

    /// <summary>Throws a <see cref="KernelException"/> naming <paramref name="what"/> when <paramref name="rc"/> is negative.</summary>
    public static int Check(int rc, string what)
    {
        if (rc < 0) throw new KernelException(what, Errno);
        return rc;
    }

    public static long Check(long rc, string what)
    {
        if (rc < 0) throw new KernelException(what, Errno);
        return rc;
    }

    /// <summary>strerror text for an errno, e.g. "No such file or directory".</summary>
    public static string StrError(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>Writes all of <paramref name="data"/> to <paramref name="fd"/>, retrying on EINTR.</summary>
    public static void WriteAll(int fd, ReadOnlySpan<byte> data, string what)
    {
        fixed (byte* p = data)
        {
            nint done = 0;
            while (done < data.Length)
            {
                nint n = write(fd, p + done, data.Length - done);
                if (n < 0)
                {
                    if (Errno == EINTR) continue;
                    throw new KernelException(what, Errno);
                }
                done += n;
            }
        }
    }

    /// <summary>One read(2) into <paramref name="buf"/>, retried on EINTR: the count, 0 at end of file, -1 on another error.</summary>
    public static int ReadSome(int fd, Span<byte> buf)
    {
        fixed (byte* p = buf)
        {
            while (true)
            {
                nint n = read(fd, p, buf.Length);
                if (n >= 0 || Errno != EINTR) return (int)n;
            }
        }
    }

    public const int SHUT_WR = 1;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    /// <summary>Reads exactly <paramref name="buf"/>.Length bytes; returns false on EOF before any byte.</summary>
    public static bool ReadExact(int fd, Span<byte> buf, string what)
    {
        fixed (byte* p = buf)
        {
            nint done = 0;
            while (done < buf.Length)
            {
                nint n = read(fd, p + done, buf.Length - done);
                if (n < 0)
                {
                    if (Errno == EINTR) continue;
                    throw new KernelException(what, Errno);
                }
                if (n == 0)
                {
                    if (done == 0) return false;
                    throw new HuskException($"{what}: unexpected end of data");
                }
                done += n;
            }
        }
        return true;
    }
}

/// <summary>A failed system call: the call (and its object), the errno and its text.</summary>
public sealed class KernelException(string what, int errno)
    : HuskException($"{what}: {Native.StrError(errno)}")
{
    public int Errno { get; } = errno;
}
