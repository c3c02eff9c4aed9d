using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Husk.Linux;

// bpf(2) for the cgroup v2 device controller: load a BPF_PROG_TYPE_CGROUP_DEVICE program and
// attach it to a cgroup directory (as runc and crun do). x86-64 syscall number.
public static unsafe partial class Native
{
    public const long SYS_bpf = 321;
    public const int BPF_PROG_LOAD = 5, BPF_PROG_ATTACH = 8, BPF_PROG_DETACH = 9;
    public const uint BPF_PROG_TYPE_CGROUP_DEVICE = 15, BPF_CGROUP_DEVICE = 6;
    public const uint BPF_F_ALLOW_OVERRIDE = 1, BPF_F_ALLOW_MULTI = 2;

    // union bpf_attr, the BPF_PROG_LOAD part (offsets of include/uapi/linux/bpf.h).
    [StructLayout(LayoutKind.Explicit, Size = 120)]
    struct BpfProgLoadAttr
    {
        [FieldOffset(0)] public uint ProgType;
        [FieldOffset(4)] public uint InsnCnt;
        [FieldOffset(8)] public ulong Insns;
        [FieldOffset(16)] public ulong License;
        [FieldOffset(24)] public uint LogLevel;
        [FieldOffset(28)] public uint LogSize;
        [FieldOffset(32)] public ulong LogBuf;
        [FieldOffset(40)] public uint KernVersion;
        [FieldOffset(44)] public uint ProgFlags;
        [FieldOffset(48)] public fixed byte ProgName[16];
    }

    // union bpf_attr, the BPF_PROG_ATTACH/DETACH part.
    [StructLayout(LayoutKind.Explicit, Size = 24)]
    struct BpfAttachAttr
    {
        [FieldOffset(0)] public uint TargetFd;
        [FieldOffset(4)] public uint AttachBpfFd;
        [FieldOffset(8)] public uint AttachType;
        [FieldOffset(12)] public uint AttachFlags;
        [FieldOffset(16)] public uint ReplaceBpfFd;
    }

    /// <summary>
    /// Loads a cgroup device program; returns its fd, or -1 with errno set and the verifier's log
    /// (first lines) in <paramref name="verifierLog"/> when the kernel rejected it.
    /// </summary>
    public static int BpfLoadDeviceProgram(ReadOnlySpan<ulong> insns, string license, string name, out string verifierLog)
    {
        verifierLog = "";
        var lic = Encoding.ASCII.GetBytes(license + "\0");
        // The verifier's log only for the second attempt: 64 KiB touched at every create costs 16 page faults.
        byte[] log = [];
        fixed (ulong* pi = insns)
        fixed (byte* pl = lic)
        {
            for (int attempt = 0; attempt < 2; attempt++)
            {
                var attr = new BpfProgLoadAttr
                {
                    ProgType = BPF_PROG_TYPE_CGROUP_DEVICE,
                    InsnCnt = (uint)insns.Length,
                    Insns = (ulong)pi,
                    License = (ulong)pl,
                };
                var nameBytes = Encoding.ASCII.GetBytes(name);
                for (int i = 0; i < nameBytes.Length && i < 15; i++) attr.ProgName[i] = nameBytes[i];
                if (attempt == 1)
                {
                    // Again with the verifier log, to say why.
                    log = GC.AllocateArray<byte>(64 * 1024, pinned: true);
                    attr.LogLevel = 1;
                    attr.LogSize = (uint)log.Length;
                    attr.LogBuf = (ulong)Unsafe.AsPointer(ref log[0]);
                }
                int fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, (long)&attr, sizeof(BpfProgLoadAttr), 0, 0, 0);
                if (fd >= 0) return fd;
                int e = Errno;
                if (attempt == 1)
                {
                    int len = Array.IndexOf(log, (byte)0);
                    verifierLog = Encoding.UTF8.GetString(log, 0, len < 0 ? log.Length : len).Trim();
                    Marshal.SetLastPInvokeError(e);
                    return -1;
                }
                if (e is EPERM or ENOSYS) { Marshal.SetLastPInvokeError(e); return -1; }
            }
        }
        return -1;
    }

    /// <summary>BPF_PROG_ATTACH of <paramref name="progFd"/> to the cgroup directory fd <paramref name="cgroupFd"/>.</summary>
    public static int BpfProgAttach(int cgroupFd, int progFd, uint attachType, uint flags)
    {
        var attr = new BpfAttachAttr { TargetFd = (uint)cgroupFd, AttachBpfFd = (uint)progFd, AttachType = attachType, AttachFlags = flags };
        return (int)syscall(SYS_bpf, BPF_PROG_ATTACH, (long)&attr, sizeof(BpfAttachAttr), 0, 0, 0);
    }
}
