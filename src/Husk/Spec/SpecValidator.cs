using System.Globalization;

namespace Husk.Spec;

/// <summary>One problem in a spec: the JSON pointer of the offending value and what is wrong.</summary>
public sealed record SpecError(string Path, string Message)
{
    public override string ToString() => $"{Path}: {Message}";
}

/// <summary>
/// Checks what runtime-spec 1.2 (config.md, config-linux.md) says MUST hold on Linux, plus the
/// coherence rules runc enforces (sysctl vs namespaces, user namespace vs mappings, ...).
/// Absent, null and empty collections are the same thing here (the model cannot tell them apart).
/// </summary>
public static class SpecValidator
{

    /// <summary>RLIMIT_* name → resource number (asm-generic/resource.h; x86, arm, riscv).</summary>
    public static readonly IReadOnlyList<string> SeccompActions =
    [
        "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
    ];

    public static readonly IReadOnlyList<string> SeccompOperators =
        ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];

    public static readonly IReadOnlyList<string> SeccompArchitectures =
    [
        "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
    ];

    public static readonly IReadOnlyList<string> SeccompFlags =
    [
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ];

    public static readonly IReadOnlyList<string> RootfsPropagations =
        ["shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable"];

    public static readonly IReadOnlyList<string> SchedulerPolicies =
        ["SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE"];

    public static readonly IReadOnlyList<string> SchedulerFlags =
    [
        "SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_KEEP_POLICY",
        "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MAX",
    ];

    public static readonly IReadOnlyList<string> IOPriorityClasses = ["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"];

    public static readonly IReadOnlyList<string> MemoryPolicyModes =
    [
        "MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED",
        "MPOL_PREFERRED_MANY", "MPOL_LOCAL",
    ];

    public static readonly IReadOnlyList<string> MemoryPolicyFlags = ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"];

    /// <summary>Sysctls that live in the IPC namespace besides fs.mqueue.* (as runc).</summary>
    private static readonly HashSet<string> IpcSysctls =
        ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];

    /// <summary>
    /// Validates <paramref name="spec"/>. <paramref name="bundleDir"/> resolves a relative root.path;
    /// when it is null or empty the root filesystem's existence is not checked.
    /// </summary>
    public static IReadOnlyList<SpecError> Validate(Spec spec, string? bundleDir)
    {
        var v = new Checker();
        v.Run(spec, bundleDir);
        return v.Errors;
    }

    private static string Esc(string token) => ErrorText.EscapePointer(token);
    private static string Q(string s) => ErrorText.Quote(s);
    private static string I(int i) => i.ToString(CultureInfo.InvariantCulture);

    private sealed class Checker
    {
        public readonly List<SpecError> Errors = [];
        private void Err(string path, string msg) => Errors.Add(new SpecError(path, msg));

        private void Abs(string path, string? value, string what = "path")
        {
            if (string.IsNullOrEmpty(value)) Err(path, $"must be set (an absolute {what})");
            else if (value[0] != '/') Err(path, $"must be an absolute {what}, got {Q(value)}");
            else if (value.Contains('\0')) Err(path, $"must not contain a NUL byte");
        }

        public void Run(Spec s, string? bundleDir)
        {
            // ociVersion
            if (string.IsNullOrEmpty(s.OCIVersion)) Err("/ociVersion", "must be set");
            else if (!IsSupportedVersion(s.OCIVersion))
                Err("/ociVersion", $"unsupported version {Q(s.OCIVersion)} (Husk supports 1.x)");

            // root
            if (s.Root is null) Err("/root", "must be set");
            else if (string.IsNullOrEmpty(s.Root.Path)) Err("/root/path", "must be set");
            else if (!string.IsNullOrEmpty(bundleDir))
            {
                var p = System.IO.Path.IsPathRooted(s.Root.Path) ? s.Root.Path : System.IO.Path.Combine(bundleDir, s.Root.Path);
                if (!Directory.Exists(p)) Err("/root/path", $"root filesystem {Q(p)} does not exist or is not a directory");
            }

            bool Has(NamespaceKind kind) => s.Linux?.Has(kind) == true;

            // Without a mount namespace of its own the init would bind, pivot_root and remount in the
            // runtime's (the host's) mount namespace: every container needs one, new or joined.
            if (!Has(NamespaceKind.Mount))
                Err("/linux/namespaces", "a container needs a mount namespace (add {\"type\":\"mount\"}); without one its root, mounts, maskedPaths and readonlyPaths would change the host's");

            if (s.Process is null) Err("/process", "must be set");
            else CheckProcess(s.Process, s);

            if (!string.IsNullOrEmpty(s.Hostname) && !Has(NamespaceKind.Uts))
                Err("/hostname", "setting the hostname needs a new UTS namespace (add {\"type\":\"uts\"} to /linux/namespaces)");
            if (!string.IsNullOrEmpty(s.Domainname) && !Has(NamespaceKind.Uts))
                Err("/domainname", "setting the domainname needs a new UTS namespace (add {\"type\":\"uts\"} to /linux/namespaces)");

            for (int i = 0; i < s.Mounts.Count; i++) CheckMount(s.Mounts[i], $"/mounts/{I(i)}");

            if (s.Hooks is { } h)
            {
                CheckHooks(h.Prestart, "/hooks/prestart");
                CheckHooks(h.CreateRuntime, "/hooks/createRuntime");
                CheckHooks(h.CreateContainer, "/hooks/createContainer");
                CheckHooks(h.StartContainer, "/hooks/startContainer");
                CheckHooks(h.Poststart, "/hooks/poststart");
                CheckHooks(h.Poststop, "/hooks/poststop");
            }

            foreach (var (k, _) in s.Annotations)
                if (k.Length == 0) Err("/annotations/", "annotation keys must not be empty");

            if (s.Linux is { } l) CheckLinux(l, s);
        }

        private static bool IsSupportedVersion(string v)
        {
            // 1.MINOR.PATCH[-pre][+build]; runc also accepts 1.0.0-rc*. Require a 1.x semver.
            var core = v.Split('+')[0].Split('-')[0];
            var parts = core.Split('.');
            return parts.Length == 3 && parts[0] == "1" && parts.All(p => p.Length > 0 && p.All(char.IsAsciiDigit));
        }

        public void CheckProcess(Process p, Spec s)
        {
            if (p.Args.Count == 0 || string.IsNullOrEmpty(p.Args[0]))
                Err("/process/args", "must be a non-empty array of strings");
            for (int i = 0; i < p.Args.Count; i++)
                if (p.Args[i].Contains('\0')) Err($"/process/args/{I(i)}", "must not contain a NUL byte");
            if (string.IsNullOrEmpty(p.Cwd)) Err("/process/cwd", "must be set (an absolute path)");
            else Abs("/process/cwd", p.Cwd);
            for (int i = 0; i < p.Env.Count; i++)
            {
                var e = p.Env[i];
                int eq = e.IndexOf('=');
                string name = eq < 0 ? e : e[..eq];
                if (name.Length == 0) Err($"/process/env/{I(i)}", $"environment variable name must not be empty, got {Q(e)}");
                else if (e.Contains('\0')) Err($"/process/env/{I(i)}", "must not contain a NUL byte");
            }
            if (p.User.Umask is uint um && um > 0x1FF) // 0777
                Err("/process/user/umask", $"must be at most 0777 (511), got {um}");
            if (p.Capabilities is { } c)
            {
                CheckCaps(c.Bounding, "/process/capabilities/bounding");
                CheckCaps(c.Effective, "/process/capabilities/effective");
                CheckCaps(c.Inheritable, "/process/capabilities/inheritable");
                CheckCaps(c.Permitted, "/process/capabilities/permitted");
                CheckCaps(c.Ambient, "/process/capabilities/ambient");
            }
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < p.Rlimits.Count; i++)
            {
                var r = p.Rlimits[i];
                string path = $"/process/rlimits/{I(i)}";
                if (r.Resource is null) Err($"{path}/type", $"unknown rlimit type {Q(r.Type)} (expected RLIMIT_*)");
                else if (seen.TryGetValue(r.Type, out int first)) Err($"{path}/type", $"duplicate rlimit {Q(r.Type)} (also at /process/rlimits/{I(first)})");
                else seen[r.Type] = i;
                if (r.Soft > r.Hard) Err($"{path}/soft", $"soft limit {r.Soft} is above the hard limit {r.Hard}");
            }
            if (p.OOMScoreAdj is int o && (o < -1000 || o > 1000))
                Err("/process/oomScoreAdj", $"must be between -1000 and 1000, got {o}");
            if (p.Scheduler is { } sc)
            {
                if (!SchedulerPolicies.Contains(sc.Policy)) Err("/process/scheduler/policy", $"unknown scheduling policy {Q(sc.Policy)}");
                if (sc.Nice < -20 || sc.Nice > 19) Err("/process/scheduler/nice", $"must be between -20 and 19, got {sc.Nice}");
                if (sc.Policy is "SCHED_FIFO" or "SCHED_RR" ? sc.Priority is < 1 or > 99 : sc.Priority != 0)
                    Err("/process/scheduler/priority", sc.Policy is "SCHED_FIFO" or "SCHED_RR"
                        ? $"must be between 1 and 99 for {sc.Policy}, got {sc.Priority}"
                        : $"must be 0 for {(sc.Policy.Length == 0 ? "this policy" : sc.Policy)}, got {sc.Priority}");
                if (sc.Policy != "SCHED_DEADLINE" && (sc.Runtime != 0 || sc.Deadline != 0 || sc.Period != 0))
                    Err("/process/scheduler", "runtime, deadline and period are only valid with SCHED_DEADLINE");
                for (int i = 0; i < sc.Flags.Count; i++)
                    if (!SchedulerFlags.Contains(sc.Flags[i])) Err($"/process/scheduler/flags/{I(i)}", $"unknown scheduler flag {Q(sc.Flags[i])}");
            }
            if (p.IOPriority is { } io)
            {
                if (!IOPriorityClasses.Contains(io.Class)) Err("/process/ioPriority/class", $"unknown I/O priority class {Q(io.Class)}");
                if (io.Priority is < 0 or > 7) Err("/process/ioPriority/priority", $"must be between 0 and 7, got {io.Priority}");
            }
            if (p.ExecCPUAffinity is { } aff)
            {
                if (aff.Initial is { Length: > 0 } ini && !IsCpuList(ini)) Err("/process/execCPUAffinity/initial", $"invalid CPU list {Q(ini)}");
                if (aff.Final is { Length: > 0 } fin && !IsCpuList(fin)) Err("/process/execCPUAffinity/final", $"invalid CPU list {Q(fin)}");
            }
            if (p.ConsoleSize is not null && !p.Terminal)
                Err("/process/consoleSize", "only valid with \"terminal\": true");
        }

        private void CheckCaps(List<string> caps, string path)
        {
            for (int i = 0; i < caps.Count; i++)
                if (!Capabilities.All.ContainsKey(caps[i])) Err($"{path}/{I(i)}", $"unknown capability {Q(caps[i])}");
        }

        private void CheckMount(Mount m, string path)
        {
            Abs($"{path}/destination", m.Destination);
            var o = m.Options;
            bool bind = m.IsBind;
            if (bind && string.IsNullOrEmpty(m.Source)) Err($"{path}/source", "a bind mount needs a source");
            if (!bind && string.IsNullOrEmpty(m.Type) && string.IsNullOrEmpty(m.Source))
                Err($"{path}/type", "must be set for a mount that is not a bind mount");
            bool idmapOpt = o.Contains("idmap") || o.Contains("ridmap");
            bool hasMaps = m.UIDMappings.Count > 0 || m.GIDMappings.Count > 0;
            if (hasMaps && (m.UIDMappings.Count == 0 || m.GIDMappings.Count == 0))
                Err(m.UIDMappings.Count == 0 ? $"{path}/uidMappings" : $"{path}/gidMappings",
                    "an id-mapped mount needs both uidMappings and gidMappings");
            if ((hasMaps || idmapOpt) && !bind)
                Err($"{path}/options", "id-mapped mounts are only supported for bind mounts");
            CheckMappings(m.UIDMappings, $"{path}/uidMappings");
            CheckMappings(m.GIDMappings, $"{path}/gidMappings");
        }

        private void CheckMappings(List<LinuxIDMapping> maps, string path)
        {
            for (int i = 0; i < maps.Count; i++)
            {
                var m = maps[i];
                if (m.Size == 0) Err($"{path}/{I(i)}/size", "must be greater than 0");
                else if ((ulong)m.ContainerID + m.Size > 1UL << 32 || (ulong)m.HostID + m.Size > 1UL << 32)
                    Err($"{path}/{I(i)}/size", "the range goes beyond 4294967295");
            }
        }

        private void CheckHooks(List<Hook> hooks, string path)
        {
            for (int i = 0; i < hooks.Count; i++)
            {
                var h = hooks[i];
                Abs($"{path}/{I(i)}/path", h.Path);
                if (h.Timeout is int t && t <= 0) Err($"{path}/{I(i)}/timeout", $"must be greater than 0, got {t}");
            }
        }

        private static bool Mapped(List<LinuxIDMapping> maps, uint id) =>
            maps.Any(m => id >= m.ContainerID && (ulong)id < (ulong)m.ContainerID + m.Size);

        private void CheckLinux(Linux l, Spec s)
        {
            // namespaces
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < l.Namespaces.Count; i++)
            {
                var n = l.Namespaces[i];
                string path = $"/linux/namespaces/{I(i)}";
                if (n.Kind is null) Err($"{path}/type", $"unknown namespace type {Q(n.Type)}");
                else if (seen.TryGetValue(n.Type, out int first)) Err($"{path}/type", $"duplicate namespace {Q(n.Type)} (also at /linux/namespaces/{I(first)})");
                else seen[n.Type] = i;
                if (!string.IsNullOrEmpty(n.Path)) Abs($"{path}/path", n.Path);
            }

            // user namespace and mappings
            bool hasMaps = l.UIDMappings.Count > 0 || l.GIDMappings.Count > 0;
            if (l.Has(NamespaceKind.User))
            {
                if (l.HasNew(NamespaceKind.User) && !hasMaps)
                    Err("/linux/uidMappings", "a new user namespace needs uidMappings and gidMappings (or a namespace path to join)");
                else if (l.HasNew(NamespaceKind.User) && (l.UIDMappings.Count == 0 || l.GIDMappings.Count == 0))
                    Err(l.UIDMappings.Count == 0 ? "/linux/uidMappings" : "/linux/gidMappings", "a new user namespace needs both uidMappings and gidMappings");
                if (l.HasNew(NamespaceKind.User) && s.Process is { } p)
                {
                    if (l.UIDMappings.Count > 0 && !Mapped(l.UIDMappings, p.User.UID))
                        Err("/process/user/uid", $"uid {p.User.UID} is not mapped by /linux/uidMappings");
                    if (l.GIDMappings.Count > 0 && !Mapped(l.GIDMappings, p.User.GID))
                        Err("/process/user/gid", $"gid {p.User.GID} is not mapped by /linux/gidMappings");
                }
            }
            else if (hasMaps)
                Err(l.UIDMappings.Count > 0 ? "/linux/uidMappings" : "/linux/gidMappings",
                    "uid/gid mappings need a user namespace (add {\"type\":\"user\"} to /linux/namespaces)");
            CheckMappings(l.UIDMappings, "/linux/uidMappings");
            CheckMappings(l.GIDMappings, "/linux/gidMappings");

            // time namespace offsets
            if (l.TimeOffsets.Count > 0)
            {
                if (!l.Has(NamespaceKind.Time)) Err("/linux/timeOffsets", "time offsets need a time namespace (add {\"type\":\"time\"} to /linux/namespaces)");
                else if (!l.HasNew(NamespaceKind.Time)) Err("/linux/timeOffsets", "time offsets cannot be set when joining an existing time namespace");
                foreach (var (clock, off) in l.TimeOffsets)
                {
                    if (clock is not ("monotonic" or "boottime"))
                        Err($"/linux/timeOffsets/{Esc(clock)}", $"unknown clock {Q(clock)} (expected \"monotonic\" or \"boottime\")");
                    if (off.Nanosecs >= 1_000_000_000)
                        Err($"/linux/timeOffsets/{Esc(clock)}/nanosecs", $"must be below 1000000000, got {off.Nanosecs}");
                }
            }

            // sysctl
            foreach (var (key, _) in l.Sysctl)
            {
                string path = $"/linux/sysctl/{Esc(key)}";
                string k = key.Replace('/', '.');
                if (IpcSysctls.Contains(k) || k.StartsWith("fs.mqueue.", StringComparison.Ordinal))
                {
                    if (!l.Has(NamespaceKind.Ipc)) Err(path, "needs a new IPC namespace (it would change the host's)");
                    continue;
                }
                if (k.StartsWith("net.", StringComparison.Ordinal))
                {
                    if (!l.Has(NamespaceKind.Network)) Err(path, "needs a new network namespace (it would change the host's)");
                    continue;
                }
                if (k == "kernel.hostname")
                {
                    Err(path, "is not allowed; use /hostname instead");
                    continue;
                }
                if (k == "kernel.domainname")
                {
                    if (!l.Has(NamespaceKind.Uts)) Err(path, "needs a new UTS namespace (it would change the host's)");
                    continue;
                }
                Err(path, "is not namespaced (it would change the host's); only fs.mqueue.*, kernel.msg*/sem/shm*, net.* and kernel.domainname are allowed");
            }

            // devices
            for (int i = 0; i < l.Devices.Count; i++)
            {
                var d = l.Devices[i];
                string path = $"/linux/devices/{I(i)}";
                Abs($"{path}/path", d.Path);
                if (d.Type is not ("c" or "b" or "u" or "p")) Err($"{path}/type", $"unknown device type {Q(d.Type)} (expected c, b, u or p)");
                // A fifo (p) needs no major and minor; values given are ignored (runtime spec).
                if (d.Type == "p") continue;
                if (d.Major < 0) Err($"{path}/major", $"must not be negative, got {d.Major}");
                if (d.Minor < 0) Err($"{path}/minor", $"must not be negative, got {d.Minor}");
            }

            if (!string.IsNullOrEmpty(l.RootfsPropagation) && !RootfsPropagations.Contains(l.RootfsPropagation))
                Err("/linux/rootfsPropagation", $"unknown propagation {Q(l.RootfsPropagation)} (expected one of {string.Join(", ", RootfsPropagations)})");

            if (l.CgroupsPath is { Length: > 0 } cg)
            {
                if (cg.Contains('\0')) Err("/linux/cgroupsPath", "must not contain a NUL byte");
                else if (cg.Split('/').Contains("..")) Err("/linux/cgroupsPath", $"must not contain \"..\", got {Q(cg)}");
            }

            for (int i = 0; i < l.MaskedPaths.Count; i++) Abs($"/linux/maskedPaths/{I(i)}", l.MaskedPaths[i]);
            for (int i = 0; i < l.ReadonlyPaths.Count; i++) Abs($"/linux/readonlyPaths/{I(i)}", l.ReadonlyPaths[i]);

            if (l.Personality is { } pers)
            {
                if (pers.Domain is not ("LINUX" or "LINUX32")) Err("/linux/personality/domain", $"unknown personality domain {Q(pers.Domain)} (expected \"LINUX\" or \"LINUX32\")");
                for (int i = 0; i < pers.Flags.Count; i++) Err($"/linux/personality/flags/{I(i)}", $"unknown personality flag {Q(pers.Flags[i])}");
            }

            if (l.Seccomp is { } sec) CheckSeccomp(sec);
            if (l.Resources is { } res) CheckResources(res, "/linux/resources");

            if (l.IntelRdt is { ClosID: { Length: > 0 } clos } && (clos is "." or ".." || clos.Contains('/') || clos.Contains('\n')))
                Err("/linux/intelRdt/closID", $"invalid CLOS id {Q(clos)}");

            if (l.MemoryPolicy is { } mp)
            {
                if (!MemoryPolicyModes.Contains(mp.Mode)) Err("/linux/memoryPolicy/mode", $"unknown memory policy mode {Q(mp.Mode)}");
                for (int i = 0; i < mp.Flags.Count; i++)
                    if (!MemoryPolicyFlags.Contains(mp.Flags[i])) Err($"/linux/memoryPolicy/flags/{I(i)}", $"unknown memory policy flag {Q(mp.Flags[i])}");
            }

            if (l.NetDevices.Count > 0 && !l.Has(NamespaceKind.Network))
                Err("/linux/netDevices", "moving network devices needs a network namespace");
            foreach (var (name, dev) in l.NetDevices)
            {
                if (!IsIfName(name)) Err($"/linux/netDevices/{Esc(name)}", $"invalid interface name {Q(name)}");
                if (dev.Name is { Length: > 0 } nn && !IsIfName(nn)) Err($"/linux/netDevices/{Esc(name)}/name", $"invalid interface name {Q(nn)}");
            }
        }

        private static bool IsIfName(string n) =>
            n.Length is > 0 and < 16 && n is not ("." or "..") && !n.Any(c => c == '/' || c == ':' || char.IsWhiteSpace(c) || c == '\0');

        private void CheckSeccomp(LinuxSeccomp sec)
        {
            const string p = "/linux/seccomp";
            bool notify = false;
            if (!SeccompActions.Contains(sec.DefaultAction)) Err($"{p}/defaultAction", $"unknown seccomp action {Q(sec.DefaultAction)}");
            else if (sec.DefaultAction == "SCMP_ACT_NOTIFY") Err($"{p}/defaultAction", "SCMP_ACT_NOTIFY cannot be the default action");
            if (sec.DefaultErrnoRet is not null && sec.DefaultAction is not ("SCMP_ACT_ERRNO" or "SCMP_ACT_TRACE"))
                Err($"{p}/defaultErrnoRet", "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
            for (int i = 0; i < sec.Architectures.Count; i++)
                if (!SeccompArchitectures.Contains(sec.Architectures[i])) Err($"{p}/architectures/{I(i)}", $"unknown architecture {Q(sec.Architectures[i])}");
            for (int i = 0; i < sec.Flags.Count; i++)
                if (!SeccompFlags.Contains(sec.Flags[i])) Err($"{p}/flags/{I(i)}", $"unknown seccomp flag {Q(sec.Flags[i])}");
            for (int i = 0; i < sec.Syscalls.Count; i++)
            {
                var sc = sec.Syscalls[i];
                string sp = $"{p}/syscalls/{I(i)}";
                if (sc.Names.Count == 0) Err($"{sp}/names", "must be a non-empty array of syscall names");
                for (int j = 0; j < sc.Names.Count; j++)
                    if (sc.Names[j].Length == 0) Err($"{sp}/names/{I(j)}", "must not be empty");
                if (!SeccompActions.Contains(sc.Action)) Err($"{sp}/action", $"unknown seccomp action {Q(sc.Action)}");
                notify |= sc.Action == "SCMP_ACT_NOTIFY";
                if (sc.ErrnoRet is not null && sc.Action is not ("SCMP_ACT_ERRNO" or "SCMP_ACT_TRACE"))
                    Err($"{sp}/errnoRet", "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
                for (int j = 0; j < sc.Args.Count; j++)
                {
                    var a = sc.Args[j];
                    if (a.Index > 5) Err($"{sp}/args/{I(j)}/index", $"must be between 0 and 5, got {a.Index}");
                    if (!SeccompOperators.Contains(a.Op)) Err($"{sp}/args/{I(j)}/op", $"unknown seccomp operator {Q(a.Op)}");
                }
            }
            if (notify && string.IsNullOrEmpty(sec.ListenerPath))
                Err($"{p}/listenerPath", "must be set when SCMP_ACT_NOTIFY is used");
            if (!string.IsNullOrEmpty(sec.ListenerPath)) Abs($"{p}/listenerPath", sec.ListenerPath);
        }

        /// <summary>Resource checks (also used for `update`).</summary>
        public void CheckResources(LinuxResources r, string p)
        {
            for (int i = 0; i < r.Devices.Count; i++)
            {
                var d = r.Devices[i];
                if (d.Type is { Length: > 0 } t && t is not ("a" or "c" or "b"))
                    Err($"{p}/devices/{I(i)}/type", $"unknown device type {Q(t)} (expected a, c or b)");
            }
            if (r.Memory is { } m)
            {
                if (m.Swappiness is ulong sw && sw > 100) Err($"{p}/memory/swappiness", $"must be between 0 and 100, got {sw}");
                if (m.Limit is long lim && lim > 0 && m.Swap is long swap && swap > 0 && swap < lim)
                    Err($"{p}/memory/swap", $"memory+swap limit {swap} must not be below the memory limit {lim}");
            }
            if (r.CPU is { } c)
            {
                if (c.Cpus is { Length: > 0 } cpus && !IsCpuList(cpus)) Err($"{p}/cpu/cpus", $"invalid CPU list {Q(cpus)}");
                if (c.Mems is { Length: > 0 } mems && !IsCpuList(mems)) Err($"{p}/cpu/mems", $"invalid memory node list {Q(mems)}");
                if (c.Idle is long idle && idle is not (0 or 1)) Err($"{p}/cpu/idle", $"must be 0 or 1, got {idle}");
            }
            if (r.BlockIO is { } b)
            {
                if (b.Weight is ushort w && w is not 0 && (w < 10 || w > 1000)) Err($"{p}/blockIO/weight", $"must be between 10 and 1000, got {w}");
                if (b.LeafWeight is ushort lw && lw is not 0 && (lw < 10 || lw > 1000)) Err($"{p}/blockIO/leafWeight", $"must be between 10 and 1000, got {lw}");
            }
            for (int i = 0; i < r.HugepageLimits.Count; i++)
                if (!IsPageSize(r.HugepageLimits[i].Pagesize))
                    Err($"{p}/hugepageLimits/{I(i)}/pageSize", $"invalid page size {Q(r.HugepageLimits[i].Pagesize)} (expected like \"2MB\" or \"1GB\")");
            foreach (var (key, _) in r.Unified)
                if (key.Length == 0 || key.Contains('/') || key is "." or ".." || !key.Contains('.'))
                    Err($"{p}/unified/{Esc(key)}", $"invalid cgroup v2 file name {Q(key)}");
        }

        private static bool IsPageSize(string s)
        {
            int i = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
            return i > 0 && s[i..] is "KB" or "MB" or "GB" or "TB" or "PB" or "kB";
        }
    }

    /// <summary>True for a cpuset list such as "0-3,5,7-8".</summary>
    public static bool IsCpuList(string s)
    {
        foreach (var part in s.Split(','))
        {
            var r = part.Trim().Split('-');
            if (r.Length is < 1 or > 2) return false;
            foreach (var n in r)
                if (n.Length == 0 || !n.All(char.IsAsciiDigit)) return false;
            if (r.Length == 2 && long.Parse(r[0], CultureInfo.InvariantCulture) > long.Parse(r[1], CultureInfo.InvariantCulture)) return false;
        }
        return true;
    }

    /// <summary>Validates a process on its own (`exec --process`), with pointers under /process as in config.json.</summary>
    public static IReadOnlyList<SpecError> ValidateProcess(Process process)
    {
        var v = new Checker();
        v.CheckProcess(process, new Spec { Process = process });
        return v.Errors;
    }

    /// <summary>Validates a resources document on its own (`update -r`), with pointers under <paramref name="pathPrefix"/>.</summary>
    public static IReadOnlyList<SpecError> ValidateResources(LinuxResources resources, string pathPrefix = "")
    {
        var v = new Checker();
        v.CheckResources(resources, pathPrefix);
        return v.Errors;
    }
}
