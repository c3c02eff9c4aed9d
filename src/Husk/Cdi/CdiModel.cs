// The CDI (Container Device Interface) spec file model, versions 0.3.0 to 0.8.0, as the CDI
// project defines it (specs-go/config.go of cncf-tags/container-device-interface). Class and
// property names follow the Go types; the JSON/YAML names are the spec's.
//
// Absent == null == empty, as everywhere in Husk: every collection is never null in memory (a
// null assignment becomes an empty collection), and the mapper reads absent, null and empty
// the same way.
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
}

/// <summary>A device a container can ask for, by its fully-qualified name kind=name.</summary>
public sealed class CdiDevice
{
    public string Name { get; set => field = value ?? ""; } = "";
    public Dictionary<string, string> Annotations { get; set => field = value ?? []; } = [];
    public ContainerEdits ContainerEdits { get; set => field = value ?? new(); } = new();
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
}

/// <summary>A mount to add to the container (OCI mounts).</summary>
public sealed class CdiMount
{
    public string HostPath { get; set => field = value ?? ""; } = "";
    public string ContainerPath { get; set => field = value ?? ""; } = "";
    public List<string> Options { get; set => field = value ?? []; } = [];
    /// <summary>The filesystem type (0.4.0+).</summary>
    public string? Type { get; set; }
}

/// <summary>A hook to add to the container, under the OCI hook list named by <see cref="HookName"/>.</summary>
public sealed class CdiHook
{
    public string HookName { get; set => field = value ?? ""; } = "";
    public string Path { get; set => field = value ?? ""; } = "";
    public List<string> Args { get; set => field = value ?? []; } = [];
    public List<string> Env { get; set => field = value ?? []; } = [];
    public int? Timeout { get; set; }
}

/// <summary>Intel RDT (resctrl) settings (0.7.0+).</summary>
public sealed class CdiIntelRdt
{
    public string? ClosID { get; set; }
    public string? L3CacheSchema { get; set; }
    public string? MemBwSchema { get; set; }
    public bool EnableCMT { get; set; }
    public bool EnableMBM { get; set; }
}
