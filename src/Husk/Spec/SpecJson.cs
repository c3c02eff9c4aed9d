using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.Unicode;

namespace Husk.Spec;

/// <summary>
/// Loading and writing config.json, process.json, state and features, AOT-safe (source
/// generation only). Every failure is a <see cref="HuskException"/> with one line naming the
/// source and the JSON pointer of the bad value. Absent, null and empty collections load as
/// empty collections; empty collections and null values are omitted when writing.
/// </summary>
public static class SpecJson
{
    /// <summary>The deepest nesting accepted.</summary>
    public const int MaxDepth = 64;

    /// <summary>Options for reading and compact writing (source-generated metadata + the empty-collection rules).</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions(false);

    /// <summary>Same as <see cref="Options"/> but writes indented (tab-indented like runc).</summary>
    public static JsonSerializerOptions IndentedOptions { get; } = CreateOptions(true);

    /// <summary>Typed metadata for callers that need it (e.g. to embed a Spec in their own documents).</summary>
    public static JsonTypeInfo<Spec> SpecInfo => (JsonTypeInfo<Spec>)Options.GetTypeInfo(typeof(Spec));
    public static JsonTypeInfo<Process> ProcessInfo => (JsonTypeInfo<Process>)Options.GetTypeInfo(typeof(Process));
    public static JsonTypeInfo<State> StateInfo => (JsonTypeInfo<State>)Options.GetTypeInfo(typeof(State));
    public static JsonTypeInfo<Features> FeaturesInfo => (JsonTypeInfo<Features>)Options.GetTypeInfo(typeof(Features));
    public static JsonTypeInfo<LinuxResources> LinuxResourcesInfo => (JsonTypeInfo<LinuxResources>)Options.GetTypeInfo(typeof(LinuxResources));

    /// <summary>
    /// Builds options over <paramref name="context"/> (any source-generated context, e.g. another
    /// engineer's) with Husk's rules: empty collections omitted, null collections (and null items
    /// in string lists / string maps) read as empty, null values omitted, unknown members ignored.
    /// </summary>
    public static JsonSerializerOptions CreateOptions(System.Text.Json.Serialization.JsonSerializerContext context, bool indented)
    {
        var o = new JsonSerializerOptions
        {
            TypeInfoResolver = context.WithAddedModifier(AbsentNullEmpty),
            DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
            WriteIndented = indented,
            IndentCharacter = '\t',
            IndentSize = 1,
            MaxDepth = MaxDepth,
            AllowTrailingCommas = false,
            ReadCommentHandling = JsonCommentHandling.Disallow,
            // Print '<', '>', '&', '+' and non-ASCII as they are, like Go does for most text.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        o.MakeReadOnly();
        return o;
    }

    private static JsonSerializerOptions CreateOptions(bool indented) => CreateOptions(SpecJsonContext.Default, indented);

    /// <summary>The modifier: omit empty collections, turn null collections into empty ones.</summary>
    public static void AbsentNullEmpty(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object) return;
        foreach (var prop in typeInfo.Properties)
        {
            var t = prop.PropertyType;
            if (t == typeof(string) || !typeof(ICollection).IsAssignableFrom(t)) continue;
            var shouldSerialize = prop.ShouldSerialize;
            prop.ShouldSerialize = (obj, value) =>
                value is ICollection c && c.Count > 0 && (shouldSerialize is null || shouldSerialize(obj, value));
            var set = prop.Set;
            if (set is null) continue;
            var options = typeInfo.Options;
            prop.Set = (obj, value) =>
            {
                if (value is null)
                {
                    var info = options.GetTypeInfo(t);
                    value = info.CreateObject?.Invoke();
                }
                else FixNullItems(value, options);
                set(obj, value);
            };
        }
    }

    // Go reads null items as zero values; so do we, so no consumer meets a null inside a collection.
    private static void FixNullItems(object collection, JsonSerializerOptions options)
    {
        switch (collection)
        {
            case List<string> ls:
                for (int i = 0; i < ls.Count; i++) ls[i] ??= "";
                break;
            case Dictionary<string, string> ds:
                foreach (var k in ds.Where(kv => kv.Value is null).Select(kv => kv.Key).ToList()) ds[k] = "";
                break;
            case IList list when list.Count > 0:
                JsonTypeInfo? elem = null;
                for (int i = 0; i < list.Count; i++)
                {
                    if (list[i] is not null) continue;
                    elem ??= ElementInfo(collection, options);
                    if (elem?.CreateObject is { } create) list[i] = create();
                }
                break;
            case IDictionary dict when dict.Count > 0:
                List<object>? nullKeys = null;
                foreach (DictionaryEntry e in dict) if (e.Value is null) (nullKeys ??= []).Add(e.Key);
                if (nullKeys is null) break;
                var ei = ElementInfo(collection, options);
                if (ei?.CreateObject is { } mk) foreach (var k in nullKeys) dict[k] = mk();
                break;
        }
    }

    private static JsonTypeInfo? ElementInfo(object collection, JsonSerializerOptions options)
    {
        var et = options.GetTypeInfo(collection.GetType()).ElementType;
        return et is null || et.IsValueType ? null : options.GetTypeInfo(et);
    }

    // ---- config.json ----

    /// <summary>Reads and parses a config.json; the file name leads every error message.</summary>
    public static Spec Load(string configJsonPath) => Parse(ReadFile(configJsonPath), configJsonPath);

    /// <summary>Parses config.json text.</summary>
    public static Spec Parse(string json, string source = "config.json") => Parse(Encoding.UTF8.GetBytes(json), source);

    /// <summary>Parses config.json bytes (UTF-8).</summary>
    public static Spec Parse(ReadOnlySpan<byte> utf8, string source = "config.json") => Deserialize(utf8, SpecInfo, source);

    /// <summary>Parses a process.json (`exec --process`).</summary>
    public static Process ParseProcess(string json, string source = "process.json") => ParseProcess(Encoding.UTF8.GetBytes(json), source);
    public static Process ParseProcess(ReadOnlySpan<byte> utf8, string source = "process.json") => Deserialize(utf8, ProcessInfo, source);

    /// <summary>Reads and parses a resources document (`update -r`).</summary>
    public static LinuxResources LoadResources(string path) => ParseResources(ReadFile(path), path);
    public static LinuxResources ParseResources(string json, string source = "resources") => ParseResources(Encoding.UTF8.GetBytes(json), source);
    public static LinuxResources ParseResources(ReadOnlySpan<byte> utf8, string source = "resources") => Deserialize(utf8, LinuxResourcesInfo, source);

    /// <summary>Parses a state.json.</summary>
    public static State ParseState(string json, string source = "state.json") => ParseState(Encoding.UTF8.GetBytes(json), source);
    public static State ParseState(ReadOnlySpan<byte> utf8, string source = "state.json") => Deserialize(utf8, StateInfo, source);

    public static Features ParseFeatures(ReadOnlySpan<byte> utf8, string source = "features") => Deserialize(utf8, FeaturesInfo, source);

    // ---- writing ----

    public static string Serialize(Spec spec, bool indented = false) => JsonSerializer.Serialize(spec, Info<Spec>(indented));
    public static byte[] SerializeToUtf8(Spec spec, bool indented = false) => JsonSerializer.SerializeToUtf8Bytes(spec, Info<Spec>(indented));
    public static string Serialize(Process process, bool indented = false) => JsonSerializer.Serialize(process, Info<Process>(indented));
    public static string Serialize(State state, bool indented = false) => JsonSerializer.Serialize(state, Info<State>(indented));
    public static byte[] SerializeToUtf8(State state, bool indented = false) => JsonSerializer.SerializeToUtf8Bytes(state, Info<State>(indented));
    /// <summary>A list of states, as `list --format json` prints them.</summary>
    public static string Serialize(List<State> states, bool indented = false) => JsonSerializer.Serialize(states, Info<List<State>>(indented));
    public static string Serialize(Features features, bool indented = false) => JsonSerializer.Serialize(features, Info<Features>(indented));
    public static string Serialize(LinuxResources resources, bool indented = false) => JsonSerializer.Serialize(resources, Info<LinuxResources>(indented));
    public static string Serialize(Dictionary<string, string> map, bool indented = false) => JsonSerializer.Serialize(map, Info<Dictionary<string, string>>(indented));

    private static JsonTypeInfo<T> Info<T>(bool indented) =>
        (JsonTypeInfo<T>)(indented ? IndentedOptions : Options).GetTypeInfo(typeof(T));

    // ---- reading, with one-line errors ----

    private static byte[] ReadFile(string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new HuskException($"{path}: no such file"); }
        catch (DirectoryNotFoundException) { throw new HuskException($"{path}: no such file or directory"); }
        catch (UnauthorizedAccessException) { throw new HuskException($"{path}: permission denied"); }
        catch (IOException e) { throw new HuskException($"{path}: cannot read: {OneLine(e.Message)}"); }
    }

    /// <summary>
    /// Deserializes <paramref name="utf8"/> with <paramref name="info"/> (obtained from options
    /// made by <see cref="CreateOptions(System.Text.Json.Serialization.JsonSerializerContext, bool)"/>)
    /// after checking it is valid UTF-8, well-formed, at most 64 deep and free of duplicate keys.
    /// Throws <see cref="HuskException"/> with one line: "{source}: {pointer}: {what}".
    /// </summary>
    public static T Deserialize<T>(ReadOnlySpan<byte> utf8, JsonTypeInfo<T> info, string source)
    {
        if (utf8.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) utf8 = utf8[3..];
        Precheck(utf8, source);
        T? value;
        try
        {
            value = JsonSerializer.Deserialize(utf8, info);
        }
        catch (JsonException e)
        {
            throw new HuskException($"{source}: {DescribeTypeError(utf8, e, info)}", e);
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or ArgumentException or FormatException or OverflowException)
        {
            throw new HuskException($"{source}: {OneLine(e.Message)}", e);
        }
        if (value is null)
            throw new HuskException($"{source}: expected a JSON object, got null");
        return value;
    }

    private static string OneLine(string s)
    {
        s = s.ReplaceLineEndings(" ").Trim();
        return s.Length > 300 ? s[..300] + "..." : s;
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
                                throw new HuskException($"{source}: {Pointer(frames)}: duplicate key \"{Short(name)}\"");
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
            throw new HuskException($"{source}: invalid JSON at line {line}, column {col}: {OneLine(msg).TrimEnd('.')}");
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
            else if (f.Name is not null) sb.Append('/').Append(EscapePointer(f.Name));
        }
        return sb.Length == 0 ? "/" : sb.ToString();
    }

    /// <summary>Escapes one JSON pointer token (RFC 6901: "~" → "~0", "/" → "~1").</summary>
    public static string EscapePointer(string token) => Short(token.Replace("~", "~0").Replace("/", "~1"));

    private static string Short(string s) => Printable(s.Length > 80 ? s[..80] + "..." : s);

    /// <summary>
    /// A value as an error message may show it: in double quotes, at most <paramref name="max"/>
    /// characters, with control characters, quotes and backslashes escaped as in JSON, so a
    /// message stays one line whatever the user wrote.
    /// </summary>
    public static string Quote(string s, int max = 80) =>
        "\"" + Printable(s.Length > max ? s[..max] : s, escapeQuotes: true) + (s.Length > max ? "...\"" : "\"");

    private static string Printable(string s, bool escapeQuotes = false)
    {
        bool clean = true;
        foreach (char c in s) if (char.IsControl(c) || c is '\u2028' or '\u2029' || (escapeQuotes && c is '"' or '\\')) { clean = false; break; }
        if (clean) return s;
        var sb = new StringBuilder(s.Length + 8);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '"' when escapeQuotes: sb.Append("\\\""); break;
                case '\\' when escapeQuotes: sb.Append("\\\\"); break;
                default:
                    if (char.IsControl(c) || c is '\u2028' or '\u2029') sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
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

    // ---- type errors ----

    private static string DescribeTypeError(ReadOnlySpan<byte> utf8, JsonException e, JsonTypeInfo rootInfo)
    {
        var tokens = ParsePath(e.Path);
        string pointer = tokens.Count == 0 ? "/" : string.Concat(tokens.Select(t => "/" + EscapePointer(t.Name ?? t.Index.ToString(CultureInfo.InvariantCulture))));
        string expected = DescribeExpected(rootInfo, tokens);
        string got = DescribeActual(utf8, tokens);
        if (expected.Length == 0)
            return $"{pointer}: {OneLine(StripPathInfo(e.Message))}";
        return $"{pointer}: expected {expected}, got {got}";
    }

    private static string StripPathInfo(string msg)
    {
        int cut = msg.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? msg[..cut] : msg;
    }

    private readonly record struct PathToken(string? Name, int Index);

    // "$.process.args[1]" / "$['a.b'].c" → tokens.
    private static List<PathToken> ParsePath(string? path)
    {
        var r = new List<PathToken>();
        if (string.IsNullOrEmpty(path)) return r;
        int i = path.StartsWith('$') ? 1 : 0;
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                int j = i + 1;
                while (j < path.Length && path[j] != '.' && path[j] != '[') j++;
                r.Add(new PathToken(path[(i + 1)..j], 0));
                i = j;
            }
            else if (path[i] == '[' && i + 1 < path.Length && path[i + 1] == '\'')
            {
                int j = path.IndexOf("']", i + 2, StringComparison.Ordinal);
                if (j < 0) j = path.Length;
                r.Add(new PathToken(path[(i + 2)..j], 0));
                i = j + 2;
            }
            else if (path[i] == '[')
            {
                int j = path.IndexOf(']', i);
                if (j < 0) j = path.Length;
                r.Add(int.TryParse(path.AsSpan(i + 1, j - i - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int n)
                    ? new PathToken(null, n) : new PathToken(path[(i + 1)..j], 0));
                i = j + 1;
            }
            else i++;
        }
        return r;
    }

    private static string DescribeExpected(JsonTypeInfo root, List<PathToken> tokens)
    {
        try
        {
            JsonTypeInfo info = root;
            foreach (var t in tokens)
            {
                Type? next = null;
                switch (info.Kind)
                {
                    case JsonTypeInfoKind.Object:
                        next = info.Properties.FirstOrDefault(p => p.Name == t.Name)?.PropertyType;
                        break;
                    case JsonTypeInfoKind.Enumerable:
                    case JsonTypeInfoKind.Dictionary:
                        next = info.ElementType;
                        break;
                }
                if (next is null) return "";
                info = info.Options.GetTypeInfo(next);
            }
            return Describe(info, true);
        }
        catch (Exception) { return ""; }
    }

    private static string Describe(JsonTypeInfo info, bool article)
    {
        Type t = Nullable.GetUnderlyingType(info.Type) ?? info.Type;
        string a(string s) => article ? (s[0] is 'a' or 'e' or 'i' or 'o' or 'u' ? "an " : "a ") + s : s;
        switch (info.Kind)
        {
            case JsonTypeInfoKind.Enumerable:
                return (article ? "an array of " : "arrays of ") + Plural(info.Options.GetTypeInfo(info.ElementType!));
            case JsonTypeInfoKind.Dictionary:
                return (article ? "an object of " : "objects of ") + Plural(info.Options.GetTypeInfo(info.ElementType!));
            case JsonTypeInfoKind.Object:
                return article ? "an object" : "objects";
        }
        string name =
            t == typeof(string) ? "string" :
            t == typeof(bool) ? "boolean" :
            t == typeof(int) ? "integer (-2147483648..2147483647)" :
            t == typeof(uint) ? "unsigned integer (0..4294967295)" :
            t == typeof(long) ? "integer (-9223372036854775808..9223372036854775807)" :
            t == typeof(ulong) ? "unsigned integer (0..18446744073709551615)" :
            t == typeof(ushort) ? "unsigned integer (0..65535)" :
            t == typeof(short) ? "integer (-32768..32767)" :
            t.Name;
        return article ? a(name) : name + "s";
    }

    private static string Plural(JsonTypeInfo info)
    {
        string s = Describe(info, false);
        // "unsigned integers (0..4294967295)" reads better than "unsigned integer (..)s"
        int p = s.IndexOf(" (", StringComparison.Ordinal);
        if (p > 0 && s.EndsWith(")s", StringComparison.Ordinal)) s = s[..p] + "s" + s[p..^1];
        return s;
    }

    private static string DescribeActual(ReadOnlySpan<byte> utf8, List<PathToken> tokens)
    {
        try
        {
            using var doc = JsonDocument.Parse(utf8.ToArray(), new JsonDocumentOptions { MaxDepth = MaxDepth + 1 });
            JsonElement el = doc.RootElement;
            foreach (var t in tokens)
            {
                if (el.ValueKind == JsonValueKind.Object && t.Name is not null && el.TryGetProperty(t.Name, out var c)) el = c;
                else if (el.ValueKind == JsonValueKind.Array && t.Name is null && t.Index < el.GetArrayLength()) el = el[t.Index];
                else return "an invalid value";
            }
            return el.ValueKind switch
            {
                JsonValueKind.Object => "an object",
                JsonValueKind.Array => "an array",
                JsonValueKind.String => el.GetString() is { Length: <= 40 } s ? $"the string {Quote(s)}" : "a string",
                JsonValueKind.Number => el.GetRawText() is { Length: <= 40 } n ? n : "a number",
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.Null => "null",
                _ => "an invalid value",
            };
        }
        catch (Exception) { return "an invalid value"; }
    }
}
