using System.Text.Json.Serialization;
using Husk.Cgroups;

namespace Husk.Container;

/// <summary>
/// What Husk keeps about a container in &lt;root&gt;/&lt;id&gt;/state.json (the spec it runs is
/// beside it in config.json). Written atomically; first while the container is being created,
/// so a `husk create` killed at any point leaves enough to clean up.
/// </summary>
public sealed class ContainerRecord
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("bundle")] public string Bundle { get; set; } = "";
    [JsonPropertyName("rootfs")] public string Rootfs { get; set; } = "";
    /// <summary>Host pid of the container's init; 0 until known.</summary>
    [JsonPropertyName("pid")] public int Pid { get; set; }
    /// <summary>Start time of the init (/proc/PID/stat field 22), so a reused pid is not mistaken for it.</summary>
    [JsonPropertyName("pidStartTime")] public ulong PidStartTime { get; set; }
    /// <summary>True once `create` finished; false while creating (or if create died).</summary>
    [JsonPropertyName("created")] public bool CreateFinished { get; set; }
    [JsonPropertyName("createdAt")] public string CreatedAt { get; set; } = "";
    [JsonPropertyName("owner")] public string Owner { get; set; } = "";
    [JsonPropertyName("cgroup")] public CgroupInfo? Cgroup { get; set; }
    /// <summary>A new container's record, before anything of it exists.</summary>
    public static ContainerRecord New(string id, string bundle, string rootfs, Spec.Spec spec) => new()
    {
        Id = id, Bundle = bundle, Rootfs = rootfs, Owner = "",
        CreatedAt = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffffff00Z"),
        Annotations = new Dictionary<string, string>(spec.Annotations),
    };

    [JsonPropertyName("annotations")]
    public Dictionary<string, string> Annotations { get => _annotations; set => _annotations = value ?? []; }
    Dictionary<string, string> _annotations = [];
}

/// <summary>Options `husk create` sends the init besides the spec.</summary>
public sealed class InitOptions
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("rootfs")] public string Rootfs { get; set; } = "";
    [JsonPropertyName("noPivot")] public bool NoPivot { get; set; }
    [JsonPropertyName("userNamespace")] public bool UserNamespace { get; set; }
    [JsonPropertyName("preserveFds")] public int PreserveFds { get; set; }
    [JsonPropertyName("noNewKeyring")] public bool NoNewKeyring { get; set; }
    /// <summary>The init makes its new cgroup namespace itself, once it is in its cgroup (see <see cref="InitMessage.JoinCgroup"/>).</summary>
    [JsonPropertyName("unshareCgroupNamespace")] public bool UnshareCgroupNamespace { get; set; }
    /// <summary>The state JSON (status creating) given to createContainer hooks on stdin.</summary>
    [JsonPropertyName("stateJson")] public string StateJson { get; set; } = "";
}

[JsonSourceGenerationOptions(WriteIndented = false, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ContainerRecord))]
[JsonSerializable(typeof(InitOptions))]
internal sealed partial class ContainerJsonContext : JsonSerializerContext;
