// The OCI runtime-spec (1.2, plus the Linux fields of 1.3) configuration model.
// Class names are the Go type names of opencontainers/runtime-spec specs-go/config.go and
// property names are the Go field names; JSON names are the spec's.
//
// Absent == null == empty: every collection property is never null in memory (a null
// assignment becomes an empty collection) and is omitted from the JSON when empty.
// Non-nullable strings likewise turn null into "".
//
// Each class's Shape is its one table of JSON members (name, getter, setter, kind), in the
// order they are written; SpecJson reads and writes through it (Json/JsonShape.cs).
using Husk.Spec.Json;

namespace Husk.Spec;

/// <summary>The base configuration of a container (config.json).</summary>
public sealed class Spec
{
    public string OCIVersion { get; set => field = value ?? ""; } = "";
    public Process? Process { get; set; }
    public Root? Root { get; set; }
    public string? Hostname { get; set; }
    public string? Domainname { get; set; }
    public List<Mount> Mounts { get; set => field = value ?? []; } = [];
    public Hooks? Hooks { get; set; }
    public Dictionary<string, string> Annotations { get; set => field = value ?? []; } = [];
    public Linux? Linux { get; set; }

    public static readonly JsonShape<Spec> Shape = new(m =>
    [
        m.String("ociVersion", s => s.OCIVersion, (s, v) => s.OCIVersion = v),
        m.Value("process", s => s.Process, (s, v) => s.Process = v, Process.Shape),
        m.Value("root", s => s.Root, (s, v) => s.Root = v, Root.Shape),
        m.String("hostname", s => s.Hostname, (s, v) => s.Hostname = v),
        m.String("domainname", s => s.Domainname, (s, v) => s.Domainname = v),
        m.List("mounts", s => s.Mounts, (s, v) => s.Mounts = v, Mount.Shape),
        m.Value("hooks", s => s.Hooks, (s, v) => s.Hooks = v, Hooks.Shape),
        m.Map("annotations", s => s.Annotations, (s, v) => s.Annotations = v, JsonCodecs.String),
        m.Value("linux", s => s.Linux, (s, v) => s.Linux = v, Linux.Shape),
    ]);
}

/// <summary>Scheduling attributes of a process (sched_setattr(2)).</summary>
public sealed class Scheduler
{
    public string Policy { get; set => field = value ?? ""; } = "";
    public int Nice { get; set; }
    public int Priority { get; set; }
    public List<string> Flags { get; set => field = value ?? []; } = [];
    public ulong Runtime { get; set; }
    public ulong Deadline { get; set; }
    public ulong Period { get; set; }

    public static readonly JsonShape<Scheduler> Shape = new(m =>
    [
        m.String("policy", s => s.Policy, (s, v) => s.Policy = v),
        m.Value("nice", s => s.Nice, (s, v) => s.Nice = v, JsonCodecs.Int32, omitDefault: true),
        m.Value("priority", s => s.Priority, (s, v) => s.Priority = v, JsonCodecs.Int32, omitDefault: true),
        m.List("flags", s => s.Flags, (s, v) => s.Flags = v, JsonCodecs.String),
        m.Value("runtime", s => s.Runtime, (s, v) => s.Runtime = v, JsonCodecs.UInt64, omitDefault: true),
        m.Value("deadline", s => s.Deadline, (s, v) => s.Deadline = v, JsonCodecs.UInt64, omitDefault: true),
        m.Value("period", s => s.Period, (s, v) => s.Period = v, JsonCodecs.UInt64, omitDefault: true),
    ]);
}

/// <summary>The container process (config.json "process", also the input of `exec --process`).</summary>
public sealed class Process
{
    public bool Terminal { get; set; }
    public Box? ConsoleSize { get; set; }
    public User User { get; set => field = value ?? new(); } = new();
    public List<string> Args { get; set => field = value ?? []; } = [];
    public string? CommandLine { get; set; }
    public List<string> Env { get; set => field = value ?? []; } = [];
    public string Cwd { get; set => field = value ?? ""; } = "";
    public LinuxCapabilities? Capabilities { get; set; }
    public List<POSIXRlimit> Rlimits { get; set => field = value ?? []; } = [];
    public bool NoNewPrivileges { get; set; }
    public string? ApparmorProfile { get; set; }
    public int? OOMScoreAdj { get; set; }
    public Scheduler? Scheduler { get; set; }
    public string? SelinuxLabel { get; set; }
    public LinuxIOPriority? IOPriority { get; set; }
    public LinuxExecCPUAffinity? ExecCPUAffinity { get; set; }

    public static readonly JsonShape<Process> Shape = new(m =>
    [
        m.Value("terminal", p => p.Terminal, (p, v) => p.Terminal = v, JsonCodecs.Boolean, omitDefault: true),
        m.Value("consoleSize", p => p.ConsoleSize, (p, v) => p.ConsoleSize = v, Box.Shape),
        m.Value("user", p => p.User, (p, v) => p.User = v, User.Shape),
        m.List("args", p => p.Args, (p, v) => p.Args = v, JsonCodecs.String),
        m.String("commandLine", p => p.CommandLine, (p, v) => p.CommandLine = v),
        m.List("env", p => p.Env, (p, v) => p.Env = v, JsonCodecs.String),
        m.String("cwd", p => p.Cwd, (p, v) => p.Cwd = v),
        m.Value("capabilities", p => p.Capabilities, (p, v) => p.Capabilities = v, LinuxCapabilities.Shape),
        m.List("rlimits", p => p.Rlimits, (p, v) => p.Rlimits = v, POSIXRlimit.Shape),
        m.Value("noNewPrivileges", p => p.NoNewPrivileges, (p, v) => p.NoNewPrivileges = v, JsonCodecs.Boolean, omitDefault: true),
        m.String("apparmorProfile", p => p.ApparmorProfile, (p, v) => p.ApparmorProfile = v),
        m.Value("oomScoreAdj", p => p.OOMScoreAdj, (p, v) => p.OOMScoreAdj = v, JsonCodecs.NullableInt32),
        m.Value("scheduler", p => p.Scheduler, (p, v) => p.Scheduler = v, Scheduler.Shape),
        m.String("selinuxLabel", p => p.SelinuxLabel, (p, v) => p.SelinuxLabel = v),
        m.Value("ioPriority", p => p.IOPriority, (p, v) => p.IOPriority = v, LinuxIOPriority.Shape),
        m.Value("execCPUAffinity", p => p.ExecCPUAffinity, (p, v) => p.ExecCPUAffinity = v, LinuxExecCPUAffinity.Shape),
    ]);
}

/// <summary>CPU affinity of `exec`ed processes (runtime-spec 1.3 "execCPUAffinity"; Go type CPUAffinity).</summary>
public sealed class LinuxExecCPUAffinity
{
    public string? Initial { get; set; }
    public string? Final { get; set; }

    public static readonly JsonShape<LinuxExecCPUAffinity> Shape = new(m =>
    [
        m.String("initial", l => l.Initial, (l, v) => l.Initial = v),
        m.String("final", l => l.Final, (l, v) => l.Final = v),
    ]);
}

/// <summary>Capability sets kept for the process.</summary>
public sealed class LinuxCapabilities
{
    public List<string> Bounding { get; set => field = value ?? []; } = [];
    public List<string> Effective { get; set => field = value ?? []; } = [];
    public List<string> Inheritable { get; set => field = value ?? []; } = [];
    public List<string> Permitted { get; set => field = value ?? []; } = [];
    public List<string> Ambient { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<LinuxCapabilities> Shape = new(m =>
    [
        m.List("bounding", l => l.Bounding, (l, v) => l.Bounding = v, JsonCodecs.String),
        m.List("effective", l => l.Effective, (l, v) => l.Effective = v, JsonCodecs.String),
        m.List("inheritable", l => l.Inheritable, (l, v) => l.Inheritable = v, JsonCodecs.String),
        m.List("permitted", l => l.Permitted, (l, v) => l.Permitted = v, JsonCodecs.String),
        m.List("ambient", l => l.Ambient, (l, v) => l.Ambient = v, JsonCodecs.String),
    ]);
}

/// <summary>I/O priority of the process (ioprio_set(2)).</summary>
public sealed class LinuxIOPriority
{
    public string Class { get; set => field = value ?? ""; } = "";
    public int Priority { get; set; }

    public static readonly JsonShape<LinuxIOPriority> Shape = new(m =>
    [
        m.String("class", l => l.Class, (l, v) => l.Class = v),
        m.Value("priority", l => l.Priority, (l, v) => l.Priority = v, JsonCodecs.Int32),
    ]);
}

/// <summary>Console size.</summary>
public sealed class Box
{
    public uint Height { get; set; }
    public uint Width { get; set; }

    public static readonly JsonShape<Box> Shape = new(m =>
    [
        m.Value("height", b => b.Height, (b, v) => b.Height = v, JsonCodecs.UInt32),
        m.Value("width", b => b.Width, (b, v) => b.Width = v, JsonCodecs.UInt32),
    ]);
}

/// <summary>User and groups of the process.</summary>
public sealed class User
{
    public uint UID { get; set; }
    public uint GID { get; set; }
    public uint? Umask { get; set; }
    public List<uint> AdditionalGids { get; set => field = value ?? []; } = [];
    public string? Username { get; set; }

    public static readonly JsonShape<User> Shape = new(m =>
    [
        m.Value("uid", u => u.UID, (u, v) => u.UID = v, JsonCodecs.UInt32),
        m.Value("gid", u => u.GID, (u, v) => u.GID = v, JsonCodecs.UInt32),
        m.Value("umask", u => u.Umask, (u, v) => u.Umask = v, JsonCodecs.NullableUInt32),
        m.List("additionalGids", u => u.AdditionalGids, (u, v) => u.AdditionalGids = v, JsonCodecs.UInt32),
        m.String("username", u => u.Username, (u, v) => u.Username = v),
    ]);
}

/// <summary>The container's root filesystem.</summary>
public sealed class Root
{
    public string Path { get; set => field = value ?? ""; } = "";
    public bool Readonly { get; set; }

    public static readonly JsonShape<Root> Shape = new(m =>
    [
        m.String("path", r => r.Path, (r, v) => r.Path = v),
        m.Value("readonly", r => r.Readonly, (r, v) => r.Readonly = v, JsonCodecs.Boolean, omitDefault: true),
    ]);
}

/// <summary>A mount.</summary>
public sealed class Mount
{
    public string Destination { get; set => field = value ?? ""; } = "";
    public string? Type { get; set; }
    public string? Source { get; set; }
    public List<string> Options { get; set => field = value ?? []; } = [];
    public List<LinuxIDMapping> UIDMappings { get; set => field = value ?? []; } = [];
    public List<LinuxIDMapping> GIDMappings { get; set => field = value ?? []; } = [];

    /// <summary>A bind mount: of type "bind", or with the option "bind" or "rbind" (runc's rule).</summary>
    public bool IsBind => Type == "bind" || Options.Contains("bind") || Options.Contains("rbind");

    public static readonly JsonShape<Mount> Shape = new(m =>
    [
        m.String("destination", x => x.Destination, (x, v) => x.Destination = v),
        m.String("type", x => x.Type, (x, v) => x.Type = v),
        m.String("source", x => x.Source, (x, v) => x.Source = v),
        m.List("options", x => x.Options, (x, v) => x.Options = v, JsonCodecs.String),
        m.List("uidMappings", x => x.UIDMappings, (x, v) => x.UIDMappings = v, LinuxIDMapping.Shape),
        m.List("gidMappings", x => x.GIDMappings, (x, v) => x.GIDMappings = v, LinuxIDMapping.Shape),
    ]);
}

/// <summary>A lifecycle hook.</summary>
public sealed class Hook
{
    public string Path { get; set => field = value ?? ""; } = "";
    public List<string> Args { get; set => field = value ?? []; } = [];
    public List<string> Env { get; set => field = value ?? []; } = [];
    public int? Timeout { get; set; }

    public static readonly JsonShape<Hook> Shape = new(m =>
    [
        m.String("path", h => h.Path, (h, v) => h.Path = v),
        m.List("args", h => h.Args, (h, v) => h.Args = v, JsonCodecs.String),
        m.List("env", h => h.Env, (h, v) => h.Env = v, JsonCodecs.String),
        m.Value("timeout", h => h.Timeout, (h, v) => h.Timeout = v, JsonCodecs.NullableInt32),
    ]);
}

/// <summary>The six kinds of hooks.</summary>
public sealed class Hooks
{
    public List<Hook> Prestart { get; set => field = value ?? []; } = [];
    public List<Hook> CreateRuntime { get; set => field = value ?? []; } = [];
    public List<Hook> CreateContainer { get; set => field = value ?? []; } = [];
    public List<Hook> StartContainer { get; set => field = value ?? []; } = [];
    public List<Hook> Poststart { get; set => field = value ?? []; } = [];
    public List<Hook> Poststop { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<Hooks> Shape = new(m =>
    [
        m.List("prestart", h => h.Prestart, (h, v) => h.Prestart = v, Hook.Shape),
        m.List("createRuntime", h => h.CreateRuntime, (h, v) => h.CreateRuntime = v, Hook.Shape),
        m.List("createContainer", h => h.CreateContainer, (h, v) => h.CreateContainer = v, Hook.Shape),
        m.List("startContainer", h => h.StartContainer, (h, v) => h.StartContainer = v, Hook.Shape),
        m.List("poststart", h => h.Poststart, (h, v) => h.Poststart = v, Hook.Shape),
        m.List("poststop", h => h.Poststop, (h, v) => h.Poststop = v, Hook.Shape),
    ]);
}

/// <summary>Linux-specific configuration.</summary>
public sealed class Linux
{
    public List<LinuxIDMapping> UIDMappings { get; set => field = value ?? []; } = [];
    public List<LinuxIDMapping> GIDMappings { get; set => field = value ?? []; } = [];
    public Dictionary<string, string> Sysctl { get; set => field = value ?? []; } = [];
    public LinuxResources? Resources { get; set; }
    public string? CgroupsPath { get; set; }
    public List<LinuxNamespace> Namespaces { get; set => field = value ?? []; } = [];

    /// <summary>Whether linux.namespaces lists <paramref name="kind"/>, new or joined by path.</summary>
    public bool Has(NamespaceKind kind) => Namespaces.Exists(n => n.Kind == kind);

    /// <summary>Whether linux.namespaces asks for a new <paramref name="kind"/> namespace (no path).</summary>
    public bool HasNew(NamespaceKind kind) => Namespaces.Exists(n => n.Kind == kind && string.IsNullOrEmpty(n.Path));

    public List<LinuxDevice> Devices { get; set => field = value ?? []; } = [];
    public Dictionary<string, LinuxNetDevice> NetDevices { get; set => field = value ?? []; } = [];
    public LinuxSeccomp? Seccomp { get; set; }
    public string? RootfsPropagation { get; set; }
    public List<string> MaskedPaths { get; set => field = value ?? []; } = [];
    public List<string> ReadonlyPaths { get; set => field = value ?? []; } = [];
    public string? MountLabel { get; set; }
    public LinuxIntelRdt? IntelRdt { get; set; }
    public LinuxMemoryPolicy? MemoryPolicy { get; set; }
    public LinuxPersonality? Personality { get; set; }
    public Dictionary<string, LinuxTimeOffset> TimeOffsets { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<Linux> Shape = new(m =>
    [
        m.List("uidMappings", l => l.UIDMappings, (l, v) => l.UIDMappings = v, LinuxIDMapping.Shape),
        m.List("gidMappings", l => l.GIDMappings, (l, v) => l.GIDMappings = v, LinuxIDMapping.Shape),
        m.Map("sysctl", l => l.Sysctl, (l, v) => l.Sysctl = v, JsonCodecs.String),
        m.Value("resources", l => l.Resources, (l, v) => l.Resources = v, LinuxResources.Shape),
        m.String("cgroupsPath", l => l.CgroupsPath, (l, v) => l.CgroupsPath = v),
        m.List("namespaces", l => l.Namespaces, (l, v) => l.Namespaces = v, LinuxNamespace.Shape),
        m.List("devices", l => l.Devices, (l, v) => l.Devices = v, LinuxDevice.Shape),
        m.Map("netDevices", l => l.NetDevices, (l, v) => l.NetDevices = v, LinuxNetDevice.Shape),
        m.Value("seccomp", l => l.Seccomp, (l, v) => l.Seccomp = v, LinuxSeccomp.Shape),
        m.String("rootfsPropagation", l => l.RootfsPropagation, (l, v) => l.RootfsPropagation = v),
        m.List("maskedPaths", l => l.MaskedPaths, (l, v) => l.MaskedPaths = v, JsonCodecs.String),
        m.List("readonlyPaths", l => l.ReadonlyPaths, (l, v) => l.ReadonlyPaths = v, JsonCodecs.String),
        m.String("mountLabel", l => l.MountLabel, (l, v) => l.MountLabel = v),
        m.Value("intelRdt", l => l.IntelRdt, (l, v) => l.IntelRdt = v, LinuxIntelRdt.Shape),
        m.Value("memoryPolicy", l => l.MemoryPolicy, (l, v) => l.MemoryPolicy = v, LinuxMemoryPolicy.Shape),
        m.Value("personality", l => l.Personality, (l, v) => l.Personality = v, LinuxPersonality.Shape),
        m.Map("timeOffsets", l => l.TimeOffsets, (l, v) => l.TimeOffsets = v, LinuxTimeOffset.Shape),
    ]);
}

/// <summary>A namespace to create (no path) or join (path).</summary>
public sealed class LinuxNamespace
{
    public string Type { get; set => field = value ?? ""; } = "";
    public string? Path { get; set; }

    /// <summary>The kind <see cref="Type"/> names; null for a type that is none.</summary>
    public NamespaceKind? Kind => NamespaceKinds.Find(Type)?.Kind;

    public static readonly JsonShape<LinuxNamespace> Shape = new(m =>
    [
        m.String("type", l => l.Type, (l, v) => l.Type = v),
        m.String("path", l => l.Path, (l, v) => l.Path = v),
    ]);
}

/// <summary>A uid/gid mapping range.</summary>
public sealed class LinuxIDMapping
{
    public uint ContainerID { get; set; }
    public uint HostID { get; set; }
    public uint Size { get; set; }

    public static readonly JsonShape<LinuxIDMapping> Shape = new(m =>
    [
        m.Value("containerID", l => l.ContainerID, (l, v) => l.ContainerID = v, JsonCodecs.UInt32),
        m.Value("hostID", l => l.HostID, (l, v) => l.HostID = v, JsonCodecs.UInt32),
        m.Value("size", l => l.Size, (l, v) => l.Size = v, JsonCodecs.UInt32),
    ]);
}

/// <summary>A clock offset of the time namespace.</summary>
public sealed class LinuxTimeOffset
{
    public long Secs { get; set; }
    public uint Nanosecs { get; set; }

    public static readonly JsonShape<LinuxTimeOffset> Shape = new(m =>
    [
        m.Value("secs", l => l.Secs, (l, v) => l.Secs = v, JsonCodecs.Int64, omitDefault: true),
        m.Value("nanosecs", l => l.Nanosecs, (l, v) => l.Nanosecs = v, JsonCodecs.UInt32, omitDefault: true),
    ]);
}

/// <summary>A resource limit (setrlimit(2)).</summary>
public sealed class POSIXRlimit
{
    public string Type { get; set => field = value ?? ""; } = "";
    public ulong Hard { get; set; }
    public ulong Soft { get; set; }

    /// <summary>The one table of rlimit types: every RLIMIT_* name → its kernel resource number (prlimit's).</summary>
    public static readonly IReadOnlyDictionary<string, int> Numbers = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["RLIMIT_CPU"] = 0, ["RLIMIT_FSIZE"] = 1, ["RLIMIT_DATA"] = 2, ["RLIMIT_STACK"] = 3, ["RLIMIT_CORE"] = 4,
        ["RLIMIT_RSS"] = 5, ["RLIMIT_NPROC"] = 6, ["RLIMIT_NOFILE"] = 7, ["RLIMIT_MEMLOCK"] = 8, ["RLIMIT_AS"] = 9,
        ["RLIMIT_LOCKS"] = 10, ["RLIMIT_SIGPENDING"] = 11, ["RLIMIT_MSGQUEUE"] = 12, ["RLIMIT_NICE"] = 13,
        ["RLIMIT_RTPRIO"] = 14, ["RLIMIT_RTTIME"] = 15,
    };

    /// <summary>The kernel resource number of <see cref="Type"/>; null for a type that is none.</summary>
    public int? Resource => Numbers.TryGetValue(Type, out int n) ? n : null;

    public static readonly JsonShape<POSIXRlimit> Shape = new(m =>
    [
        m.String("type", p => p.Type, (p, v) => p.Type = v),
        m.Value("hard", p => p.Hard, (p, v) => p.Hard = v, JsonCodecs.UInt64),
        m.Value("soft", p => p.Soft, (p, v) => p.Soft = v, JsonCodecs.UInt64),
    ]);
}

/// <summary>A hugetlb limit.</summary>
public sealed class LinuxHugepageLimit
{
    public string Pagesize { get; set => field = value ?? ""; } = "";
    public ulong Limit { get; set; }

    public static readonly JsonShape<LinuxHugepageLimit> Shape = new(m =>
    [
        m.String("pageSize", l => l.Pagesize, (l, v) => l.Pagesize = v),
        m.Value("limit", l => l.Limit, (l, v) => l.Limit = v, JsonCodecs.UInt64),
    ]);
}

/// <summary>Priority of a network interface (net_prio).</summary>
public sealed class LinuxInterfacePriority
{
    public string Name { get; set => field = value ?? ""; } = "";
    public uint Priority { get; set; }

    public static readonly JsonShape<LinuxInterfacePriority> Shape = new(m =>
    [
        m.String("name", l => l.Name, (l, v) => l.Name = v),
        m.Value("priority", l => l.Priority, (l, v) => l.Priority = v, JsonCodecs.UInt32),
    ]);
}

/// <summary>A `major:minor weight` pair of the blkio controller (Go embeds LinuxBlockIODevice).</summary>
public sealed class LinuxWeightDevice
{
    public long Major { get; set; }
    public long Minor { get; set; }
    public ushort? Weight { get; set; }
    public ushort? LeafWeight { get; set; }

    public static readonly JsonShape<LinuxWeightDevice> Shape = new(m =>
    [
        m.Value("major", l => l.Major, (l, v) => l.Major = v, JsonCodecs.Int64),
        m.Value("minor", l => l.Minor, (l, v) => l.Minor = v, JsonCodecs.Int64),
        m.Value("weight", l => l.Weight, (l, v) => l.Weight = v, JsonCodecs.NullableUInt16),
        m.Value("leafWeight", l => l.LeafWeight, (l, v) => l.LeafWeight = v, JsonCodecs.NullableUInt16),
    ]);
}

/// <summary>A `major:minor rate` pair of the blkio controller (Go embeds LinuxBlockIODevice).</summary>
public sealed class LinuxThrottleDevice
{
    public long Major { get; set; }
    public long Minor { get; set; }
    public ulong Rate { get; set; }

    public static readonly JsonShape<LinuxThrottleDevice> Shape = new(m =>
    [
        m.Value("major", l => l.Major, (l, v) => l.Major = v, JsonCodecs.Int64),
        m.Value("minor", l => l.Minor, (l, v) => l.Minor = v, JsonCodecs.Int64),
        m.Value("rate", l => l.Rate, (l, v) => l.Rate = v, JsonCodecs.UInt64),
    ]);
}

/// <summary>blkio / io controller settings.</summary>
public sealed class LinuxBlockIO
{
    public ushort? Weight { get; set; }
    public ushort? LeafWeight { get; set; }
    public List<LinuxWeightDevice> WeightDevice { get; set => field = value ?? []; } = [];
    public List<LinuxThrottleDevice> ThrottleReadBpsDevice { get; set => field = value ?? []; } = [];
    public List<LinuxThrottleDevice> ThrottleWriteBpsDevice { get; set => field = value ?? []; } = [];
    public List<LinuxThrottleDevice> ThrottleReadIOPSDevice { get; set => field = value ?? []; } = [];
    public List<LinuxThrottleDevice> ThrottleWriteIOPSDevice { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<LinuxBlockIO> Shape = new(m =>
    [
        m.Value("weight", l => l.Weight, (l, v) => l.Weight = v, JsonCodecs.NullableUInt16),
        m.Value("leafWeight", l => l.LeafWeight, (l, v) => l.LeafWeight = v, JsonCodecs.NullableUInt16),
        m.List("weightDevice", l => l.WeightDevice, (l, v) => l.WeightDevice = v, LinuxWeightDevice.Shape),
        m.List("throttleReadBpsDevice", l => l.ThrottleReadBpsDevice, (l, v) => l.ThrottleReadBpsDevice = v, LinuxThrottleDevice.Shape),
        m.List("throttleWriteBpsDevice", l => l.ThrottleWriteBpsDevice, (l, v) => l.ThrottleWriteBpsDevice = v, LinuxThrottleDevice.Shape),
        m.List("throttleReadIOPSDevice", l => l.ThrottleReadIOPSDevice, (l, v) => l.ThrottleReadIOPSDevice = v, LinuxThrottleDevice.Shape),
        m.List("throttleWriteIOPSDevice", l => l.ThrottleWriteIOPSDevice, (l, v) => l.ThrottleWriteIOPSDevice = v, LinuxThrottleDevice.Shape),
    ]);
}

/// <summary>memory controller settings.</summary>
public sealed class LinuxMemory
{
    public long? Limit { get; set; }
    public long? Reservation { get; set; }
    public long? Swap { get; set; }
    public long? Kernel { get; set; }
    public long? KernelTCP { get; set; }
    public ulong? Swappiness { get; set; }
    public bool? DisableOOMKiller { get; set; }
    public bool? UseHierarchy { get; set; }
    public bool? CheckBeforeUpdate { get; set; }

    public static readonly JsonShape<LinuxMemory> Shape = new(m =>
    [
        m.Value("limit", l => l.Limit, (l, v) => l.Limit = v, JsonCodecs.NullableInt64),
        m.Value("reservation", l => l.Reservation, (l, v) => l.Reservation = v, JsonCodecs.NullableInt64),
        m.Value("swap", l => l.Swap, (l, v) => l.Swap = v, JsonCodecs.NullableInt64),
        m.Value("kernel", l => l.Kernel, (l, v) => l.Kernel = v, JsonCodecs.NullableInt64),
        m.Value("kernelTCP", l => l.KernelTCP, (l, v) => l.KernelTCP = v, JsonCodecs.NullableInt64),
        m.Value("swappiness", l => l.Swappiness, (l, v) => l.Swappiness = v, JsonCodecs.NullableUInt64),
        m.Value("disableOOMKiller", l => l.DisableOOMKiller, (l, v) => l.DisableOOMKiller = v, JsonCodecs.NullableBoolean),
        m.Value("useHierarchy", l => l.UseHierarchy, (l, v) => l.UseHierarchy = v, JsonCodecs.NullableBoolean),
        m.Value("checkBeforeUpdate", l => l.CheckBeforeUpdate, (l, v) => l.CheckBeforeUpdate = v, JsonCodecs.NullableBoolean),
    ]);
}

/// <summary>cpu / cpuset controller settings.</summary>
public sealed class LinuxCPU
{
    public ulong? Shares { get; set; }
    public long? Quota { get; set; }
    public ulong? Burst { get; set; }
    public ulong? Period { get; set; }
    public long? RealtimeRuntime { get; set; }
    public ulong? RealtimePeriod { get; set; }
    public string? Cpus { get; set; }
    public string? Mems { get; set; }
    public long? Idle { get; set; }

    public static readonly JsonShape<LinuxCPU> Shape = new(m =>
    [
        m.Value("shares", l => l.Shares, (l, v) => l.Shares = v, JsonCodecs.NullableUInt64),
        m.Value("quota", l => l.Quota, (l, v) => l.Quota = v, JsonCodecs.NullableInt64),
        m.Value("burst", l => l.Burst, (l, v) => l.Burst = v, JsonCodecs.NullableUInt64),
        m.Value("period", l => l.Period, (l, v) => l.Period = v, JsonCodecs.NullableUInt64),
        m.Value("realtimeRuntime", l => l.RealtimeRuntime, (l, v) => l.RealtimeRuntime = v, JsonCodecs.NullableInt64),
        m.Value("realtimePeriod", l => l.RealtimePeriod, (l, v) => l.RealtimePeriod = v, JsonCodecs.NullableUInt64),
        m.String("cpus", l => l.Cpus, (l, v) => l.Cpus = v),
        m.String("mems", l => l.Mems, (l, v) => l.Mems = v),
        m.Value("idle", l => l.Idle, (l, v) => l.Idle = v, JsonCodecs.NullableInt64),
    ]);
}

/// <summary>pids controller settings.</summary>
public sealed class LinuxPids
{
    public long Limit { get; set; }

    public static readonly JsonShape<LinuxPids> Shape = new(m =>
    [
        m.Value("limit", l => l.Limit, (l, v) => l.Limit = v, JsonCodecs.Int64),
    ]);
}

/// <summary>net_cls / net_prio settings.</summary>
public sealed class LinuxNetwork
{
    public uint? ClassID { get; set; }
    public List<LinuxInterfacePriority> Priorities { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<LinuxNetwork> Shape = new(m =>
    [
        m.Value("classID", l => l.ClassID, (l, v) => l.ClassID = v, JsonCodecs.NullableUInt32),
        m.List("priorities", l => l.Priorities, (l, v) => l.Priorities = v, LinuxInterfacePriority.Shape),
    ]);
}

/// <summary>rdma controller limits of one device.</summary>
public sealed class LinuxRdma
{
    public uint? HcaHandles { get; set; }
    public uint? HcaObjects { get; set; }

    public static readonly JsonShape<LinuxRdma> Shape = new(m =>
    [
        m.Value("hcaHandles", l => l.HcaHandles, (l, v) => l.HcaHandles = v, JsonCodecs.NullableUInt32),
        m.Value("hcaObjects", l => l.HcaObjects, (l, v) => l.HcaObjects = v, JsonCodecs.NullableUInt32),
    ]);
}

/// <summary>cgroup resource constraints (config.json linux.resources, also `update --r`).</summary>
public sealed class LinuxResources
{
    public List<LinuxDeviceCgroup> Devices { get; set => field = value ?? []; } = [];
    public LinuxMemory? Memory { get; set; }
    public LinuxCPU? CPU { get; set; }
    public LinuxPids? Pids { get; set; }
    public LinuxBlockIO? BlockIO { get; set; }
    public List<LinuxHugepageLimit> HugepageLimits { get; set => field = value ?? []; } = [];
    public LinuxNetwork? Network { get; set; }
    public Dictionary<string, LinuxRdma> Rdma { get; set => field = value ?? []; } = [];
    public Dictionary<string, string> Unified { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<LinuxResources> Shape = new(m =>
    [
        m.List("devices", l => l.Devices, (l, v) => l.Devices = v, LinuxDeviceCgroup.Shape),
        m.Value("memory", l => l.Memory, (l, v) => l.Memory = v, LinuxMemory.Shape),
        m.Value("cpu", l => l.CPU, (l, v) => l.CPU = v, LinuxCPU.Shape),
        m.Value("pids", l => l.Pids, (l, v) => l.Pids = v, LinuxPids.Shape),
        m.Value("blockIO", l => l.BlockIO, (l, v) => l.BlockIO = v, LinuxBlockIO.Shape),
        m.List("hugepageLimits", l => l.HugepageLimits, (l, v) => l.HugepageLimits = v, LinuxHugepageLimit.Shape),
        m.Value("network", l => l.Network, (l, v) => l.Network = v, LinuxNetwork.Shape),
        m.Map("rdma", l => l.Rdma, (l, v) => l.Rdma = v, LinuxRdma.Shape),
        m.Map("unified", l => l.Unified, (l, v) => l.Unified = v, JsonCodecs.String),
    ]);
}

/// <summary>A device node to create in the container.</summary>
public sealed class LinuxDevice
{
    public string Path { get; set => field = value ?? ""; } = "";
    public string Type { get; set => field = value ?? ""; } = "";
    public long Major { get; set; }
    public long Minor { get; set; }
    public uint? FileMode { get; set; }
    public uint? UID { get; set; }
    public uint? GID { get; set; }

    public static readonly JsonShape<LinuxDevice> Shape = new(m =>
    [
        m.String("path", l => l.Path, (l, v) => l.Path = v),
        m.String("type", l => l.Type, (l, v) => l.Type = v),
        m.Value("major", l => l.Major, (l, v) => l.Major = v, JsonCodecs.Int64),
        m.Value("minor", l => l.Minor, (l, v) => l.Minor = v, JsonCodecs.Int64),
        m.Value("fileMode", l => l.FileMode, (l, v) => l.FileMode = v, JsonCodecs.NullableUInt32),
        m.Value("uid", l => l.UID, (l, v) => l.UID = v, JsonCodecs.NullableUInt32),
        m.Value("gid", l => l.GID, (l, v) => l.GID = v, JsonCodecs.NullableUInt32),
    ]);
}

/// <summary>A network device to move into the container (runtime-spec 1.3).</summary>
public sealed class LinuxNetDevice
{
    public string? Name { get; set; }

    public static readonly JsonShape<LinuxNetDevice> Shape = new(m =>
    [
        m.String("name", l => l.Name, (l, v) => l.Name = v),
    ]);
}

/// <summary>A rule of the device cgroup.</summary>
public sealed class LinuxDeviceCgroup
{
    public bool Allow { get; set; }
    public string? Type { get; set; }
    public long? Major { get; set; }
    public long? Minor { get; set; }
    public string? Access { get; set; }

    public static readonly JsonShape<LinuxDeviceCgroup> Shape = new(m =>
    [
        m.Value("allow", l => l.Allow, (l, v) => l.Allow = v, JsonCodecs.Boolean),
        m.String("type", l => l.Type, (l, v) => l.Type = v),
        m.Value("major", l => l.Major, (l, v) => l.Major = v, JsonCodecs.NullableInt64),
        m.Value("minor", l => l.Minor, (l, v) => l.Minor = v, JsonCodecs.NullableInt64),
        m.String("access", l => l.Access, (l, v) => l.Access = v),
    ]);
}

/// <summary>personality(2) settings.</summary>
public sealed class LinuxPersonality
{
    public string Domain { get; set => field = value ?? ""; } = "";
    public List<string> Flags { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<LinuxPersonality> Shape = new(m =>
    [
        m.String("domain", l => l.Domain, (l, v) => l.Domain = v),
        m.List("flags", l => l.Flags, (l, v) => l.Flags = v, JsonCodecs.String),
    ]);
}

/// <summary>NUMA memory policy (set_mempolicy(2); runtime-spec 1.3).</summary>
public sealed class LinuxMemoryPolicy
{
    public string Mode { get; set => field = value ?? ""; } = "";
    public string Nodes { get; set => field = value ?? ""; } = "";
    public List<string> Flags { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<LinuxMemoryPolicy> Shape = new(m =>
    [
        m.String("mode", l => l.Mode, (l, v) => l.Mode = v),
        m.String("nodes", l => l.Nodes, (l, v) => l.Nodes = v),
        m.List("flags", l => l.Flags, (l, v) => l.Flags = v, JsonCodecs.String),
    ]);
}

/// <summary>A seccomp filter.</summary>
public sealed class LinuxSeccomp
{
    public string DefaultAction { get; set => field = value ?? ""; } = "";
    public uint? DefaultErrnoRet { get; set; }
    public List<string> Architectures { get; set => field = value ?? []; } = [];
    public List<string> Flags { get; set => field = value ?? []; } = [];
    public string? ListenerPath { get; set; }
    public string? ListenerMetadata { get; set; }
    public List<LinuxSyscall> Syscalls { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<LinuxSeccomp> Shape = new(m =>
    [
        m.String("defaultAction", l => l.DefaultAction, (l, v) => l.DefaultAction = v),
        m.Value("defaultErrnoRet", l => l.DefaultErrnoRet, (l, v) => l.DefaultErrnoRet = v, JsonCodecs.NullableUInt32),
        m.List("architectures", l => l.Architectures, (l, v) => l.Architectures = v, JsonCodecs.String),
        m.List("flags", l => l.Flags, (l, v) => l.Flags = v, JsonCodecs.String),
        m.String("listenerPath", l => l.ListenerPath, (l, v) => l.ListenerPath = v),
        m.String("listenerMetadata", l => l.ListenerMetadata, (l, v) => l.ListenerMetadata = v),
        m.List("syscalls", l => l.Syscalls, (l, v) => l.Syscalls = v, LinuxSyscall.Shape),
    ]);
}

/// <summary>A seccomp argument comparison.</summary>
public sealed class LinuxSeccompArg
{
    public uint Index { get; set; }
    public ulong Value { get; set; }
    public ulong ValueTwo { get; set; }
    public string Op { get; set => field = value ?? ""; } = "";

    public static readonly JsonShape<LinuxSeccompArg> Shape = new(m =>
    [
        m.Value("index", l => l.Index, (l, v) => l.Index = v, JsonCodecs.UInt32),
        m.Value("value", l => l.Value, (l, v) => l.Value = v, JsonCodecs.UInt64),
        m.Value("valueTwo", l => l.ValueTwo, (l, v) => l.ValueTwo = v, JsonCodecs.UInt64, omitDefault: true),
        m.String("op", l => l.Op, (l, v) => l.Op = v),
    ]);
}

/// <summary>A seccomp rule for a set of syscalls.</summary>
public sealed class LinuxSyscall
{
    public List<string> Names { get; set => field = value ?? []; } = [];
    public string Action { get; set => field = value ?? ""; } = "";
    public uint? ErrnoRet { get; set; }
    public List<LinuxSeccompArg> Args { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<LinuxSyscall> Shape = new(m =>
    [
        m.List("names", l => l.Names, (l, v) => l.Names = v, JsonCodecs.String),
        m.String("action", l => l.Action, (l, v) => l.Action = v),
        m.Value("errnoRet", l => l.ErrnoRet, (l, v) => l.ErrnoRet = v, JsonCodecs.NullableUInt32),
        m.List("args", l => l.Args, (l, v) => l.Args = v, LinuxSeccompArg.Shape),
    ]);
}

/// <summary>Intel RDT (resctrl) settings.</summary>
public sealed class LinuxIntelRdt
{
    public string? ClosID { get; set; }
    public string? L3CacheSchema { get; set; }
    public string? MemBwSchema { get; set; }
    public bool EnableCMT { get; set; }
    public bool EnableMBM { get; set; }

    public static readonly JsonShape<LinuxIntelRdt> Shape = new(m =>
    [
        m.String("closID", l => l.ClosID, (l, v) => l.ClosID = v),
        m.String("l3CacheSchema", l => l.L3CacheSchema, (l, v) => l.L3CacheSchema = v),
        m.String("memBwSchema", l => l.MemBwSchema, (l, v) => l.MemBwSchema = v),
        m.Value("enableCMT", l => l.EnableCMT, (l, v) => l.EnableCMT = v, JsonCodecs.Boolean, omitDefault: true),
        m.Value("enableMBM", l => l.EnableMBM, (l, v) => l.EnableMBM = v, JsonCodecs.Boolean, omitDefault: true),
    ]);
}
