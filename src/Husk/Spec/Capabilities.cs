namespace Husk.Spec;

/// <summary>The one table of Linux capability names and numbers (linux/capability.h).</summary>
public static class Capabilities
{
    /// <summary>Every CAP_* name → its bit number, in number order.</summary>
    public static readonly IReadOnlyDictionary<string, int> All = Build();

    /// <summary>The highest capability number Husk knows.</summary>
    public const int Last = 40;

    private static Dictionary<string, int> Build()
    {
        string[] names =
        [
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
            "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
            "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
            "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
            "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
            "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
            "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE",
        ];
        var d = new Dictionary<string, int>(names.Length, StringComparer.Ordinal);
        for (int i = 0; i < names.Length; i++) d[names[i]] = i;
        return d;
    }

    /// <summary>The bit number of a capability name ("CAP_KILL"), or -1 when unknown.</summary>
    public static int Number(string name) => All.TryGetValue(name, out int n) ? n : -1;

    /// <summary>
    /// The 64-bit mask of capability names. Names unknown to Husk, or numbered above
    /// <paramref name="lastCap"/> (the kernel lacks them), are skipped and added to <paramref name="skipped"/>.
    /// </summary>
    public static ulong Mask(IEnumerable<string> names, int lastCap = Last, ICollection<string>? skipped = null)
    {
        ulong mask = 0;
        foreach (var name in names)
        {
            if (All.TryGetValue(name, out int bit) && bit <= lastCap && bit < 64)
                mask |= 1UL << bit;
            else if (skipped is not null && !skipped.Contains(name))
                skipped.Add(name);
        }
        return mask;
    }

    /// <summary>The CAP_* names of the bits set in <paramref name="mask"/> ("CAP_42" for a bit Husk has no name for).</summary>
    public static IEnumerable<string> Names(ulong mask)
    {
        for (int bit = 0; bit < 64; bit++)
        {
            if ((mask & (1UL << bit)) == 0) continue;
            string? name = null;
            foreach (var (n, b) in All)
                if (b == bit) { name = n; break; }
            yield return name ?? $"CAP_{bit}";
        }
    }
}
