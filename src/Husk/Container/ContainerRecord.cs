using Husk.Cgroups;
using Husk.Spec.Json;

namespace Husk.Container;

/// <summary>
/// What Husk keeps about a container in &lt;root&gt;/&lt;id&gt;/state.json (the spec it runs is
/// beside it in config.json). Written atomically; first while the container is being created,
/// so a `husk create` killed at any point leaves enough to clean up.
/// </summary>
public sealed class ContainerRecord
{
    public string Id { get; set; } = "";
    public string Bundle { get; set; } = "";
    public string Rootfs { get; set; } = "";
    /// <summary>Host pid of the container's init; 0 until known.</summary>
    public int Pid { get; set; }
    /// <summary>Start time of the init (/proc/PID/stat field 22), so a reused pid is not mistaken for it.</summary>
    public ulong PidStartTime { get; set; }
    /// <summary>True once `create` finished; false while creating (or if create died).</summary>
    public bool CreateFinished { get; set; }
    public string CreatedAt { get; set; } = "";
    public string Owner { get; set; } = "";
    public CgroupInfo? Cgroup { get; set; }
    /// <summary>A new container's record, before anything of it exists.</summary>
    public static ContainerRecord New(string id, string bundle, string rootfs, Spec.Spec spec) => new()
    {
        Id = id, Bundle = bundle, Rootfs = rootfs, Owner = "",
        CreatedAt = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffffff00Z"),
        Annotations = new Dictionary<string, string>(spec.Annotations),
    };

    public Dictionary<string, string> Annotations { get => _annotations; set => _annotations = value ?? []; }
    Dictionary<string, string> _annotations = [];

    // JsonSerializer's defaults, as before (not the OCI model's rule): empty collections written, null items kept.
    public static readonly JsonShape<ContainerRecord> Shape = new(m =>
    [
        m.String("id", r => r.Id, (r, v) => r.Id = v),
        m.String("bundle", r => r.Bundle, (r, v) => r.Bundle = v),
        m.String("rootfs", r => r.Rootfs, (r, v) => r.Rootfs = v),
        m.Value("pid", r => r.Pid, (r, v) => r.Pid = v, JsonCodecs.Int32),
        m.Value("pidStartTime", r => r.PidStartTime, (r, v) => r.PidStartTime = v, JsonCodecs.UInt64),
        m.Value("created", r => r.CreateFinished, (r, v) => r.CreateFinished = v, JsonCodecs.Boolean),
        m.String("createdAt", r => r.CreatedAt, (r, v) => r.CreatedAt = v),
        m.String("owner", r => r.Owner, (r, v) => r.Owner = v),
        m.Value("cgroup", r => r.Cgroup, (r, v) => r.Cgroup = v, CgroupInfo.Shape),
        m.Map("annotations", r => r.Annotations, (r, v) => r.Annotations = v, JsonCodecs.String, absentNullEmpty: false),
    ]);
}
