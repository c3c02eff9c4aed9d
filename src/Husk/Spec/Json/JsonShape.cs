using System.Text.Json;

namespace Husk.Spec.Json;

/// <summary>
/// A model class as a JSON object: its one table of members, in declaration order (the order they
/// are written in). Reading matches names as Go's encoding/json does (runc reads config.json and
/// `update -r` with it, the CDI project its spec files): the exact name, else the name in any case; a
/// member named twice that way merges as Go merges it (<see cref="JsonCodec{V}.ReadInto"/>). Unknown
/// members are ignored, or refused where the shape says so (CDI reads strictly, as Go's
/// DisallowUnknownFields). A JSON null reads as null (an empty object inside a collection, as Go reads it).
/// </summary>
public sealed class JsonShape<T> : JsonCodec<T>, IJsonShape where T : class, new()
{
    private readonly Func<JsonMembers<T>, JsonMember<T>[]> _build;
    private JsonMember<T>[]? _table;
    private readonly bool _refusesUnknown;

    /// <summary>
    /// The members, built when the shape is first used: building every shape of the spec model at
    /// start costs most commands ~0.5 ms of delegates and code for sections their JSON does not have.
    /// (Built twice at worst by racing threads; the result is the same.)
    /// </summary>
    private JsonMember<T>[] MemberTable => _table ??= _build(default);

    /// <param name="members">Builds the table: <c>m => [m.String("ociVersion", s => s.OCIVersion, (s, v) => s.OCIVersion = v), ...]</c>.</param>
    /// <param name="refusesUnknown">Whether a member not in the table is an error rather than skipped.</param>
    public JsonShape(Func<JsonMembers<T>, JsonMember<T>[]> members, bool refusesUnknown = false)
    {
        _build = members;
        _refusesUnknown = refusesUnknown;
    }

    public IReadOnlyList<IJsonMember> Members => MemberTable;

    public override string Expected => "an object";
    public override string Plural => "objects";

    public override T Read(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null) return null!;
        if (reader.TokenType != JsonTokenType.StartObject) throw Mismatch(ref reader);
        return Fill(ref reader, new T());
    }

    public override T ReadInto(ref Utf8JsonReader reader, T existing) =>
        existing is null || reader.TokenType != JsonTokenType.StartObject ? Read(ref reader) : Fill(ref reader, existing);

    private T Fill(ref Utf8JsonReader reader, T value)
    {
        int next = 0;
        Span<bool> seen = stackalloc bool[MemberTable.Length];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            int k = Find(ref reader, ref next);
            if (k < 0 && _refusesUnknown) throw Unknown(reader.GetString()!);
            reader.Read();
            if (k < 0) { reader.Skip(); continue; }
            var member = MemberTable[k];
            try { member.Read(ref reader, value, seen[k]); }
            catch (JsonMismatchException e) { e.Prepend(member.Name); throw; }
            seen[k] = true;
        }
        return value;
    }

    private JsonMismatchException Unknown(string name)
    {
        // A loop, not MemberTable.Select(m => m.Name): Linq over JsonMember<T>[] instantiates List<>,
        // ArrayPool<>, comparers... per shape, ~10 static bases each that every process allocates at start.
        var names = new string[MemberTable.Length];
        for (int i = 0; i < names.Length; i++) names[i] = MemberTable[i].Name;
        var e = new JsonMismatchException($"unknown field {ErrorText.Quote(name)} (known: {string.Join(", ", names)})");
        e.Prepend(name);
        return e;
    }

    public override T ReadItem(ref Utf8JsonReader reader) => Read(ref reader) ?? new T();

    internal override JsonCodec? Member(string name) => IndexOf(name) is int k and >= 0 ? MemberTable[k].Codec : null;

    public override void Write(Utf8JsonWriter writer, T value)
    {
        if (value is null) { writer.WriteNullValue(); return; }
        writer.WriteStartObject();
        foreach (var member in MemberTable) member.Write(writer, value);
        writer.WriteEndObject();
    }

    public override T Copy(T value)
    {
        if (value is null) return null!;
        var copy = new T();
        foreach (var member in MemberTable) member.Copy(value, copy);
        return copy;
    }

    public override T Merge(T current, T changes)
    {
        if (current is null) return Copy(changes);
        var merged = Copy(current);
        if (changes is not null) foreach (var member in MemberTable) member.Merge(merged, changes);
        return merged;
    }

    // Documents list members mostly in declaration order, so the search starts after the last match.
    // The index of the member the property names, or -1.
    private int Find(ref Utf8JsonReader reader, ref int next)
    {
        for (int i = 0; i < MemberTable.Length; i++)
        {
            int k = next + i < MemberTable.Length ? next + i : next + i - MemberTable.Length;
            if (reader.ValueTextEquals(MemberTable[k].Utf8Name))
            {
                next = k + 1;
                return k;
            }
        }
        return FoldedIndexOf(reader.GetString()!);
    }

    // The index of the member named exactly name, else in other case; -1 when none is.
    private int IndexOf(string name)
    {
        for (int k = 0; k < MemberTable.Length; k++)
            if (MemberTable[k].Name == name) return k;
        return FoldedIndexOf(name);
    }

    private int FoldedIndexOf(string name)
    {
        for (int k = 0; k < MemberTable.Length; k++)
            if (GoFoldEquals(name, MemberTable[k].Name)) return k;
        return -1;
    }

    /// <summary>
    /// Whether <paramref name="key"/> is the (ASCII) member name <paramref name="name"/> in other case, as
    /// Go's encoding/json folds it: ASCII letters, and the Kelvin sign and the long s, which fold to k and s.
    /// </summary>
    internal static bool GoFoldEquals(string key, string name)
    {
        if (key.Length != name.Length) return false;
        for (int i = 0; i < key.Length; i++)
        {
            char k = key[i], n = name[i];
            if (k == n) continue;
            char lower = char.IsAsciiLetter(n) ? (char)(n | 0x20) : '\0';
            if (lower == 0) return false;
            if (char.IsAsciiLetter(k) && (k | 0x20) == lower) continue;
            if ((k == '\u212A' && lower == 'k') || (k == '\u017F' && lower == 's')) continue;
            return false;
        }
        return true;
    }
}

/// <summary>A shape's members without its type parameter, for code that walks the model by JSON name.</summary>
public interface IJsonShape
{
    IReadOnlyList<IJsonMember> Members { get; }
}
