namespace Husk.Spec;

/// <summary>The kinds of namespace linux.namespaces can list.</summary>
public enum NamespaceKind { Pid, Network, Mount, Ipc, Uts, User, Cgroup, Time }

/// <summary>
/// The one table of namespace kinds: the name linux.namespaces gives each, its CLONE_NEW* flag
/// (what nsexec.c unshares, or setns-es into) and its file under /proc/PID/ns/.
/// </summary>
public static class NamespaceKinds
{
    public const uint CLONE_NEWTIME = 0x80, CLONE_NEWNS = 0x20000, CLONE_NEWCGROUP = 0x2000000,
        CLONE_NEWUTS = 0x4000000, CLONE_NEWIPC = 0x8000000, CLONE_NEWUSER = 0x10000000,
        CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;

    public sealed record Entry(NamespaceKind Kind, string SpecName, uint CloneFlag, string ProcName);

    /// <summary>Every kind, in the order of <see cref="NamespaceKind"/> (so <c>All[(int)kind]</c> is its entry).</summary>
    public static readonly IReadOnlyList<Entry> All =
    [
        new(NamespaceKind.Pid, "pid", CLONE_NEWPID, "pid"),
        new(NamespaceKind.Network, "network", CLONE_NEWNET, "net"),
        new(NamespaceKind.Mount, "mount", CLONE_NEWNS, "mnt"),
        new(NamespaceKind.Ipc, "ipc", CLONE_NEWIPC, "ipc"),
        new(NamespaceKind.Uts, "uts", CLONE_NEWUTS, "uts"),
        new(NamespaceKind.User, "user", CLONE_NEWUSER, "user"),
        new(NamespaceKind.Cgroup, "cgroup", CLONE_NEWCGROUP, "cgroup"),
        new(NamespaceKind.Time, "time", CLONE_NEWTIME, "time"),
    ];

    public static Entry Of(NamespaceKind kind) => All[(int)kind];

    /// <summary>The entry of a linux.namespaces type ("network"); null for a type that is not one.</summary>
    public static Entry? Find(string specName)
    {
        foreach (var e in All) if (e.SpecName == specName) return e;
        return null;
    }
}
