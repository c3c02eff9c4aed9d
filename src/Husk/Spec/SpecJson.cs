using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Husk.Spec.Json;

namespace Husk.Spec;

/// <summary>
/// Loading and writing config.json, process.json, state and features through the model's JSON
/// shapes (<see cref="JsonShape{T}"/>; AOT-safe, no reflection). Every failure is a
/// <see cref="HuskException"/> with one line naming the source and the JSON pointer of the bad
/// value. Absent, null and empty collections load as empty collections; empty collections and
/// null values are omitted when writing.
/// </summary>
public static class SpecJson
{
    /// <summary>The deepest nesting accepted.</summary>
    public const int MaxDepth = 64;

    // Both escape as the codec's default does (JsonEscaping: non-ASCII printed as it is);
    // indented output uses tabs like runc.
    private static readonly JsonWriterOptions IndentedOptions = new()
    {
        Encoder = JsonEscaping.Instance, Indented = true, IndentCharacter = '\t', IndentSize = 1,
    };

    // ---- config.json ----

    /// <summary>Reads and parses a config.json; the file name leads every error message.</summary>
    public static Spec Load(string configJsonPath) => Parse(ReadFile(configJsonPath), configJsonPath);

    /// <summary>Parses config.json text.</summary>
    public static Spec Parse(string json, string source = "config.json") => Parse(Encoding.UTF8.GetBytes(json), source);

    /// <summary>Parses config.json bytes (UTF-8).</summary>
    public static Spec Parse(ReadOnlySpan<byte> utf8, string source = "config.json") => Deserialize(utf8, Spec.Shape, source);

    /// <summary>Parses a process.json (`exec --process`).</summary>
    public static Process ParseProcess(string json, string source = "process.json") => ParseProcess(Encoding.UTF8.GetBytes(json), source);
    public static Process ParseProcess(ReadOnlySpan<byte> utf8, string source = "process.json") => Deserialize(utf8, Process.Shape, source);

    /// <summary>Reads and parses a resources document (`update -r`).</summary>
    public static LinuxResources LoadResources(string path) => ParseResources(ReadFile(path), path);
    public static LinuxResources ParseResources(string json, string source = "resources") => ParseResources(Encoding.UTF8.GetBytes(json), source);
    public static LinuxResources ParseResources(ReadOnlySpan<byte> utf8, string source = "resources") => Deserialize(utf8, LinuxResources.Shape, source);

    /// <summary>Parses a state.json.</summary>
    public static State ParseState(string json, string source = "state.json") => ParseState(Encoding.UTF8.GetBytes(json), source);
    public static State ParseState(ReadOnlySpan<byte> utf8, string source = "state.json") => Deserialize(utf8, State.Shape, source);

    public static Features ParseFeatures(ReadOnlySpan<byte> utf8, string source = "features") => Deserialize(utf8, Features.Shape, source);

    // ---- writing ----

    public static string Serialize(Spec spec, bool indented = false) => Text(Spec.Shape, spec, indented);
    public static byte[] SerializeToUtf8(Spec spec, bool indented = false) => Spec.Shape.WriteDocument(spec, WriterOptions(indented));
    public static string Serialize(Process process, bool indented = false) => Text(Process.Shape, process, indented);
    public static string Serialize(State state, bool indented = false) => Text(State.Shape, state, indented);
    public static byte[] SerializeToUtf8(State state, bool indented = false) => State.Shape.WriteDocument(state, WriterOptions(indented));
    /// <summary>A list of states, as `list --format json` prints them.</summary>
    public static string Serialize(List<State> states, bool indented = false) => Text(JsonCodecs.ListOf(State.Shape), states, indented);
    public static string Serialize(Features features, bool indented = false) => Text(Features.Shape, features, indented);
    public static string Serialize(LinuxResources resources, bool indented = false) => Text(LinuxResources.Shape, resources, indented);
    public static string Serialize(Dictionary<string, string> map, bool indented = false) => Text(JsonCodecs.MapOf(JsonCodecs.String), map, indented);

    private static JsonWriterOptions WriterOptions(bool indented) => indented ? IndentedOptions : default;

    private static string Text<V>(JsonCodec<V> codec, V value, bool indented) => Encoding.UTF8.GetString(codec.WriteDocument(value, WriterOptions(indented)));

    // ---- reading, with one-line errors ----

    private static byte[] ReadFile(string path) =>
        Husk.Linux.SmallFile.ReadOrNull(path) ?? throw new HuskException($"{path}: no such file or directory");

    /// <summary>
    /// Reads <paramref name="utf8"/> through <paramref name="shape"/> (of this model or another: CDI
    /// spec files) after checking it is valid UTF-8, well-formed, at most 64 deep and free of
    /// duplicate keys. Throws <see cref="HuskException"/> with one line: "{source}: {pointer}: {what}".
    /// </summary>
    public static T Deserialize<T>(ReadOnlySpan<byte> utf8, JsonShape<T> shape, string source) where T : class, new()
    {
        if (utf8.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) utf8 = utf8[3..];
        Precheck(utf8, source);
        T? value;
        try
        {
            value = shape.ReadDocument(utf8, new JsonReaderOptions { MaxDepth = MaxDepth + 1 });
        }
        catch (JsonException e)
        {
            // "/process/args: expected an array of strings, got 5" (Precheck has refused malformed text already).
            throw new HuskException($"{source}: {e.Message}", e);
        }
        return value ?? throw new HuskException($"{source}: expected a JSON object, got null");
    }

    // A single pass over the tokens: UTF-8, syntax, depth and duplicate keys, with JSON pointers.
    private static void Precheck(ReadOnlySpan<byte> utf8, string source)
    {
        if (utf8.Trim(" \t\r\n"u8).IsEmpty)
            throw new HuskException($"{source}: empty file, expected a JSON object");
        if (!Utf8.IsValid(utf8))
        {
            int bad = FirstInvalidUtf8(utf8);
            var (line, col) = LineCol(utf8, bad);
            throw new HuskException($"{source}: invalid UTF-8 at line {line}, column {col} (byte offset {bad})");
        }

        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions
        {
            MaxDepth = MaxDepth + 1, // let the reader go one deeper so we report the pointer ourselves
            AllowTrailingCommas = false,
            CommentHandling = JsonCommentHandling.Disallow,
        });
        var frames = new List<Frame>();
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        NextElement(frames);
                        if (frames.Count >= MaxDepth)
                            throw new HuskException($"{source}: {Pointer(frames)}: JSON nested deeper than {MaxDepth} levels");
                        frames.Add(new Frame(reader.TokenType == JsonTokenType.StartArray));
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        frames.RemoveAt(frames.Count - 1);
                        break;
                    case JsonTokenType.PropertyName:
                        {
                            string name = GetString(ref reader, frames, source);
                            var f = frames[^1];
                            f.Name = name;
                            f.Names ??= new HashSet<string>(StringComparer.Ordinal);
                            if (!f.Names.Add(name))
                                throw new HuskException($"{source}: {Pointer(frames)}: duplicate key {ErrorText.Quote(name)}");
                            break;
                        }
                    case JsonTokenType.String:
                        NextElement(frames);
                        if (reader.ValueIsEscaped) GetString(ref reader, frames, source);
                        break;
                    default:
                        NextElement(frames);
                        break;
                }
            }
        }
        catch (JsonException e)
        {
            long line = (e.LineNumber ?? 0) + 1, col = (e.BytePositionInLine ?? 0) + 1;
            string msg = e.Message;
            int cut = msg.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut > 0) msg = msg[..cut];
            if (msg.Contains("maximum configured depth", StringComparison.Ordinal))
                msg = $"JSON nested deeper than {MaxDepth} levels";
            throw new HuskException($"{source}: invalid JSON at line {line}, column {col}: {ErrorText.OneLine(msg).TrimEnd('.')}");
        }
    }

    private static string GetString(ref Utf8JsonReader reader, List<Frame> frames, string source)
    {
        try { return reader.GetString() ?? ""; }
        catch (InvalidOperationException)
        {
            throw new HuskException($"{source}: {Pointer(frames)}: invalid string (bad escape or lone surrogate)");
        }
    }

    private static void NextElement(List<Frame> frames)
    {
        if (frames.Count > 0 && frames[^1].IsArray) frames[^1].Index++;
    }

    private sealed class Frame(bool isArray)
    {
        public bool IsArray = isArray;
        public int Index = -1;
        public string? Name;
        public HashSet<string>? Names;
    }

    private static string Pointer(List<Frame> frames)
    {
        if (frames.Count == 0) return "/";
        var sb = new StringBuilder();
        foreach (var f in frames)
        {
            if (f.IsArray) { if (f.Index >= 0) sb.Append('/').Append(f.Index.ToString(CultureInfo.InvariantCulture)); }
            else if (f.Name is not null) sb.Append('/').Append(ErrorText.EscapePointer(f.Name));
        }
        return sb.Length == 0 ? "/" : sb.ToString();
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> utf8)
    {
        Span<char> buf = stackalloc char[256];
        int offset = 0;
        while (offset < utf8.Length)
        {
            var status = Utf8.ToUtf16(utf8[offset..], buf, out int read, out _, replaceInvalidSequences: false, isFinalBlock: true);
            offset += read;
            if (status == System.Buffers.OperationStatus.InvalidData) return offset;
            if (status == System.Buffers.OperationStatus.Done) break;
        }
        return offset;
    }

    private static (int line, int col) LineCol(ReadOnlySpan<byte> utf8, int offset)
    {
        var before = utf8[..Math.Min(offset, utf8.Length)];
        int line = before.Count((byte)'\n') + 1;
        int lastNl = before.LastIndexOf((byte)'\n');
        return (line, offset - lastNl);
    }
}
