using Husk.Spec;

namespace Husk.Container;

/// <summary>Maps linux.namespaces to what nsexec.c does: CLONE_NEW* flags to unshare and paths to join.</summary>
public sealed record NamespacePlan(uint CloneFlags, IReadOnlyList<(uint Flag, string Path)> Joins)
{
    public const uint CLONE_NEWTIME = 0x80, CLONE_NEWNS = 0x20000, CLONE_NEWCGROUP = 0x2000000,
        CLONE_NEWUTS = 0x4000000, CLONE_NEWIPC = 0x8000000, CLONE_NEWUSER = 0x10000000,
        CLONE_NEWPID = 0x20000000, CLONE_NEWNET = 0x40000000;

    public static readonly IReadOnlyDictionary<string, uint> Flags = new Dictionary<string, uint>
    {
        ["pid"] = CLONE_NEWPID, ["network"] = CLONE_NEWNET, ["mount"] = CLONE_NEWNS,
        ["ipc"] = CLONE_NEWIPC, ["uts"] = CLONE_NEWUTS, ["user"] = CLONE_NEWUSER,
        ["cgroup"] = CLONE_NEWCGROUP, ["time"] = CLONE_NEWTIME,
    };

    /// <summary>The /proc/PID/ns/ file name of each namespace type.</summary>
    public static readonly IReadOnlyDictionary<string, string> ProcNames = new Dictionary<string, string>
    {
        ["pid"] = "pid", ["network"] = "net", ["mount"] = "mnt", ["ipc"] = "ipc", ["uts"] = "uts",
        ["user"] = "user", ["cgroup"] = "cgroup", ["time"] = "time",
    };

    public bool Creates(string type) => (CloneFlags & Flags[type]) != 0;
    public bool JoinsExisting(string type) => Joins.Any(j => j.Flag == Flags[type]);
    public bool HasUserNamespace => Creates("user") || JoinsExisting("user");

    public static NamespacePlan From(Spec.Spec spec)
    {
        uint flags = 0;
        var joins = new List<(uint, string)>();
        foreach (var ns in spec.Linux?.Namespaces ?? [])
        {
            if (!Flags.TryGetValue(ns.Type, out var flag))
                throw new HuskException($"/linux/namespaces: unknown namespace type \"{ns.Type}\"");
            if (string.IsNullOrEmpty(ns.Path)) flags |= flag;
            else joins.Add((flag, ns.Path));
        }
        return new NamespacePlan(flags, joins);
    }
}
