using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Husk.Spec.Json;

/// <summary>
/// Reads a YAML document (CDI spec files) through a model's member tables: YamlDotNet parses it (its
/// RepresentationModel, never the reflection-based Deserializer), the node tree is written out as the
/// JSON the shape reads, and that goes through <see cref="SpecJson.Deserialize"/>, so YAML and JSON
/// files have one reader and one set of errors. YAML's plain scalars have no type of their own: each
/// becomes what the codec at its place reads (as Go's sigs.k8s.io/yaml converts by the target type),
/// an integer (decimal, 0x, 0o or 0-led octal, '_' separators, as Go's yaml reads them) or a boolean
/// (true, yes, on, false, no, off) where its text is one, else the string as written; quoted ones
/// are strings, "", "~" and "null" are null.
/// </summary>
public static class YamlAsJson
{
    public const int MaxDepth = SpecJson.MaxDepth;
    /// <summary>At most this many nodes (aliases can multiply a small file).</summary>
    public const int MaxNodes = 200_000;

    public static T Read<T>(ReadOnlySpan<byte> utf8, JsonShape<T> shape, string source) where T : class, new() =>
        SpecJson.Deserialize(ToJson(utf8, shape, source), shape, source);

    /// <summary>The YAML document as the JSON <paramref name="target"/> reads; one-line <see cref="HuskException"/>s.</summary>
    internal static byte[] ToJson(ReadOnlySpan<byte> utf8, JsonCodec target, string source)
    {
        if (utf8.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) utf8 = utf8[3..];
        string text;
        try { text = new UTF8Encoding(false, true).GetString(utf8); }
        catch (DecoderFallbackException) { throw new HuskException($"{source}: invalid UTF-8"); }

        var stream = new YamlStream();
        try
        {
            // A first pass over the parser's events (iterative) bounds the nesting, so neither the
            // recursive RepresentationModel nor the writer below meets a file nested deep enough to hurt.
            CheckDepth(text, source);
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            var msg = ErrorText.OneLine(e.InnerException?.Message is { Length: > 0 } inner && e.Message.Contains("See inner", StringComparison.Ordinal)
                ? inner : e.Message);
            // YamlDotNet's messages start with "(Line: 3, Col: 5, Idx: ...) - (...): ": keep ours.
            int dash = msg.IndexOf("): ", StringComparison.Ordinal);
            if (msg.StartsWith('(') && dash > 0) msg = msg[(dash + 3)..];
            throw new HuskException($"{source}: invalid YAML at line {e.Start.Line}, column {e.Start.Column}: {msg.TrimEnd('.')}");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new HuskException($"{source}: invalid YAML: {ErrorText.OneLine(e.Message)}");
        }
        if (stream.Documents.Count == 0) throw new HuskException($"{source}: empty file, expected a YAML document");
        if (stream.Documents.Count > 1) throw new HuskException($"{source}: {stream.Documents.Count} YAML documents, expected one");

        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
            new Writer(json, source).Write(stream.Documents[0].RootNode, target, "");
        return buffer.WrittenSpan.ToArray();
    }

    static void CheckDepth(string text, string source)
    {
        var parser = new Parser(new StringReader(text));
        int depth = 0, events = 0;
        while (parser.MoveNext())
        {
            if (++events > MaxNodes * 4) throw new HuskException($"{source}: more than {MaxNodes} values");
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart:
                    if (++depth > MaxDepth)
                        throw new HuskException($"{source}: YAML nested deeper than {MaxDepth} levels (line {parser.Current.Start.Line})");
                    break;
                case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd:
                    depth--;
                    break;
            }
        }
    }

    sealed class Writer(Utf8JsonWriter json, string source)
    {
        int _count;

        // target: the codec that reads this node; null under a member the shape does not have (it refuses or skips it).
        // path: the node's JSON pointer, for the errors only YAML can have.
        public void Write(YamlNode node, JsonCodec? target, string path)
        {
            if (++_count > MaxNodes) throw new HuskException($"{source}: more than {MaxNodes} values (YAML aliases?)");
            switch (node)
            {
                case YamlMappingNode map:
                    json.WriteStartObject();
                    foreach (var (k, v) in map.Children)
                    {
                        if (k is not YamlScalarNode { Value: { } key })
                            throw new HuskException($"{source}: {(path.Length == 0 ? "/" : path)}: line {k.Start.Line}: a key must be a string");
                        json.WritePropertyName(key);
                        Write(v, target?.Member(key), $"{path}/{ErrorText.EscapePointer(key)}");
                    }
                    json.WriteEndObject();
                    break;
                case YamlSequenceNode seq:
                    json.WriteStartArray();
                    for (int i = 0; i < seq.Children.Count; i++) Write(seq.Children[i], target?.Item, $"{path}/{i}");
                    json.WriteEndArray();
                    break;
                case YamlScalarNode s:
                    Scalar(s, target?.PlainScalar ?? PlainScalar.String);
                    break;
                default:
                    throw new HuskException($"{source}: {(path.Length == 0 ? "/" : path)}: unsupported YAML node");
            }
        }

        void Scalar(YamlScalarNode s, PlainScalar want)
        {
            switch (s.Tag.IsEmpty ? "" : s.Tag.Value)
            {
                case "tag:yaml.org,2002:str": json.WriteStringValue(s.Value ?? ""); return;
                case "tag:yaml.org,2002:null": json.WriteNullValue(); return;
                case "tag:yaml.org,2002:int" or "tag:yaml.org,2002:float" or "tag:yaml.org,2002:bool": break;
                default:
                    if (s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
                    {
                        json.WriteStringValue(s.Value ?? "");
                        return;
                    }
                    if (s.Value is null or "" or "~" or "null" or "Null" or "NULL")
                    {
                        json.WriteNullValue();
                        return;
                    }
                    break;
            }
            string text = s.Value ?? "";
            if (want == PlainScalar.Integer && Integer(text) is { } number) json.WriteRawValue(number);
            else if (want == PlainScalar.Boolean && Boolean(text) is { } b) json.WriteBooleanValue(b);
            else json.WriteStringValue(text);
        }
    }

    // The integer as JSON number text, or null when the text is not one; the codec checks the range.
    static string? Integer(string text)
    {
        var s = text.Replace("_", "");
        bool negative = s.StartsWith('-');
        if (negative || s.StartsWith('+')) s = s[1..];
        ulong magnitude = 0;
        bool ok = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? s.Length > 2 && ulong.TryParse(s[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out magnitude)
            : s.StartsWith("0o", StringComparison.OrdinalIgnoreCase) ? Octal(s[2..], out magnitude)
            : s.Length > 1 && s[0] == '0' ? Octal(s[1..], out magnitude)
            : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out magnitude);
        return ok ? (negative ? "-" : "") + magnitude.ToString(CultureInfo.InvariantCulture) : null;
    }

    static bool Octal(string s, out ulong value)
    {
        value = 0;
        if (s.Length == 0) return false;
        foreach (var c in s)
        {
            if (c is < '0' or > '7' || value > ulong.MaxValue >> 3) return false;
            value = value * 8 + (ulong)(c - '0');
        }
        return true;
    }

    static bool? Boolean(string text) => text switch
    {
        "true" or "True" or "TRUE" or "yes" or "Yes" or "YES" or "on" or "On" or "ON" => true,
        "false" or "False" or "FALSE" or "no" or "No" or "NO" or "off" or "Off" or "OFF" => false,
        _ => null,
    };
}
