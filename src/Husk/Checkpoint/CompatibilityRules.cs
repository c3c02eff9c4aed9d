namespace Husk.Checkpoint;

/// <summary>How the spec at restore may differ from the spec at checkpoint at one place of the JSON tree.</summary>
public enum RuleKind
{
    /// <summary>Must be semantically equal (absent == null == empty), compared member by member and item by item.</summary>
    Strict,
    /// <summary>May differ: the difference is listed (dry-run) but does not refuse the restore.</summary>
    Allowed,
    /// <summary>A list whose order has no meaning: equal as multisets; a difference is reported at the list.</summary>
    Unordered,
    /// <summary>A list of objects whose order has no meaning, matched by <see cref="CompatRule.Key"/>; matched items are compared below.</summary>
    Keyed,
}

/// <summary>
/// One row of the rule table: a JSON-pointer pattern ("*" matches one segment, "org.husk.*" a
/// segment by prefix), what kind of comparison applies there, and why a difference matters (or
/// why it may change). A rule governs its node and everything below it unless a longer (or, as
/// long, more literal) pattern matches; its Why is the message of every difference below it.
/// </summary>
public sealed record CompatRule(string Pattern, RuleKind Kind, string Why, string? Key = null)
{
    /// <summary>The pattern split into segments (no leading empty one).</summary>
    public string[] Segments { get; } = Pattern.Length <= 1 ? [] : Pattern[1..].Split('/');
}

/// <summary>
/// The restore-compatibility rule table, the single source of what may change between checkpoint
/// and restore. Allowed to differ: root.path, mount sources, namespace paths, device numbers,
/// process.env (not applied at restore), annotations outside org.husk.*. Lists without meaningful
/// order: mount options, capability sets, namespaces (by type), devices (by path), rlimits (by type),
/// masked and read-only paths, additional gids, seccomp architectures/flags/syscall names.
/// Everything else is strict.
/// </summary>
public static class CompatibilityRules
{
    /// <summary>The message of a strict difference no group rule below explains.</summary>
    public const string DefaultWhy = "the restored container must be set up as the one that was checkpointed";

    public static IReadOnlyList<CompatRule> Table { get; } =
    [
        // ---- allowed to differ ----
        new("/root/path", RuleKind.Allowed, "the root filesystem may be at another path at restore; CRIU restores into the rootfs given there"),
        new("/mounts/*/source", RuleKind.Allowed, "a mount's source may move: CRIU maps each external mount to its source at restore"),
        new("/linux/namespaces/*/path", RuleKind.Allowed, "a namespace to join may be found at another path at restore"),
        new("/linux/devices/*/major", RuleKind.Allowed, "device numbers differ from host to host"),
        new("/linux/devices/*/minor", RuleKind.Allowed, "device numbers differ from host to host"),
        new("/linux/resources/devices/*/major", RuleKind.Allowed, "device numbers differ from host to host"),
        new("/linux/resources/devices/*/minor", RuleKind.Allowed, "device numbers differ from host to host"),
        new("/linux/resources/blockIO/*/*/major", RuleKind.Allowed, "device numbers differ from host to host"),
        new("/linux/resources/blockIO/*/*/minor", RuleKind.Allowed, "device numbers differ from host to host"),
        new("/process/env", RuleKind.Allowed, "the restored processes keep the environment they were checkpointed with; process.env is not applied at restore"),
        new("/annotations/*", RuleKind.Allowed, "annotations outside org.husk.* are information for other tools, not settings of the container"),
        new("/annotations/org.husk.*", RuleKind.Strict, "Husk's own org.husk.* annotations change how Husk sets up the container"),

        // ---- lists whose order has no meaning ----
        new("/mounts/*/options", RuleKind.Unordered, "the restored processes expect their mounts with the same options"),
        new("/process/capabilities/bounding", RuleKind.Unordered, "the restored processes keep the privileges they were checkpointed with"),
        new("/process/capabilities/effective", RuleKind.Unordered, "the restored processes keep the privileges they were checkpointed with"),
        new("/process/capabilities/inheritable", RuleKind.Unordered, "the restored processes keep the privileges they were checkpointed with"),
        new("/process/capabilities/permitted", RuleKind.Unordered, "the restored processes keep the privileges they were checkpointed with"),
        new("/process/capabilities/ambient", RuleKind.Unordered, "the restored processes keep the privileges they were checkpointed with"),
        new("/process/user/additionalGids", RuleKind.Unordered, "the restored processes run with the same user and groups"),
        new("/process/rlimits", RuleKind.Keyed, "the restored processes run with the same resource limits", Key: "type"),
        new("/linux/namespaces", RuleKind.Keyed, "the restored processes expect the same set of namespaces", Key: "type"),
        new("/linux/devices", RuleKind.Keyed, "the restored processes expect these device nodes", Key: "path"),
        new("/linux/maskedPaths", RuleKind.Unordered, "the restored processes must not see more of the host than before"),
        new("/linux/readonlyPaths", RuleKind.Unordered, "the restored processes must not be able to write more than before"),
        new("/linux/seccomp/architectures", RuleKind.Unordered, "the restored processes keep the seccomp filter they were checkpointed with"),
        new("/linux/seccomp/flags", RuleKind.Unordered, "the restored processes keep the seccomp filter they were checkpointed with"),
        new("/linux/seccomp/syscalls/*/names", RuleKind.Unordered, "the restored processes keep the seccomp filter they were checkpointed with"),

        // ---- strict groups (their Why explains every difference below them) ----
        new("/ociVersion", RuleKind.Strict, "the spec version decides how the other fields are read"),
        new("/process", RuleKind.Strict, "the restored process is the one that was checkpointed"),
        new("/process/terminal", RuleKind.Strict, "the restored processes hold the same kind of stdio (terminal or not) as when checkpointed"),
        new("/process/consoleSize", RuleKind.Strict, "the restored processes hold the same kind of stdio (terminal or not) as when checkpointed"),
        new("/process/user", RuleKind.Strict, "the restored processes run with the same user and groups"),
        new("/process/args", RuleKind.Strict, "the restored process is the program that was checkpointed"),
        new("/process/commandLine", RuleKind.Strict, "the restored process is the program that was checkpointed"),
        new("/process/cwd", RuleKind.Strict, "the restored process is the program that was checkpointed"),
        new("/process/capabilities", RuleKind.Strict, "the restored processes keep the privileges they were checkpointed with"),
        new("/process/noNewPrivileges", RuleKind.Strict, "the restored processes keep the privileges they were checkpointed with"),
        new("/process/apparmorProfile", RuleKind.Strict, "the restored processes keep their security labels"),
        new("/process/selinuxLabel", RuleKind.Strict, "the restored processes keep their security labels"),
        new("/process/oomScoreAdj", RuleKind.Strict, "the restored processes keep their scheduling and OOM settings"),
        new("/process/scheduler", RuleKind.Strict, "the restored processes keep their scheduling and OOM settings"),
        new("/process/ioPriority", RuleKind.Strict, "the restored processes keep their scheduling and OOM settings"),
        new("/process/execCPUAffinity", RuleKind.Strict, "processes exec'd into the restored container get the same CPU affinity"),
        new("/root", RuleKind.Strict, "the restored processes expect their root filesystem as writable as before"),
        new("/hostname", RuleKind.Strict, "the restored processes see this name in their UTS namespace"),
        new("/domainname", RuleKind.Strict, "the restored processes see this name in their UTS namespace"),
        new("/mounts", RuleKind.Strict, "the restored processes expect the same file system layout (destinations, types and options, in order)"),
        new("/hooks", RuleKind.Strict, "hooks are part of the container's lifecycle and run again for the restored container"),
        new("/linux", RuleKind.Strict, DefaultWhy),
        new("/linux/uidMappings", RuleKind.Strict, "the restored processes' user ids mean the same only with the same user namespace mappings"),
        new("/linux/gidMappings", RuleKind.Strict, "the restored processes' group ids mean the same only with the same user namespace mappings"),
        new("/linux/sysctl", RuleKind.Strict, "the restored processes expect this kernel setting"),
        new("/linux/resources", RuleKind.Strict, "the restored container gets the resource limits it was checkpointed with"),
        new("/linux/cgroupsPath", RuleKind.Strict, "the restored processes are put into this cgroup"),
        new("/linux/netDevices", RuleKind.Strict, "the restored processes expect these network devices"),
        new("/linux/seccomp", RuleKind.Strict, "the restored processes keep the seccomp filter they were checkpointed with"),
        new("/linux/rootfsPropagation", RuleKind.Strict, "the restored mounts propagate as before"),
        new("/linux/mountLabel", RuleKind.Strict, "the restored processes keep their security labels"),
        new("/linux/intelRdt", RuleKind.Strict, "the restored container gets the cache and memory bandwidth allocation it was checkpointed with"),
        new("/linux/memoryPolicy", RuleKind.Strict, "the restored processes keep their NUMA memory policy"),
        new("/linux/personality", RuleKind.Strict, "the restored processes keep their execution domain (personality)"),
        new("/linux/timeOffsets", RuleKind.Strict, "the restored processes expect the same clocks in their time namespace"),
    ];

    /// <summary>
    /// The rule governing <paramref name="segments"/> (unescaped JSON-pointer segments): the matching
    /// pattern with the most segments that is a prefix of the path (ties: the one with more literal
    /// characters, so "org.husk.*" beats "*"; then the first in the table);
    /// <see cref="RuleKind.Strict"/> with <see cref="DefaultWhy"/> when none matches. Returns also how
    /// many segments the rule's pattern has (a rule for a node is "exact" when that equals the path's).
    /// </summary>
    public static (CompatRule Rule, int Depth) Find(IReadOnlyList<string> segments)
    {
        CompatRule? best = null;
        int bestDepth = -1, bestLiteral = -1;
        foreach (var rule in Table)
        {
            var p = rule.Segments;
            if (p.Length > segments.Count || p.Length < bestDepth) continue;
            int literal = p.Sum(s => s.Replace("*", "").Length);
            if (p.Length == bestDepth && literal <= bestLiteral) continue;
            bool match = true;
            for (int i = 0; i < p.Length && match; i++) match = SegmentMatches(p[i], segments[i]);
            if (match) { best = rule; bestDepth = p.Length; bestLiteral = literal; }
        }
        return best is null ? (Default, 0) : (best, bestDepth);
    }

    static readonly CompatRule Default = new("", RuleKind.Strict, DefaultWhy);

    static bool SegmentMatches(string pattern, string segment)
    {
        if (pattern == "*") return true;
        if (pattern.EndsWith('*')) return segment.StartsWith(pattern[..^1], StringComparison.Ordinal);
        return pattern == segment;
    }
}
