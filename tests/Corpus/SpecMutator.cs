using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Husk.Corpus;

/// <summary>One generated input: the seed that makes it again, what was done, and the bytes.</summary>
public sealed record Mutant(int Seed, string Description, byte[] Bytes)
{
    public string Text => Encoding.UTF8.GetString(Bytes);

    /// <summary>For failure messages: the seed, the mutations and the start of the document.</summary>
    public string Describe()
    {
        var t = Text;
        return $"seed {Seed} ({Description}); document ({Bytes.Length} bytes): {(t.Length > 2000 ? t[..2000] + "..." : t)}";
    }
}

/// <summary>
/// Mutates valid JSON documents (specs, process.json) into hostile ones, deterministically from a
/// seed: deletes keys, changes types, swaps in values from elsewhere in the document, inserts
/// nulls, extreme numbers, long and odd strings (unicode, NUL, "..", relative paths), duplicate
/// entries and keys, unknown and misplaced fields, and, at the text level, truncation and invalid
/// UTF-8. <see cref="Create"/>(seed) is a pure function of its arguments.
/// </summary>
public sealed class SpecMutator
{
    /// <summary>Longest string a mutation writes (the e2e tests keep it small; the unit tests go to megabytes).</summary>
    public int MaxStringLength { get; init; } = 1 << 20;

    /// <summary>Probability of also corrupting the text (truncation, bad bytes) after the tree mutations.</summary>
    public double TextCorruption { get; init; } = 0.15;

    /// <summary>Applied to the mutated tree before it is written (the e2e tests remove what could harm the host).</summary>
    public Action<JsonObject>? Sanitize { get; init; }

    static readonly JsonSerializerOptions WriteOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        MaxDepth = 100_000,
    };

    const string RawMarker = "@@RAW@@", DupMarker = "@@DUP@@";

    static readonly string[] ExtremeNumbers =
    [
        "0", "-1", "1", "-0", "0.5", "-2147483648", "2147483647", "2147483648", "-2147483649", "4294967295", "4294967296",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "1e400", "-1e400", "1e-400", "1.7976931348623157e308", "1E3",
        "123456789012345678901234567890", "65535", "65536", "-65536", "511", "512", "1000", "-1000", "1001",
    ];

    static readonly string[] OddStrings =
    [
        "", " ", ".", "..", "../../../../etc", "/../../../../tmp/husk-fuzz-escape", "/", "//", "relative/path", "rootfs/../..",
        "\u0000", "a\u0000b", "a\nb", "\t", "\r\n", "\u00e9\u4e2d\U0001F600", "\u202e\u200b\ufeff", "\ud7ff\ue000\uffff", "%s%n%x",
        "$(echo pwned)", "`id`", "-1", "0", "true", "null", "{}", "[]", "CAP_SYS_ADMIN", "CAP_NOPE", "RLIMIT_NOFILE", "RLIMIT_X",
        "pid", "mount", "network", "user", "cgroup", "time", "bind", "rbind", "tmpfs", "proc", "sysfs", "ro", "rw", "nosuid",
        "rshared", "rslave", "private", "SCMP_ACT_ERRNO", "c", "b", "p", "u", "rwm", "1.2.0", "2.0.0", "/dev/null", "/proc/kcore",
        "=", "A=", "=B", "PATH=", "0-1", "3-1", "64MB", "max",
    ];

    static readonly string[] KeyNames =
    [
        "x-unknown", "process", "root", "mounts", "linux", "args", "env", "cwd", "namespaces", "type", "path", "options",
        "uid", "gid", "umask", "resources", "memory", "limit", "pids", "devices", "sysctl", "annotations", "rlimits",
        "capabilities", "terminal", "destination", "source", "maskedPaths", "readonlyPaths", "hostname", "ociVersion", "",
        "\u00e9\U0001F600", "a/b~c",
    ];

    /// <summary>Makes the mutant of <paramref name="baseJson"/> for <paramref name="seed"/>: 1 to <paramref name="maxMutations"/> mutations.</summary>
    public Mutant Create(string baseJson, int seed, int maxMutations = 4)
    {
        var rng = new Random(seed);
        var doc = JsonNode.Parse(baseJson)!;
        var what = new List<string>();
        int n = 1 + rng.Next(maxMutations);
        for (int i = 0; i < n; i++)
        {
            var m = MutateOnce(ref doc, rng);
            if (m != null) what.Add(m);
        }
        if (doc is JsonObject o) Sanitize?.Invoke(o);
        string text = doc is null ? "null" : doc.ToJsonString(WriteOptions);
        text = Unmark(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        if (rng.NextDouble() < TextCorruption)
        {
            var (b, d) = CorruptText(bytes, rng);
            bytes = b;
            what.Add(d);
        }
        return new Mutant(seed, what.Count == 0 ? "unchanged" : string.Join("; ", what), bytes);
    }

    // Raw numbers and duplicate keys cannot live in a JsonNode tree: they travel as marked strings.
    static string Unmark(string text)
    {
        if (text.Contains(RawMarker, StringComparison.Ordinal))
        {
            var sb = new StringBuilder();
            int i = 0;
            while (true)
            {
                int j = text.IndexOf("\"" + RawMarker, i, StringComparison.Ordinal);
                if (j < 0) { sb.Append(text, i, text.Length - i); break; }
                sb.Append(text, i, j - i);
                int end = text.IndexOf('"', j + 1 + RawMarker.Length);
                sb.Append(text, j + 1 + RawMarker.Length, end - (j + 1 + RawMarker.Length));
                i = end + 1;
            }
            text = sb.ToString();
        }
        // "@@DUP@@key#n" → "key"
        if (text.Contains(DupMarker, StringComparison.Ordinal))
        {
            var sb = new StringBuilder();
            int i = 0;
            while (true)
            {
                int j = text.IndexOf("\"" + DupMarker, i, StringComparison.Ordinal);
                if (j < 0) { sb.Append(text, i, text.Length - i); break; }
                sb.Append(text, i, j - i + 1);
                int hash = text.IndexOf('#', j + 1 + DupMarker.Length);
                sb.Append(text, j + 1 + DupMarker.Length, hash - (j + 1 + DupMarker.Length));
                i = text.IndexOf('"', hash);
            }
            text = sb.ToString();
        }
        return text;
    }

    sealed record Slot(JsonNode? Parent, string? Key, int Index, JsonNode? Node, string Pointer);

    static List<Slot> Slots(JsonNode? root)
    {
        var list = new List<Slot>();
        void Walk(JsonNode? parent, string? key, int index, JsonNode? node, string ptr)
        {
            list.Add(new Slot(parent, key, index, node, ptr));
            switch (node)
            {
                case JsonObject o:
                    foreach (var (k, v) in o.ToList()) Walk(o, k, -1, v, ptr + "/" + k);
                    break;
                case JsonArray a:
                    for (int i = 0; i < a.Count; i++) Walk(a, null, i, a[i], ptr + "/" + i);
                    break;
            }
        }
        Walk(null, null, -1, root, "");
        return list;
    }

    static void Set(ref JsonNode? root, Slot s, JsonNode? value)
    {
        if (s.Parent is JsonObject o) o[s.Key!] = value;
        else if (s.Parent is JsonArray a) a[s.Index] = value;
        else root = value;
    }

    string? MutateOnce(ref JsonNode? root, Random rng)
    {
        var slots = Slots(root);
        var s = slots[rng.Next(slots.Count)];
        string at = s.Pointer.Length == 0 ? "/" : s.Pointer;
        switch (rng.Next(12))
        {
            case 0: // delete
                if (s.Parent is JsonObject po) { po.Remove(s.Key!); return $"delete {at}"; }
                if (s.Parent is JsonArray pa) { pa.RemoveAt(s.Index); return $"delete {at}"; }
                return null;
            case 1: // null
                Set(ref root, s, null);
                return $"null at {at}";
            case 2: // another type
                {
                    var v = RandomValue(rng, 0);
                    Set(ref root, s, v);
                    return $"{Kind(v)} at {at}";
                }
            case 3: // extreme number
                {
                    var num = ExtremeNumbers[rng.Next(ExtremeNumbers.Length)];
                    Set(ref root, s, JsonValue.Create(RawMarker + num));
                    return $"number {num} at {at}";
                }
            case 4: // odd string
                {
                    var str = OddStrings[rng.Next(OddStrings.Length)];
                    Set(ref root, s, JsonValue.Create(str));
                    return $"string {JsonSerializer.Serialize(str)} at {at}";
                }
            case 5: // long string
                {
                    int len = rng.Next(4) == 0 ? MaxStringLength : rng.Next(1, Math.Max(2, MaxStringLength / 16));
                    Set(ref root, s, JsonValue.Create(LongString(rng, len)));
                    return $"string of {len} chars at {at}";
                }
            case 6: // swap in a copy of another value of the document
                {
                    var other = slots[rng.Next(slots.Count)];
                    if (ReferenceEquals(other.Node, s.Node) || IsAncestor(s.Node, other.Node)) return null;
                    Set(ref root, s, other.Node?.DeepClone());
                    return $"copy of {(other.Pointer.Length == 0 ? "/" : other.Pointer)} at {at}";
                }
            case 7: // duplicate an array entry
                if (s.Node is JsonArray arr && arr.Count > 0)
                {
                    int i = rng.Next(arr.Count);
                    int times = 1 + rng.Next(3);
                    for (int t = 0; t < times; t++) arr.Insert(i, arr[i]?.DeepClone());
                    return $"duplicate {at}/{i} x{times}";
                }
                if (s.Parent is JsonArray pa2) { pa2.Insert(s.Index, s.Node?.DeepClone()); return $"duplicate {at}"; }
                return null;
            case 8: // unknown or misplaced member
                if (s.Node is JsonObject obj)
                {
                    var key = KeyNames[rng.Next(KeyNames.Length)];
                    if (obj.ContainsKey(key)) key += "-x";
                    obj[key] = RandomValue(rng, 0);
                    return $"member \"{key}\" in {at}";
                }
                return null;
            case 9: // duplicate key (written twice in the text)
                if (s.Node is JsonObject dobj && dobj.Count > 0)
                {
                    var (k, v) = dobj.ElementAt(rng.Next(dobj.Count));
                    dobj[$"{DupMarker}{k}#{rng.Next()}"] = rng.Next(2) == 0 ? v?.DeepClone() : RandomValue(rng, 0);
                    return $"duplicate key {at}/{k}";
                }
                return null;
            case 10: // empty collection
                if (s.Node is JsonArray) { Set(ref root, s, new JsonArray()); return $"[] at {at}"; }
                if (s.Node is JsonObject) { Set(ref root, s, new JsonObject()); return $"{{}} at {at}"; }
                return null;
            default: // nest deeper
                {
                    int depth = rng.Next(4) == 0 ? 70 : rng.Next(1, 20);
                    JsonNode? v = s.Node?.DeepClone();
                    for (int i = 0; i < depth; i++) v = rng.Next(2) == 0 ? new JsonArray(v) : new JsonObject { ["x"] = v };
                    Set(ref root, s, v);
                    return $"nested {depth} deep at {at}";
                }
        }
    }

    static bool IsAncestor(JsonNode? ancestor, JsonNode? node)
    {
        for (var p = node; p != null; p = p.Parent) if (ReferenceEquals(p, ancestor)) return true;
        return false;
    }

    static string Kind(JsonNode? v) => v switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        _ => v.GetValueKind().ToString().ToLowerInvariant(),
    };

    JsonNode? RandomValue(Random rng, int depth)
    {
        switch (rng.Next(depth > 2 ? 6 : 8))
        {
            case 0: return null;
            case 1: return JsonValue.Create(rng.Next(2) == 0);
            case 2: return JsonValue.Create(RawMarker + ExtremeNumbers[rng.Next(ExtremeNumbers.Length)]);
            case 3: return JsonValue.Create(OddStrings[rng.Next(OddStrings.Length)]);
            case 4: return JsonValue.Create(LongString(rng, rng.Next(1, 300)));
            case 5: return JsonValue.Create(rng.Next(-5, 70000));
            case 6:
                {
                    var a = new JsonArray();
                    for (int i = rng.Next(4); i > 0; i--) a.Add(RandomValue(rng, depth + 1));
                    return a;
                }
            default:
                {
                    var o = new JsonObject();
                    for (int i = rng.Next(4); i > 0; i--) o[KeyNames[rng.Next(KeyNames.Length)] + i] = RandomValue(rng, depth + 1);
                    return o;
                }
        }
    }

    static string LongString(Random rng, int len)
    {
        switch (rng.Next(3))
        {
            case 0: return new string((char)('a' + rng.Next(26)), len);
            case 1: return "/" + string.Concat(Enumerable.Repeat("../", len / 3 + 1))[..Math.Max(0, len - 1)];
            default:
                {
                    var sb = new StringBuilder(len);
                    string[] pieces = ["\u00e9", "\u4e2d", "\U0001F600", "a", "/", "\u0301", "\u200b"];
                    while (sb.Length < len) sb.Append(pieces[rng.Next(pieces.Length)]);
                    return sb.ToString();
                }
        }
    }

    static (byte[], string) CorruptText(byte[] b, Random rng)
    {
        if (b.Length == 0) return (b, "empty");
        int at = rng.Next(b.Length);
        switch (rng.Next(5))
        {
            case 0: return (b[..at], $"truncated at byte {at}");
            case 1:
                {
                    var c = (byte[])b.Clone();
                    byte[] bad = [0xFF, 0xFE, 0xC0, 0x80, 0xED, 0xF8];
                    c[at] = bad[rng.Next(bad.Length)];
                    return (c, $"byte {at} = 0x{c[at]:X2}");
                }
            case 2:
                {
                    byte[] ins = [(byte)"{}[],:\"\\0 tn-e."[rng.Next(15)]];
                    return ([.. b[..at], .. ins, .. b[at..]], $"inserted '{(char)ins[0]}' at byte {at}");
                }
            case 3: return ([.. b[..at], .. b[Math.Min(b.Length, at + 1 + rng.Next(8))..]], $"bytes cut at {at}");
            default:
                {
                    // Overlong or surrogate UTF-8 inside a string value.
                    int q = Array.IndexOf(b, (byte)'"', at);
                    if (q < 0) q = at;
                    byte[] seq = rng.Next(2) == 0 ? [0xC0, 0xAF] : [0xED, 0xA0, 0x80];
                    return ([.. b[..(q + 1)], .. seq, .. b[(q + 1)..]], $"invalid UTF-8 after byte {q}");
                }
        }
    }
}
