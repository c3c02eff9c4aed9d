using System.Text.Json.Serialization;

namespace Husk.Spec;

/// <summary>
/// The source-generated JSON metadata of the spec, state and features models. Use it through
/// <see cref="SpecJson"/>, whose options add the absent == null == empty rules (empty
/// collections are omitted, null collections become empty).
/// </summary>
[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    MaxDepth = 64)]
[JsonSerializable(typeof(Spec))]
[JsonSerializable(typeof(Process))]
[JsonSerializable(typeof(State))]
[JsonSerializable(typeof(List<State>))]
[JsonSerializable(typeof(Features))]
[JsonSerializable(typeof(LinuxResources))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(List<string>))]
public partial class SpecJsonContext : JsonSerializerContext
{
}
