using System.Globalization;
using System.Text;
using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Husk.Cdi;

/// <summary>How a scalar was written: JSON types, or YAML's untyped plain scalars.</summary>
internal enum ScalarKind { String, Number, Bool, Null, Plain }

/// <summary>
/// A parsed JSON or YAML document as a small tree (maps keep their order), so one hand-written
/// mapper reads both formats with no reflection (AOT-safe). YAML comes from YamlDotNet's
/// RepresentationModel, never its reflection-based Deserializer.
/// </summary>
internal abstract class DocNode;

internal sealed class DocMap(List<KeyValuePair<string, DocNode>> entries) : DocNode
{
    public List<KeyValuePair<string, DocNode>> Entries { get; } = entries;
}

internal sealed class DocSeq(List<DocNode> items) : DocNode
{
    public List<DocNode> Items { get; } = items;
}

internal sealed class DocScalar(string? text, ScalarKind kind) : DocNode
{
    /// <summary>The text as written (null for a null).</summary>
    public string? Text { get; } = text;
    public ScalarKind Kind { get; } = kind;
    public bool IsNull => Kind == ScalarKind.Null;
}

/// <summary>Reads JSON and YAML into <see cref="DocNode"/> trees; errors are one-line <see cref="HuskException"/>s.</summary>
internal static class DocReader
{
    public const int MaxDepth = 64;
    /// <summary>At most this many nodes (YAML aliases can multiply a small file).</summary>
    public const int MaxNodes = 200_000;

    /// <summary>JSON for ".json" files, YAML otherwise.</summary>
    public static DocNode Read(byte[] bytes, string source, bool json)
    {
        if (bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) bytes = bytes[3..];
        if (bytes.AsSpan().Trim(" \t\r\n"u8).IsEmpty) throw new HuskException($"{source}: empty file, expected a CDI spec");
        return json ? ReadJson(bytes, source) : ReadYaml(bytes, source);
    }

    // ---- JSON ----

    public static DocNode ReadJson(byte[] utf8, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8, new JsonDocumentOptions
            {
                MaxDepth = MaxDepth, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow,
            });
        }
        catch (JsonException e)
        {
            long line = (e.LineNumber ?? 0) + 1, col = (e.BytePositionInLine ?? 0) + 1;
            var msg = e.Message;
            int cut = msg.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut > 0) msg = msg[..cut];
            throw new HuskException($"{source}: invalid JSON at line {line}, column {col}: {ErrorText.OneLine(msg).TrimEnd('.')}");
        }
        catch (ArgumentException e)
        {
            throw new HuskException($"{source}: invalid JSON: {ErrorText.OneLine(e.Message)}");
        }
        using (doc)
        {
            int count = 0;
            return FromJson(doc.RootElement, source, "", ref count);
        }
    }

    static DocNode FromJson(JsonElement e, string source, string path, ref int count)
    {
        if (++count > MaxNodes) throw new HuskException($"{source}: more than {MaxNodes} values");
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                {
                    var entries = new List<KeyValuePair<string, DocNode>>();
                    var seen = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var p in e.EnumerateObject())
                    {
                        var childPath = $"{path}/{ErrorText.EscapePointer(p.Name)}";
                        if (!seen.Add(p.Name)) throw new HuskException($"{source}: {childPath}: duplicate key \"{p.Name}\"");
                        entries.Add(new(p.Name, FromJson(p.Value, source, childPath, ref count)));
                    }
                    return new DocMap(entries);
                }
            case JsonValueKind.Array:
                {
                    var items = new List<DocNode>();
                    int i = 0;
                    foreach (var item in e.EnumerateArray()) items.Add(FromJson(item, source, $"{path}/{i++}", ref count));
                    return new DocSeq(items);
                }
            case JsonValueKind.String:
                try { return new DocScalar(e.GetString(), ScalarKind.String); }
                catch (InvalidOperationException) { throw new HuskException($"{source}: {Pointer.Or(path)}: invalid string"); }
            case JsonValueKind.Number: return new DocScalar(e.GetRawText(), ScalarKind.Number);
            case JsonValueKind.True: return new DocScalar("true", ScalarKind.Bool);
            case JsonValueKind.False: return new DocScalar("false", ScalarKind.Bool);
            default: return new DocScalar(null, ScalarKind.Null);
        }
    }

    // ---- YAML ----

    public static DocNode ReadYaml(byte[] utf8, string source)
    {
        string text;
        try { text = new UTF8Encoding(false, true).GetString(utf8); }
        catch (DecoderFallbackException) { throw new HuskException($"{source}: invalid UTF-8"); }

        var stream = new YamlStream();
        try
        {
            // A first pass over the parser's events (iterative) bounds the nesting, so the
            // recursive RepresentationModel never meets a file nested deep enough to hurt.
            CheckYamlDepth(text, source);
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
        if (stream.Documents.Count == 0) throw new HuskException($"{source}: empty file, expected a CDI spec");
        if (stream.Documents.Count > 1) throw new HuskException($"{source}: {stream.Documents.Count} YAML documents, expected one CDI spec");
        int count = 0;
        return FromYaml(stream.Documents[0].RootNode, source, "", 0, ref count);
    }

    static void CheckYamlDepth(string text, string source)
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

    static DocNode FromYaml(YamlNode node, string source, string path, int depth, ref int count)
    {
        if (++count > MaxNodes) throw new HuskException($"{source}: more than {MaxNodes} values (YAML aliases?)");
        if (depth > MaxDepth) throw new HuskException($"{source}: {Pointer.Or(path)}: nested deeper than {MaxDepth} levels");
        switch (node)
        {
            case YamlMappingNode map:
                {
                    var entries = new List<KeyValuePair<string, DocNode>>();
                    var seen = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var (k, v) in map.Children)
                    {
                        if (k is not YamlScalarNode ks || ks.Value is null)
                            throw new HuskException($"{source}: {Pointer.Or(path)}: line {k.Start.Line}: a key must be a string");
                        var key = ks.Value;
                        var childPath = $"{path}/{ErrorText.EscapePointer(key)}";
                        if (!seen.Add(key)) throw new HuskException($"{source}: {childPath}: duplicate key \"{key}\"");
                        entries.Add(new(key, FromYaml(v, source, childPath, depth + 1, ref count)));
                    }
                    return new DocMap(entries);
                }
            case YamlSequenceNode seq:
                {
                    var items = new List<DocNode>(seq.Children.Count);
                    for (int i = 0; i < seq.Children.Count; i++) items.Add(FromYaml(seq.Children[i], source, $"{path}/{i}", depth + 1, ref count));
                    return new DocSeq(items);
                }
            case YamlScalarNode s:
                return Scalar(s);
            default:
                throw new HuskException($"{source}: {Pointer.Or(path)}: unsupported YAML node");
        }
    }

    static DocScalar Scalar(YamlScalarNode s)
    {
        var tag = s.Tag.IsEmpty ? "" : s.Tag.Value;
        switch (tag)
        {
            case "tag:yaml.org,2002:str": return new DocScalar(s.Value ?? "", ScalarKind.String);
            case "tag:yaml.org,2002:null": return new DocScalar(null, ScalarKind.Null);
            case "tag:yaml.org,2002:int" or "tag:yaml.org,2002:float": return new DocScalar(s.Value, ScalarKind.Plain);
            case "tag:yaml.org,2002:bool": return new DocScalar(s.Value, ScalarKind.Plain);
        }
        if (s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
            return new DocScalar(s.Value ?? "", ScalarKind.String);
        return s.Value is null or "" or "~" or "null" or "Null" or "NULL"
            ? new DocScalar(null, ScalarKind.Null)
            : new DocScalar(s.Value, ScalarKind.Plain);
    }
}

/// <summary>JSON pointers (RFC 6901) for error messages.</summary>
internal static class Pointer
{
    /// <summary>"/" for the root, else the path.</summary>
    public static string Or(string path) => path.Length == 0 ? "/" : path;
    public static string Index(int i) => i.ToString(CultureInfo.InvariantCulture);
}
