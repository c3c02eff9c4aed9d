using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Husk.Spec;

namespace Husk.Checkpoint;

/// <summary>One place where the restore spec differs from the checkpointed one.</summary>
/// <param name="Path">JSON pointer into the spec ("/linux/sysctl/net.ipv4.ip_forward"); items of keyed lists are
/// addressed by their index in the checkpointed spec (in the restore spec when only there).</param>
/// <param name="Checkpointed">The checkpointed value as compact JSON, or "absent".</param>
/// <param name="Restore">The restore value as compact JSON, or "absent".</param>
/// <param name="Allowed">True when the rule table allows this difference.</param>
/// <param name="Why">Why the difference matters (or why it may differ).</param>
public sealed record SpecDifference(string Path, string Checkpointed, string Restore, bool Allowed, string Why)
{
    public const string Absent = "absent";

    public override string ToString() => $"{Path}: checkpointed {Checkpointed}, restore {Restore} ({Why})";
}

/// <summary>The outcome of <see cref="SpecComparer.Compare(Spec.Spec, Spec.Spec)"/>.</summary>
public sealed class SpecComparison
{
    public required IReadOnlyList<SpecDifference> Differences { get; init; }

    /// <summary>Differences that refuse the restore.</summary>
    public IReadOnlyList<SpecDifference> Incompatible => Differences.Where(d => !d.Allowed).ToList();

    public bool Compatible => Differences.All(d => d.Allowed);

    /// <summary>The one-line error of an incompatible comparison.</summary>
    public string ErrorMessage()
    {
        var bad = Incompatible;
        return bad.Count == 1
            ? $"the restore spec is not compatible with the checkpoint: {bad[0]}"
            : $"the restore spec is not compatible with the checkpoint: {bad.Count} differences: {string.Join("; ", bad)}";
    }

    /// <summary>The report `restore --dry-run` prints: one line per difference and a verdict.</summary>
    public string Report()
    {
        var sb = new StringBuilder();
        foreach (var d in Differences)
            sb.Append($"{(d.Allowed ? "allowed" : "differs")}  {d.Path}  checkpointed {d.Checkpointed}  restore {d.Restore}  ({d.Why})\n");
        int bad = Incompatible.Count, ok = Differences.Count - bad;
        sb.Append(bad == 0
            ? $"compatible: the restore spec matches the checkpoint{(ok > 0 ? $" ({ok} allowed difference{(ok == 1 ? "" : "s")})" : "")}\n"
            : $"incompatible: {bad} difference{(bad == 1 ? "" : "s")} refuse{(bad == 1 ? "s" : "")} the restore{(ok > 0 ? $" ({ok} allowed)" : "")}\n");
        return sb.ToString();
    }
}

/// <summary>
/// Compares the spec at restore with the spec at checkpoint, field by field over the whole model,
/// driven by <see cref="CompatibilityRules.Table"/>. Both specs are serialised with
/// <see cref="SpecJson"/> and normalised (null, "", [] and {} members removed, bottom-up), so
/// absent, null and empty are the same everywhere; then the two JSON trees are walked together.
/// Every difference is reported with its JSON pointer, both values as JSON ("absent" when not
/// there) and why it matters: the gVisor failure "checkpoint map[] restore map[]" cannot happen.
/// </summary>
public static class SpecComparer
{
    static readonly JsonSerializerOptions PrintOptions = new() { Encoder = Spec.Json.JsonEscaping.Instance };

    public static SpecComparison Compare(Spec.Spec checkpointed, Spec.Spec restore) =>
        Compare(Normalize(checkpointed), Normalize(restore));

    /// <summary>Compares two already normalised trees (<see cref="Normalize(Spec.Spec)"/>).</summary>
    public static SpecComparison Compare(JsonNode? checkpointed, JsonNode? restore)
    {
        var diffs = new List<SpecDifference>();
        Walk([], checkpointed, restore, diffs);
        return new SpecComparison { Differences = diffs };
    }

    /// <summary>The spec as a JSON tree with every null, "", [] and {} object member removed.</summary>
    public static JsonNode? Normalize(Spec.Spec spec) => Normalize(JsonNode.Parse(SpecJson.SerializeToUtf8(spec)));

    public static JsonNode? Normalize(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (k, v) in o.ToList())
                {
                    var n = Normalize(v);
                    if (IsEmpty(n)) o.Remove(k);
                    else if (!ReferenceEquals(n, v)) o[k] = n;
                }
                return o;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++) Normalize(a[i]);
                return a;
            default:
                return node;
        }
    }

    static bool IsEmpty(JsonNode? n) => n switch
    {
        null => true,
        JsonObject o => o.Count == 0,
        JsonArray a => a.Count == 0,
        JsonValue v => v.GetValueKind() == JsonValueKind.String && v.GetValue<string>().Length == 0,
        _ => false,
    };

    /// <summary>A value as the report prints it: compact JSON, or "absent".</summary>
    public static string Print(JsonNode? n) => n is null ? SpecDifference.Absent : n.ToJsonString(PrintOptions);

    /// <summary>A JSON pointer from unescaped segments.</summary>
    public static string Pointer(IEnumerable<string> segments)
    {
        var sb = new StringBuilder();
        foreach (var s in segments) sb.Append('/').Append(s.Replace("~", "~0").Replace("/", "~1"));
        return sb.Length == 0 ? "/" : sb.ToString();
    }

    static void Walk(List<string> path, JsonNode? a, JsonNode? b, List<SpecDifference> diffs)
    {
        var (rule, depth) = CompatibilityRules.Find(path);
        bool exact = depth == path.Count && depth > 0;
        if (rule.Kind == RuleKind.Allowed)
        {
            if (!JsonNode.DeepEquals(a, b)) diffs.Add(new(Pointer(path), Print(a), Print(b), true, rule.Why));
            return;
        }
        if (exact && rule.Kind == RuleKind.Unordered && a is not JsonObject && b is not JsonObject)
        {
            if (!SameMultiset(a as JsonArray, b as JsonArray, a, b))
                diffs.Add(new(Pointer(path), Print(a), Print(b), false, rule.Why));
            return;
        }
        if (exact && rule.Kind == RuleKind.Keyed && rule.Key is { } key && (a is JsonArray || b is JsonArray) && a is not JsonObject && b is not JsonObject)
        {
            WalkKeyed(path, a as JsonArray, b as JsonArray, key, a, b, rule, diffs);
            return;
        }
        switch (a, b)
        {
            case (JsonObject oa, JsonObject ob):
                foreach (var k in oa.Select(kv => kv.Key).Concat(ob.Select(kv => kv.Key).Where(k => !oa.ContainsKey(k))))
                {
                    path.Add(k);
                    Walk(path, oa[k], ob[k], diffs);
                    path.RemoveAt(path.Count - 1);
                }
                return;
            case (JsonArray la, JsonArray lb):
                for (int i = 0; i < Math.Max(la.Count, lb.Count); i++)
                {
                    path.Add(i.ToString());
                    Walk(path, i < la.Count ? la[i] : null, i < lb.Count ? lb[i] : null, diffs);
                    path.RemoveAt(path.Count - 1);
                }
                return;
            case (JsonObject oa, null):
                // A whole object on one side only: compare member by member, so allowed members
                // (an annotation, a mount's source) stay allowed and each strict one is named.
                Walk(path, oa, new JsonObject(), diffs);
                return;
            case (null, JsonObject ob):
                Walk(path, new JsonObject(), ob, diffs);
                return;
            default:
                if (!JsonNode.DeepEquals(a, b)) diffs.Add(new(Pointer(path), Print(a), Print(b), false, rule.Why));
                return;
        }
    }

    static bool SameMultiset(JsonArray? la, JsonArray? lb, JsonNode? a, JsonNode? b)
    {
        if (la is null && a is not null || lb is null && b is not null) return JsonNode.DeepEquals(a, b);
        var xa = (la ?? []).Select(Print).Order(StringComparer.Ordinal);
        var xb = (lb ?? []).Select(Print).Order(StringComparer.Ordinal);
        return xa.SequenceEqual(xb);
    }

    /// <summary>A list of objects matched by a key member; unmatched items are differences with the other side absent.</summary>
    static void WalkKeyed(List<string> path, JsonArray? la, JsonArray? lb, string key, JsonNode? a, JsonNode? b, CompatRule rule, List<SpecDifference> diffs)
    {
        la ??= [];
        lb ??= [];
        string KeyOf(JsonNode? n) => n is JsonObject o && o[key] is JsonNode k ? Print(k) : Print(n);
        var used = new bool[lb.Count];
        for (int i = 0; i < la.Count; i++)
        {
            string k = KeyOf(la[i]);
            int j = -1;
            for (int t = 0; t < lb.Count; t++)
                if (!used[t] && KeyOf(lb[t]) == k) { j = t; break; }
            if (j >= 0) used[j] = true;
            path.Add(i.ToString());
            if (j >= 0) Walk(path, la[i], lb[j], diffs);
            else diffs.Add(new(Pointer(path), Print(la[i]), SpecDifference.Absent, false, rule.Why));
            path.RemoveAt(path.Count - 1);
        }
        for (int t = 0; t < lb.Count; t++)
        {
            if (used[t]) continue;
            path.Add(t.ToString());
            diffs.Add(new(Pointer(path), SpecDifference.Absent, Print(lb[t]), false, rule.Why));
            path.RemoveAt(path.Count - 1);
        }
    }
}
