// The OCI runtime-spec (1.2, plus the Linux fields of 1.3) configuration model.
// Class names are the Go type names of opencontainers/runtime-spec specs-go/config.go and
// property names are the Go field names; JSON names are the spec's.
//
// Absent == null == empty: every collection property is never null in memory (a null
// assignment becomes an empty collection) and is omitted from the JSON when empty
// (SpecJson's options do that). Non-nullable strings likewise turn null into "".
using System.Text.Json.Serialization;

namespace Husk.Spec;

/// <summary>The base configuration of a container (config.json).</summary>
public sealed class Spec
{
    [JsonPropertyName("ociVersion")] public string OCIVersion { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("process")] public Process? Process { get; set; }
    [JsonPropertyName("root")] public Root? Root { get; set; }
    [JsonPropertyName("hostname")] public string? Hostname { get; set; }
    [JsonPropertyName("domainname")] public string? Domainname { get; set; }
    [JsonPropertyName("mounts")] public List<Mount> Mounts { get; set => field = value ?? []; } = [];
    [JsonPropertyName("hooks")] public Hooks? Hooks { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string> Annotations { get; set => field = value ?? []; } = [];
    [JsonPropertyName("linux")] public Linux? Linux { get; set; }
}

/// <summary>Scheduling attributes of a process (sched_setattr(2)).</summary>
public sealed class Scheduler
{
    [JsonPropertyName("policy")] public string Policy { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("nice"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Nice { get; set; }
    [JsonPropertyName("priority"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Priority { get; set; }
    [JsonPropertyName("flags")] public List<string> Flags { get; set => field = value ?? []; } = [];
    [JsonPropertyName("runtime"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public ulong Runtime { get; set; }
    [JsonPropertyName("deadline"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public ulong Deadline { get; set; }
    [JsonPropertyName("period"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public ulong Period { get; set; }
}

/// <summary>The container process (config.json "process", also the input of `exec --process`).</summary>
public sealed class Process
{
    [JsonPropertyName("terminal"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool Terminal { get; set; }
    [JsonPropertyName("consoleSize")] public Box? ConsoleSize { get; set; }
    [JsonPropertyName("user")] public User User { get; set => field = value ?? new(); } = new();
    [JsonPropertyName("args")] public List<string> Args { get; set => field = value ?? []; } = [];
    [JsonPropertyName("commandLine")] public string? CommandLine { get; set; }
    [JsonPropertyName("env")] public List<string> Env { get; set => field = value ?? []; } = [];
    [JsonPropertyName("cwd")] public string Cwd { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("capabilities")] public LinuxCapabilities? Capabilities { get; set; }
    [JsonPropertyName("rlimits")] public List<POSIXRlimit> Rlimits { get; set => field = value ?? []; } = [];
    [JsonPropertyName("noNewPrivileges"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool NoNewPrivileges { get; set; }
    [JsonPropertyName("apparmorProfile")] public string? ApparmorProfile { get; set; }
    [JsonPropertyName("oomScoreAdj")] public int? OOMScoreAdj { get; set; }
    [JsonPropertyName("scheduler")] public Scheduler? Scheduler { get; set; }
    [JsonPropertyName("selinuxLabel")] public string? SelinuxLabel { get; set; }
    [JsonPropertyName("ioPriority")] public LinuxIOPriority? IOPriority { get; set; }
    [JsonPropertyName("execCPUAffinity")] public LinuxExecCPUAffinity? ExecCPUAffinity { get; set; }
}

/// <summary>CPU affinity of `exec`ed processes (runtime-spec 1.3 "execCPUAffinity"; Go type CPUAffinity).</summary>
public sealed class LinuxExecCPUAffinity
{
    [JsonPropertyName("initial")] public string? Initial { get; set; }
    [JsonPropertyName("final")] public string? Final { get; set; }
}

/// <summary>Capability sets kept for the process.</summary>
public sealed class LinuxCapabilities
{
    [JsonPropertyName("bounding")] public List<string> Bounding { get; set => field = value ?? []; } = [];
    [JsonPropertyName("effective")] public List<string> Effective { get; set => field = value ?? []; } = [];
    [JsonPropertyName("inheritable")] public List<string> Inheritable { get; set => field = value ?? []; } = [];
    [JsonPropertyName("permitted")] public List<string> Permitted { get; set => field = value ?? []; } = [];
    [JsonPropertyName("ambient")] public List<string> Ambient { get; set => field = value ?? []; } = [];
}

/// <summary>I/O priority of the process (ioprio_set(2)).</summary>
public sealed class LinuxIOPriority
{
    [JsonPropertyName("class")] public string Class { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("priority")] public int Priority { get; set; }
}

/// <summary>Console size.</summary>
public sealed class Box
{
    [JsonPropertyName("height")] public uint Height { get; set; }
    [JsonPropertyName("width")] public uint Width { get; set; }
}

/// <summary>User and groups of the process.</summary>
public sealed class User
{
    [JsonPropertyName("uid")] public uint UID { get; set; }
    [JsonPropertyName("gid")] public uint GID { get; set; }
    [JsonPropertyName("umask")] public uint? Umask { get; set; }
    [JsonPropertyName("additionalGids")] public List<uint> AdditionalGids { get; set => field = value ?? []; } = [];
    [JsonPropertyName("username")] public string? Username { get; set; }
}

/// <summary>The container's root filesystem.</summary>
public sealed class Root
{
    [JsonPropertyName("path")] public string Path { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("readonly"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool Readonly { get; set; }
}

/// <summary>A mount.</summary>
public sealed class Mount
{
    [JsonPropertyName("destination")] public string Destination { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("source")] public string? Source { get; set; }
    [JsonPropertyName("options")] public List<string> Options { get; set => field = value ?? []; } = [];
    [JsonPropertyName("uidMappings")] public List<LinuxIDMapping> UIDMappings { get; set => field = value ?? []; } = [];
    [JsonPropertyName("gidMappings")] public List<LinuxIDMapping> GIDMappings { get; set => field = value ?? []; } = [];
}

/// <summary>A lifecycle hook.</summary>
public sealed class Hook
{
    [JsonPropertyName("path")] public string Path { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("args")] public List<string> Args { get; set => field = value ?? []; } = [];
    [JsonPropertyName("env")] public List<string> Env { get; set => field = value ?? []; } = [];
    [JsonPropertyName("timeout")] public int? Timeout { get; set; }
}

/// <summary>The six kinds of hooks.</summary>
public sealed class Hooks
{
    [JsonPropertyName("prestart")] public List<Hook> Prestart { get; set => field = value ?? []; } = [];
    [JsonPropertyName("createRuntime")] public List<Hook> CreateRuntime { get; set => field = value ?? []; } = [];
    [JsonPropertyName("createContainer")] public List<Hook> CreateContainer { get; set => field = value ?? []; } = [];
    [JsonPropertyName("startContainer")] public List<Hook> StartContainer { get; set => field = value ?? []; } = [];
    [JsonPropertyName("poststart")] public List<Hook> Poststart { get; set => field = value ?? []; } = [];
    [JsonPropertyName("poststop")] public List<Hook> Poststop { get; set => field = value ?? []; } = [];
}

/// <summary>Linux-specific configuration.</summary>
public sealed class Linux
{
    [JsonPropertyName("uidMappings")] public List<LinuxIDMapping> UIDMappings { get; set => field = value ?? []; } = [];
    [JsonPropertyName("gidMappings")] public List<LinuxIDMapping> GIDMappings { get; set => field = value ?? []; } = [];
    [JsonPropertyName("sysctl")] public Dictionary<string, string> Sysctl { get; set => field = value ?? []; } = [];
    [JsonPropertyName("resources")] public LinuxResources? Resources { get; set; }
    [JsonPropertyName("cgroupsPath")] public string? CgroupsPath { get; set; }
    [JsonPropertyName("namespaces")] public List<LinuxNamespace> Namespaces { get; set => field = value ?? []; } = [];
    [JsonPropertyName("devices")] public List<LinuxDevice> Devices { get; set => field = value ?? []; } = [];
    [JsonPropertyName("netDevices")] public Dictionary<string, LinuxNetDevice> NetDevices { get; set => field = value ?? []; } = [];
    [JsonPropertyName("seccomp")] public LinuxSeccomp? Seccomp { get; set; }
    [JsonPropertyName("rootfsPropagation")] public string? RootfsPropagation { get; set; }
    [JsonPropertyName("maskedPaths")] public List<string> MaskedPaths { get; set => field = value ?? []; } = [];
    [JsonPropertyName("readonlyPaths")] public List<string> ReadonlyPaths { get; set => field = value ?? []; } = [];
    [JsonPropertyName("mountLabel")] public string? MountLabel { get; set; }
    [JsonPropertyName("intelRdt")] public LinuxIntelRdt? IntelRdt { get; set; }
    [JsonPropertyName("memoryPolicy")] public LinuxMemoryPolicy? MemoryPolicy { get; set; }
    [JsonPropertyName("personality")] public LinuxPersonality? Personality { get; set; }
    [JsonPropertyName("timeOffsets")] public Dictionary<string, LinuxTimeOffset> TimeOffsets { get; set => field = value ?? []; } = [];
}

/// <summary>A namespace to create (no path) or join (path).</summary>
public sealed class LinuxNamespace
{
    [JsonPropertyName("type")] public string Type { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("path")] public string? Path { get; set; }
}

/// <summary>A uid/gid mapping range.</summary>
public sealed class LinuxIDMapping
{
    [JsonPropertyName("containerID")] public uint ContainerID { get; set; }
    [JsonPropertyName("hostID")] public uint HostID { get; set; }
    [JsonPropertyName("size")] public uint Size { get; set; }
}

/// <summary>A clock offset of the time namespace.</summary>
public sealed class LinuxTimeOffset
{
    [JsonPropertyName("secs"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public long Secs { get; set; }
    [JsonPropertyName("nanosecs"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public uint Nanosecs { get; set; }
}

/// <summary>A resource limit (setrlimit(2)).</summary>
public sealed class POSIXRlimit
{
    [JsonPropertyName("type")] public string Type { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("hard")] public ulong Hard { get; set; }
    [JsonPropertyName("soft")] public ulong Soft { get; set; }
}

/// <summary>A hugetlb limit.</summary>
public sealed class LinuxHugepageLimit
{
    [JsonPropertyName("pageSize")] public string Pagesize { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("limit")] public ulong Limit { get; set; }
}

/// <summary>Priority of a network interface (net_prio).</summary>
public sealed class LinuxInterfacePriority
{
    [JsonPropertyName("name")] public string Name { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("priority")] public uint Priority { get; set; }
}

/// <summary>A `major:minor weight` pair of the blkio controller (Go embeds LinuxBlockIODevice).</summary>
public sealed class LinuxWeightDevice
{
    [JsonPropertyName("major")] public long Major { get; set; }
    [JsonPropertyName("minor")] public long Minor { get; set; }
    [JsonPropertyName("weight")] public ushort? Weight { get; set; }
    [JsonPropertyName("leafWeight")] public ushort? LeafWeight { get; set; }
}

/// <summary>A `major:minor rate` pair of the blkio controller (Go embeds LinuxBlockIODevice).</summary>
public sealed class LinuxThrottleDevice
{
    [JsonPropertyName("major")] public long Major { get; set; }
    [JsonPropertyName("minor")] public long Minor { get; set; }
    [JsonPropertyName("rate")] public ulong Rate { get; set; }
}

/// <summary>blkio / io controller settings.</summary>
public sealed class LinuxBlockIO
{
    [JsonPropertyName("weight")] public ushort? Weight { get; set; }
    [JsonPropertyName("leafWeight")] public ushort? LeafWeight { get; set; }
    [JsonPropertyName("weightDevice")] public List<LinuxWeightDevice> WeightDevice { get; set => field = value ?? []; } = [];
    [JsonPropertyName("throttleReadBpsDevice")] public List<LinuxThrottleDevice> ThrottleReadBpsDevice { get; set => field = value ?? []; } = [];
    [JsonPropertyName("throttleWriteBpsDevice")] public List<LinuxThrottleDevice> ThrottleWriteBpsDevice { get; set => field = value ?? []; } = [];
    [JsonPropertyName("throttleReadIOPSDevice")] public List<LinuxThrottleDevice> ThrottleReadIOPSDevice { get; set => field = value ?? []; } = [];
    [JsonPropertyName("throttleWriteIOPSDevice")] public List<LinuxThrottleDevice> ThrottleWriteIOPSDevice { get; set => field = value ?? []; } = [];
}

/// <summary>memory controller settings.</summary>
public sealed class LinuxMemory
{
    [JsonPropertyName("limit")] public long? Limit { get; set; }
    [JsonPropertyName("reservation")] public long? Reservation { get; set; }
    [JsonPropertyName("swap")] public long? Swap { get; set; }
    [JsonPropertyName("kernel")] public long? Kernel { get; set; }
    [JsonPropertyName("kernelTCP")] public long? KernelTCP { get; set; }
    [JsonPropertyName("swappiness")] public ulong? Swappiness { get; set; }
    [JsonPropertyName("disableOOMKiller")] public bool? DisableOOMKiller { get; set; }
    [JsonPropertyName("useHierarchy")] public bool? UseHierarchy { get; set; }
    [JsonPropertyName("checkBeforeUpdate")] public bool? CheckBeforeUpdate { get; set; }
}

/// <summary>cpu / cpuset controller settings.</summary>
public sealed class LinuxCPU
{
    [JsonPropertyName("shares")] public ulong? Shares { get; set; }
    [JsonPropertyName("quota")] public long? Quota { get; set; }
    [JsonPropertyName("burst")] public ulong? Burst { get; set; }
    [JsonPropertyName("period")] public ulong? Period { get; set; }
    [JsonPropertyName("realtimeRuntime")] public long? RealtimeRuntime { get; set; }
    [JsonPropertyName("realtimePeriod")] public ulong? RealtimePeriod { get; set; }
    [JsonPropertyName("cpus")] public string? Cpus { get; set; }
    [JsonPropertyName("mems")] public string? Mems { get; set; }
    [JsonPropertyName("idle")] public long? Idle { get; set; }
}

/// <summary>pids controller settings.</summary>
public sealed class LinuxPids
{
    [JsonPropertyName("limit")] public long Limit { get; set; }
}

/// <summary>net_cls / net_prio settings.</summary>
public sealed class LinuxNetwork
{
    [JsonPropertyName("classID")] public uint? ClassID { get; set; }
    [JsonPropertyName("priorities")] public List<LinuxInterfacePriority> Priorities { get; set => field = value ?? []; } = [];
}

/// <summary>rdma controller limits of one device.</summary>
public sealed class LinuxRdma
{
    [JsonPropertyName("hcaHandles")] public uint? HcaHandles { get; set; }
    [JsonPropertyName("hcaObjects")] public uint? HcaObjects { get; set; }
}

/// <summary>cgroup resource constraints (config.json linux.resources, also `update --r`).</summary>
public sealed class LinuxResources
{
    [JsonPropertyName("devices")] public List<LinuxDeviceCgroup> Devices { get; set => field = value ?? []; } = [];
    [JsonPropertyName("memory")] public LinuxMemory? Memory { get; set; }
    [JsonPropertyName("cpu")] public LinuxCPU? CPU { get; set; }
    [JsonPropertyName("pids")] public LinuxPids? Pids { get; set; }
    [JsonPropertyName("blockIO")] public LinuxBlockIO? BlockIO { get; set; }
    [JsonPropertyName("hugepageLimits")] public List<LinuxHugepageLimit> HugepageLimits { get; set => field = value ?? []; } = [];
    [JsonPropertyName("network")] public LinuxNetwork? Network { get; set; }
    [JsonPropertyName("rdma")] public Dictionary<string, LinuxRdma> Rdma { get; set => field = value ?? []; } = [];
    [JsonPropertyName("unified")] public Dictionary<string, string> Unified { get; set => field = value ?? []; } = [];
}

/// <summary>A device node to create in the container.</summary>
public sealed class LinuxDevice
{
    [JsonPropertyName("path")] public string Path { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("type")] public string Type { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("major")] public long Major { get; set; }
    [JsonPropertyName("minor")] public long Minor { get; set; }
    [JsonPropertyName("fileMode")] public uint? FileMode { get; set; }
    [JsonPropertyName("uid")] public uint? UID { get; set; }
    [JsonPropertyName("gid")] public uint? GID { get; set; }
}

/// <summary>A network device to move into the container (runtime-spec 1.3).</summary>
public sealed class LinuxNetDevice
{
    [JsonPropertyName("name")] public string? Name { get; set; }
}

/// <summary>A rule of the device cgroup.</summary>
public sealed class LinuxDeviceCgroup
{
    [JsonPropertyName("allow")] public bool Allow { get; set; }
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("major")] public long? Major { get; set; }
    [JsonPropertyName("minor")] public long? Minor { get; set; }
    [JsonPropertyName("access")] public string? Access { get; set; }
}

/// <summary>personality(2) settings.</summary>
public sealed class LinuxPersonality
{
    [JsonPropertyName("domain")] public string Domain { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("flags")] public List<string> Flags { get; set => field = value ?? []; } = [];
}

/// <summary>NUMA memory policy (set_mempolicy(2); runtime-spec 1.3).</summary>
public sealed class LinuxMemoryPolicy
{
    [JsonPropertyName("mode")] public string Mode { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("nodes")] public string Nodes { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("flags")] public List<string> Flags { get; set => field = value ?? []; } = [];
}

/// <summary>A seccomp filter.</summary>
public sealed class LinuxSeccomp
{
    [JsonPropertyName("defaultAction")] public string DefaultAction { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("defaultErrnoRet")] public uint? DefaultErrnoRet { get; set; }
    [JsonPropertyName("architectures")] public List<string> Architectures { get; set => field = value ?? []; } = [];
    [JsonPropertyName("flags")] public List<string> Flags { get; set => field = value ?? []; } = [];
    [JsonPropertyName("listenerPath")] public string? ListenerPath { get; set; }
    [JsonPropertyName("listenerMetadata")] public string? ListenerMetadata { get; set; }
    [JsonPropertyName("syscalls")] public List<LinuxSyscall> Syscalls { get; set => field = value ?? []; } = [];
}

/// <summary>A seccomp argument comparison.</summary>
public sealed class LinuxSeccompArg
{
    [JsonPropertyName("index")] public uint Index { get; set; }
    [JsonPropertyName("value")] public ulong Value { get; set; }
    [JsonPropertyName("valueTwo"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public ulong ValueTwo { get; set; }
    [JsonPropertyName("op")] public string Op { get; set => field = value ?? ""; } = "";
}

/// <summary>A seccomp rule for a set of syscalls.</summary>
public sealed class LinuxSyscall
{
    [JsonPropertyName("names")] public List<string> Names { get; set => field = value ?? []; } = [];
    [JsonPropertyName("action")] public string Action { get; set => field = value ?? ""; } = "";
    [JsonPropertyName("errnoRet")] public uint? ErrnoRet { get; set; }
    [JsonPropertyName("args")] public List<LinuxSeccompArg> Args { get; set => field = value ?? []; } = [];
}

/// <summary>Intel RDT (resctrl) settings.</summary>
public sealed class LinuxIntelRdt
{
    [JsonPropertyName("closID")] public string? ClosID { get; set; }
    [JsonPropertyName("l3CacheSchema")] public string? L3CacheSchema { get; set; }
    [JsonPropertyName("memBwSchema")] public string? MemBwSchema { get; set; }
    [JsonPropertyName("enableCMT"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool EnableCMT { get; set; }
    [JsonPropertyName("enableMBM"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool EnableMBM { get; set; }
}
