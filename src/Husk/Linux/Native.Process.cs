using System.Runtime.InteropServices;

namespace Husk.Linux;

// Credentials, capabilities, limits and exec: the calls the container's init makes last, on its
// main thread, in a normally started process (glibc's wrappers are safe here).
public static unsafe partial class Native
{
    // ---- capabilities (capget/capset v3: two 32-bit words per set) ----

    public const uint _LINUX_CAPABILITY_VERSION_3 = 0x20080522;

    [StructLayout(LayoutKind.Sequential)]
    public struct CapHeader
    {
        public uint Version;
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }

    /// <param name="data">Two <see cref="CapData"/> (bits 0-31, then 32-63).</param>
    [LibraryImport(Libc, SetLastError = true)]
    public static partial int capget(CapHeader* header, CapData* data);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int capset(CapHeader* header, CapData* data);

    public const int PR_CAPBSET_READ = 23, PR_CAP_AMBIENT_IS_SET = 1, PR_CAP_AMBIENT_LOWER = 3,
        PR_GET_NO_NEW_PRIVS = 39, PR_GET_KEEPCAPS = 7;

    // ---- memory of the waiting init (ProcessMemory) ----

    public const int MADV_DONTNEED = 4;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int madvise(nint addr, nuint length, int advice);

    // ---- keyrings (keyctl(2) as a raw syscall: glibc has no wrapper) ----

    public const long SYS_keyctl = 250;   // x86_64
    public const int KEYCTL_SETPERM = 5, KEYCTL_DESCRIBE = 6, KEYCTL_JOIN_SESSION_KEYRING = 1;

    /// <summary>keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): joins (or creates) the named session keyring; its serial, or -1.</summary>
    public static int KeyctlJoinSessionKeyring(byte* name) => (int)syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, (long)name, 0, 0, 0, 0);

    /// <summary>keyctl(KEYCTL_DESCRIBE): "type;uid;gid;perm;description" into buf; the length it needs (with the NUL), or -1.</summary>
    public static long KeyctlDescribe(int key, byte* buf, int len) => syscall(SYS_keyctl, KEYCTL_DESCRIBE, key, (long)buf, len, 0, 0);

    public static int KeyctlSetPerm(int key, uint perm) => (int)syscall(SYS_keyctl, KEYCTL_SETPERM, key, perm, 0, 0, 0);

    // ---- credentials (setresuid/setresgid/setgroups are raw syscalls: see ProcessSteps.SetUser) ----

    [LibraryImport(Libc)]
    public static partial uint getuid();

    [LibraryImport(Libc)]
    public static partial uint geteuid();

    // ---- resource limits ----

    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit
    {
        public ulong Cur;
        public ulong Max;
    }

    /// <summary>prlimit(2) (64-bit limits on every ABI: glibc's prlimit64).</summary>
    [LibraryImport(Libc, EntryPoint = "prlimit64", SetLastError = true)]
    public static partial int prlimit(int pid, int resource, RLimit* newLimit, RLimit* oldLimit);

    public const ulong RLIM_INFINITY = ulong.MaxValue;

    // ---- exec, fds, cwd, umask ----

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int execve(byte* path, byte** argv, byte** envp);

    public const long SYS_close_range = 436, SYS_pidfd_open = 434;
    public const uint CLOSE_RANGE_CLOEXEC = 1u << 2;

    /// <summary>close_range(2) as a raw syscall (older glibc lacks the wrapper).</summary>
    public static int close_range(uint first, uint last, uint flags)
        => (int)syscall(SYS_close_range, first, last, flags, 0, 0, 0);

    /// <summary>pidfd_open(2): an fd that polls readable once <paramref name="pid"/> has exited.</summary>
    public static int pidfd_open(int pid, uint flags)
        => (int)syscall(SYS_pidfd_open, pid, flags, 0, 0, 0, 0);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chdir(string path);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial byte* getcwd(byte* buf, nuint size);

    [LibraryImport(Libc)]
    public static partial uint umask(uint mask);

    // ---- UTS, personality ----

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int sethostname(byte* name, nuint len);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int setdomainname(byte* name, nuint len);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int personality(nuint persona);

    public const uint PER_LINUX = 0x0000, PER_LINUX32 = 0x0008;

    // ---- poll, fstatfs, file status flags ----

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    public const short POLLIN = 0x1, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint nfds, int timeout);

    /// <summary>fstatfs(2) into a buffer of at least 128 bytes; f_type is the first field (a long).</summary>
    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fstatfs(int fd, void* buf);

    public const long PROC_SUPER_MAGIC = 0x9fa0;
    public const int F_GETFL = 3, F_SETFL = 4, EPIPE = 32, EACCES = 13, ERANGE = 34;
    public const int SIGKILL = 9;

    /// <summary>The filesystem type (f_type) of the file open at <paramref name="fd"/>.</summary>
    public static long FsType(int fd)
    {
        var buf = stackalloc long[32];
        Check(fstatfs(fd, buf), "fstatfs");
        return buf[0];
    }

    // ---- wait status decoding ----

    public static bool WIFEXITED(int status) => (status & 0x7f) == 0;
    public static int WEXITSTATUS(int status) => (status >> 8) & 0xff;
    public static int WTERMSIG(int status) => status & 0x7f;
}
