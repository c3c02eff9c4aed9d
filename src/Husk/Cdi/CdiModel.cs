// The CDI (Container Device Interface) spec file model, versions 0.3.0 to 0.8.0, as the CDI
// project defines it (specs-go/config.go of cncf-tags/container-device-interface). Class and
// property names follow the Go types; the JSON/YAML names are the spec's.
//
// Absent == null == empty, as everywhere in Husk: every collection is never null in memory (a
// null assignment becomes an empty collection), and absent, null and empty read the same way.
//
// Each class's Shape is its one table of members, as in the OCI spec model (Spec/Json): spec files
// are read through it, JSON directly and YAML through YamlAsJson. The shapes refuse unknown members
// (the CDI project reads its files strictly), and a null number or boolean reads as 0 or false, as
// Go reads it (JsonCodecs.NullAsZero).
using Husk.Spec.Json;

namespace Husk.Cdi;

/// <summary>One CDI spec file: a kind ("vendor.com/class"), its devices and the spec-wide edits.</summary>
public sealed class CdiSpec
{
    public string Version { get; set => field = value ?? ""; } = "";
    public string Kind { get; set => field = value ?? ""; } = "";
    public Dictionary<string, string> Annotations { get; set => field = value ?? []; } = [];
    public List<CdiDevice> Devices { get; set => field = value ?? []; } = [];
    /// <summary>Applied once when any device of this spec is injected.</summary>
    public ContainerEdits ContainerEdits { get; set => field = value ?? new(); } = new();

    /// <summary>The vendor part of <see cref="Kind"/> ("vendor.com").</summary>
    public string Vendor => QualifiedName.SplitKind(Kind).Vendor;
    /// <summary>The class part of <see cref="Kind"/> ("class").</summary>
    public string Class => QualifiedName.SplitKind(Kind).Class;

    public static readonly JsonShape<CdiSpec> Shape = new(m =>
    [
        m.String("cdiVersion", s => s.Version, (s, v) => s.Version = v),
        m.String("kind", s => s.Kind, (s, v) => s.Kind = v),
        m.Map("annotations", s => s.Annotations, (s, v) => s.Annotations = v, JsonCodecs.String),
        m.List("devices", s => s.Devices, (s, v) => s.Devices = v, CdiDevice.Shape),
        m.Value("containerEdits", s => s.ContainerEdits, (s, v) => s.ContainerEdits = v, ContainerEdits.Shape),
    ], refusesUnknown: true);
}

/// <summary>A device a container can ask for, by its fully-qualified name kind=name.</summary>
public sealed class CdiDevice
{
    public string Name { get; set => field = value ?? ""; } = "";
    public Dictionary<string, string> Annotations { get; set => field = value ?? []; } = [];
    public ContainerEdits ContainerEdits { get; set => field = value ?? new(); } = new();

    public static readonly JsonShape<CdiDevice> Shape = new(m =>
    [
        m.String("name", d => d.Name, (d, v) => d.Name = v),
        m.Map("annotations", d => d.Annotations, (d, v) => d.Annotations = v, JsonCodecs.String),
        m.Value("containerEdits", d => d.ContainerEdits, (d, v) => d.ContainerEdits = v, ContainerEdits.Shape),
    ], refusesUnknown: true);
}

/// <summary>The edits a runtime makes to the OCI spec to expose a device (or a whole spec's devices).</summary>
public sealed class ContainerEdits
{
    public List<string> Env { get; set => field = value ?? []; } = [];
    public List<CdiDeviceNode> DeviceNodes { get; set => field = value ?? []; } = [];
    public List<CdiHook> Hooks { get; set => field = value ?? []; } = [];
    public List<CdiMount> Mounts { get; set => field = value ?? []; } = [];
    public CdiIntelRdt? IntelRdt { get; set; }
    public List<uint> AdditionalGIDs { get; set => field = value ?? []; } = [];

    /// <summary>True when there is nothing to apply (allowed spec-wide, not for a device).</summary>
    public bool IsEmpty => Env.Count == 0 && DeviceNodes.Count == 0 && Hooks.Count == 0 && Mounts.Count == 0
                           && IntelRdt is null && AdditionalGIDs.Count == 0;

    /// <summary>Appends <paramref name="other"/>'s edits to these (CDI's ContainerEdits.Append).</summary>
    public ContainerEdits Append(ContainerEdits other)
    {
        Env.AddRange(other.Env);
        DeviceNodes.AddRange(other.DeviceNodes);
        Hooks.AddRange(other.Hooks);
        Mounts.AddRange(other.Mounts);
        if (other.IntelRdt is not null) IntelRdt = other.IntelRdt;
        AdditionalGIDs.AddRange(other.AdditionalGIDs);
        return this;
    }

    public static readonly JsonShape<ContainerEdits> Shape = new(m =>
    [
        m.List("env", e => e.Env, (e, v) => e.Env = v, JsonCodecs.String),
        m.List("deviceNodes", e => e.DeviceNodes, (e, v) => e.DeviceNodes = v, CdiDeviceNode.Shape),
        m.List("hooks", e => e.Hooks, (e, v) => e.Hooks = v, CdiHook.Shape),
        m.List("mounts", e => e.Mounts, (e, v) => e.Mounts = v, CdiMount.Shape),
        m.Value("intelRdt", e => e.IntelRdt, (e, v) => e.IntelRdt = v, CdiIntelRdt.Shape),
        m.List("additionalGids", e => e.AdditionalGIDs, (e, v) => e.AdditionalGIDs = v, JsonCodecs.NullAsZero(JsonCodecs.UInt32)),
    ], refusesUnknown: true);
}

/// <summary>A device node to create in the container (OCI linux.devices), optionally from a host node.</summary>
public sealed class CdiDeviceNode
{
    /// <summary>Path in the container.</summary>
    public string Path { get; set => field = value ?? ""; } = "";
    /// <summary>Path of the host node (0.5.0+); <see cref="Path"/> when absent.</summary>
    public string? HostPath { get; set; }
    /// <summary>"b", "c", "u" or "p"; from the host node when absent.</summary>
    public string? Type { get; set; }
    public long Major { get; set; }
    public long Minor { get; set; }
    public uint? FileMode { get; set; }
    /// <summary>Cgroup access: a combination of r, w, m; "" = rwm; "none" = no access rule.</summary>
    public string? Permissions { get; set; }
    public uint? UID { get; set; }
    public uint? GID { get; set; }

    public static readonly JsonShape<CdiDeviceNode> Shape = new(m =>
    [
        m.String("path", d => d.Path, (d, v) => d.Path = v),
        m.String("hostPath", d => d.HostPath, (d, v) => d.HostPath = v),
        m.String("type", d => d.Type, (d, v) => d.Type = v),
        m.Value("major", d => d.Major, (d, v) => d.Major = v, JsonCodecs.NullAsZero(JsonCodecs.Int64), omitDefault: true),
        m.Value("minor", d => d.Minor, (d, v) => d.Minor = v, JsonCodecs.NullAsZero(JsonCodecs.Int64), omitDefault: true),
        m.Value("fileMode", d => d.FileMode, (d, v) => d.FileMode = v, JsonCodecs.NullableUInt32),
        m.String("permissions", d => d.Permissions, (d, v) => d.Permissions = v),
        m.Value("uid", d => d.UID, (d, v) => d.UID = v, JsonCodecs.NullableUInt32),
        m.Value("gid", d => d.GID, (d, v) => d.GID = v, JsonCodecs.NullableUInt32),
    ], refusesUnknown: true);
}

/// <summary>A mount to add to the container (OCI mounts).</summary>
public sealed class CdiMount
{
    public string HostPath { get; set => field = value ?? ""; } = "";
    public string ContainerPath { get; set => field = value ?? ""; } = "";
    public List<string> Options { get; set => field = value ?? []; } = [];
    /// <summary>The filesystem type (0.4.0+).</summary>
    public string? Type { get; set; }

    public static readonly JsonShape<CdiMount> Shape = new(m =>
    [
        m.String("hostPath", x => x.HostPath, (x, v) => x.HostPath = v),
        m.String("containerPath", x => x.ContainerPath, (x, v) => x.ContainerPath = v),
        m.List("options", x => x.Options, (x, v) => x.Options = v, JsonCodecs.String),
        m.String("type", x => x.Type, (x, v) => x.Type = v),
    ], refusesUnknown: true);
}

/// <summary>A hook to add to the container, under the OCI hook list named by <see cref="HookName"/>.</summary>
public sealed class CdiHook
{
    public string HookName { get; set => field = value ?? ""; } = "";
    public string Path { get; set => field = value ?? ""; } = "";
    public List<string> Args { get; set => field = value ?? []; } = [];
    public List<string> Env { get; set => field = value ?? []; } = [];
    public int? Timeout { get; set; }

    public static readonly JsonShape<CdiHook> Shape = new(m =>
    [
        m.String("hookName", h => h.HookName, (h, v) => h.HookName = v),
        m.String("path", h => h.Path, (h, v) => h.Path = v),
        m.List("args", h => h.Args, (h, v) => h.Args = v, JsonCodecs.String),
        m.List("env", h => h.Env, (h, v) => h.Env = v, JsonCodecs.String),
        m.Value("timeout", h => h.Timeout, (h, v) => h.Timeout = v, JsonCodecs.NullableInt32),
    ], refusesUnknown: true);
}

/// <summary>Intel RDT (resctrl) settings (0.7.0+).</summary>
public sealed class CdiIntelRdt
{
    public string? ClosID { get; set; }
    public string? L3CacheSchema { get; set; }
    public string? MemBwSchema { get; set; }
    public bool EnableCMT { get; set; }
    public bool EnableMBM { get; set; }

    public static readonly JsonShape<CdiIntelRdt> Shape = new(m =>
    [
        m.String("closID", r => r.ClosID, (r, v) => r.ClosID = v),
        m.String("l3CacheSchema", r => r.L3CacheSchema, (r, v) => r.L3CacheSchema = v),
        m.String("memBwSchema", r => r.MemBwSchema, (r, v) => r.MemBwSchema = v),
        m.Value("enableCMT", r => r.EnableCMT, (r, v) => r.EnableCMT = v, JsonCodecs.NullAsZero(JsonCodecs.Boolean), omitDefault: true),
        m.Value("enableMBM", r => r.EnableMBM, (r, v) => r.EnableMBM = v, JsonCodecs.NullAsZero(JsonCodecs.Boolean), omitDefault: true),
    ], refusesUnknown: true);
}
