using System.Text.Json;
using System.Text.Json.Serialization;
using Husk.Container;
using Husk.Linux;
using Husk.Spec;

namespace Husk.Checkpoint;

/// <summary>What Husk keeps beside CRIU's images (husk-state.json) to restore a container.</summary>
public sealed class CheckpointState
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("bundle")] public string Bundle { get; set; } = "";
    [JsonPropertyName("rootfs")] public string Rootfs { get; set; } = "";
    [JsonPropertyName("pid")] public int Pid { get; set; }
    [JsonPropertyName("checkpointedAt")] public string CheckpointedAt { get; set; } = "";
    [JsonPropertyName("cgroupPath")] public string CgroupPath { get; set; } = "";

    /// <summary>For fds 0, 1 and 2 of the init: CRIU's key of an fd that leads outside the container
    /// ("pipe:[123]", "file[18:3]"), replaced at restore by the restoring command's own fd; "" when internal.</summary>
    [JsonPropertyName("stdio")]
    public List<string> Stdio { get => _stdio; set => _stdio = value ?? []; }
    List<string> _stdio = [];

    /// <summary>Joined namespaces dumped as external: type ("network", "pid") to CRIU key ("extRootNetNS").</summary>
    [JsonPropertyName("externalNamespaces")]
    public Dictionary<string, string> ExternalNamespaces { get => _ns; set => _ns = value ?? []; }
    Dictionary<string, string> _ns = [];

    /// <summary>cgroup v1 bind mounts (no cgroup namespace): mount point in the container to the hierarchy's name.</summary>
    [JsonPropertyName("cgroupBinds")]
    public Dictionary<string, string> CgroupBinds { get => _cg; set => _cg = value ?? []; }
    Dictionary<string, string> _cg = [];
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CheckpointState))]
internal sealed partial class CheckpointJsonContext : JsonSerializerContext;

/// <summary>The files Husk adds to a CRIU image directory: the spec the container ran (husk-spec.json) and <see cref="CheckpointState"/>.</summary>
public static class CheckpointImage
{
    public const string SpecFile = "husk-spec.json", StateFile = "husk-state.json";

    public static void Write(string imageDir, byte[] specJson, CheckpointState state)
    {
        SmallFile.WriteAtomically(Path.Combine(imageDir, SpecFile), specJson);
        SmallFile.WriteAtomically(Path.Combine(imageDir, StateFile),
            JsonSerializer.SerializeToUtf8Bytes(state, CheckpointJsonContext.Default.CheckpointState));
    }

    public static Spec.Spec ReadSpec(string imageDir)
    {
        var path = Path.Combine(imageDir, SpecFile);
        if (!File.Exists(path))
            throw new HuskException($"image path {imageDir}: no {SpecFile}: not a checkpoint made by husk checkpoint");
        return SpecJson.Load(path);
    }

    public static CheckpointState ReadState(string imageDir)
    {
        var path = Path.Combine(imageDir, StateFile);
        if (!File.Exists(path))
            throw new HuskException($"image path {imageDir}: no {StateFile}: not a checkpoint made by husk checkpoint");
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), CheckpointJsonContext.Default.CheckpointState)
                ?? throw new HuskException($"{path}: empty");
        }
        catch (JsonException e) { throw new HuskException($"{path}: corrupt ({e.Message.Split('\n')[0]})"); }
    }
}
