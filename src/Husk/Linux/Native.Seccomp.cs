using System.Runtime.InteropServices;

namespace Husk.Linux;

// libseccomp, used by Husk.Seccomp: linked into bin/husk (libseccomp.a, Husk.Cli.csproj); loaded by
// name (libseccomp.so.2) only where this library runs on the .NET runtime, as in the unit tests.
// libseccomp functions return a negative errno (not -1 + errno) on failure.
public static unsafe partial class Native
{
    public const string LibSeccomp = "libseccomp.so.2";

    /// <summary>struct scmp_arg_cmp.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ScmpArgCmp
    {
        public uint Arg;
        public int Op;
        public ulong DatumA;
        public ulong DatumB;
    }

    /// <summary>struct scmp_version.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ScmpVersion
    {
        public uint Major, Minor, Micro;
    }

    // enum scmp_filter_attr
    public const int SCMP_FLTATR_ACT_BADARCH = 2, SCMP_FLTATR_CTL_NNP = 3, SCMP_FLTATR_CTL_TSYNC = 4,
        SCMP_FLTATR_CTL_LOG = 6, SCMP_FLTATR_CTL_SSB = 7, SCMP_FLTATR_CTL_OPTIMIZE = 8,
        SCMP_FLTATR_CTL_WAITKILL = 10;   // libseccomp >= 2.6

    [LibraryImport(LibSeccomp)]
    public static partial nint seccomp_init(uint defAction);

    [LibraryImport(LibSeccomp)]
    public static partial void seccomp_release(nint ctx);

    [LibraryImport(LibSeccomp, StringMarshalling = StringMarshalling.Utf8)]
    public static partial uint seccomp_arch_resolve_name(string name);

    [LibraryImport(LibSeccomp)]
    public static partial int seccomp_arch_add(nint ctx, uint archToken);

    [LibraryImport(LibSeccomp)]
    public static partial int seccomp_attr_set(nint ctx, int attr, uint value);

    [LibraryImport(LibSeccomp, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int seccomp_syscall_resolve_name(string name);

    [LibraryImport(LibSeccomp)]
    public static partial int seccomp_rule_add_array(nint ctx, uint action, int syscall, uint argCnt, ScmpArgCmp* args);

    [LibraryImport(LibSeccomp)]
    public static partial int seccomp_load(nint ctx);

    [LibraryImport(LibSeccomp)]
    public static partial int seccomp_notify_fd(nint ctx);

    /// <summary>Writes the filter as classic BPF (struct sock_filter, host byte order) to <paramref name="fd"/>.</summary>
    [LibraryImport(LibSeccomp)]
    public static partial int seccomp_export_bpf(nint ctx, int fd);

    /// <summary>struct sock_filter: one classic BPF instruction.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockFilter
    {
        public ushort Code;
        public byte Jt, Jf;
        public uint K;

        public SockFilter(ushort code, byte jt, byte jf, uint k) { Code = code; Jt = jt; Jf = jf; K = k; }
    }

    /// <summary>struct sock_fprog.</summary>
    [StructLayout(LayoutKind.Sequential)]
    struct SockFprog
    {
        public ushort Len;
        public SockFilter* Filter;
    }

    const long SYS_seccomp = 317;   // x86_64
    const long SECCOMP_SET_MODE_FILTER = 1;

    public const uint SECCOMP_FILTER_FLAG_TSYNC = 1, SECCOMP_FILTER_FLAG_LOG = 2, SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4,
        SECCOMP_FILTER_FLAG_NEW_LISTENER = 8, SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 16, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32;

    /// <summary>seccomp(SECCOMP_SET_MODE_FILTER): -1 (errno set) on failure; with NEW_LISTENER the listener fd, else 0.</summary>
    public static int SeccompSetModeFilter(SockFilter[] program, uint flags)
    {
        fixed (SockFilter* p = program)
        {
            var prog = new SockFprog { Len = (ushort)program.Length, Filter = p };
            return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, (long)&prog, 0, 0, 0);
        }
    }

    [LibraryImport(LibSeccomp)]
    public static partial uint seccomp_api_get();

    [LibraryImport(LibSeccomp)]
    public static partial ScmpVersion* seccomp_version();

    // ---- unix sockets with SCM_RIGHTS (the seccomp listener) ----

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int connect(int fd, void* addr, uint addrLen);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint sendmsg(int fd, MsgHdr* msg, int flags);

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Len;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        public IoVec* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
    }

    public const int SOL_SOCKET = 1, SCM_RIGHTS = 1, MSG_NOSIGNAL = 0x4000;

    // ---- memfd (the sealed copy of the runtime, CVE-2019-5736) and fchown (stdio) ----

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);

    public const uint MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2, MFD_EXEC = 0x10;
    public const int F_ADD_SEALS = 1033, F_GET_SEALS = 1034;
    public const int F_SEAL_SEAL = 1, F_SEAL_SHRINK = 2, F_SEAL_GROW = 4, F_SEAL_WRITE = 8, F_SEAL_FUTURE_WRITE = 0x10;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial nint sendfile(int outFd, int inFd, long* offset, nuint count);

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int fchown(int fd, uint uid, uint gid);

    /// <summary>_exit(2): ends the process at once (no managed shutdown), e.g. after a seccomp filter is in place.</summary>
    [LibraryImport(Libc)]
    public static partial void _exit(int status);
}
