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
    private readonly JsonMember<T>[] _members;
    private readonly bool _refusesUnknown;

    /// <param name="members">Builds the table: <c>m => [m.String("ociVersion", s => s.OCIVersion, (s, v) => s.OCIVersion = v), ...]</c>.</param>
    /// <param name="refusesUnknown">Whether a member not in the table is an error rather than skipped.</param>
    public JsonShape(Func<JsonMembers<T>, JsonMember<T>[]> members, bool refusesUnknown = false)
    {
        _members = members(default);
        _refusesUnknown = refusesUnknown;
    }

    public IReadOnlyList<IJsonMember> Members => _members;

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
        Span<bool> seen = stackalloc bool[_members.Length];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            int k = Find(ref reader, ref next);
            if (k < 0 && _refusesUnknown) throw Unknown(reader.GetString()!);
            reader.Read();
            if (k < 0) { reader.Skip(); continue; }
            var member = _members[k];
            try { member.Read(ref reader, value, seen[k]); }
            catch (JsonMismatchException e) { e.Prepend(member.Name); throw; }
            seen[k] = true;
        }
        return value;
    }

    private JsonMismatchException Unknown(string name)
    {
        // A loop, not _members.Select(m => m.Name): Linq over JsonMember<T>[] instantiates List<>,
        // ArrayPool<>, comparers... per shape, ~10 static bases each that every process allocates at start.
        var names = new string[_members.Length];
        for (int i = 0; i < names.Length; i++) names[i] = _members[i].Name;
        var e = new JsonMismatchException($"unknown field {ErrorText.Quote(name)} (known: {string.Join(", ", names)})");
        e.Prepend(name);
        return e;
    }

    public override T ReadItem(ref Utf8JsonReader reader) => Read(ref reader) ?? new T();

    internal override JsonCodec? Member(string name) => IndexOf(name) is int k and >= 0 ? _members[k].Codec : null;

    public override void Write(Utf8JsonWriter writer, T value)
    {
        if (value is null) { writer.WriteNullValue(); return; }
        writer.WriteStartObject();
        foreach (var member in _members) member.Write(writer, value);
        writer.WriteEndObject();
    }

    public override T Copy(T value)
    {
        if (value is null) return null!;
        var copy = new T();
        foreach (var member in _members) member.Copy(value, copy);
        return copy;
    }

    public override T Merge(T current, T changes)
    {
        if (current is null) return Copy(changes);
        var merged = Copy(current);
        if (changes is not null) foreach (var member in _members) member.Merge(merged, changes);
        return merged;
    }

    // Documents list members mostly in declaration order, so the search starts after the last match.
    // The index of the member the property names, or -1.
    private int Find(ref Utf8JsonReader reader, ref int next)
    {
        for (int i = 0; i < _members.Length; i++)
        {
            int k = next + i < _members.Length ? next + i : next + i - _members.Length;
            if (reader.ValueTextEquals(_members[k].Utf8Name))
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
        for (int k = 0; k < _members.Length; k++)
            if (_members[k].Name == name) return k;
        return FoldedIndexOf(name);
    }

    private int FoldedIndexOf(string name)
    {
        for (int k = 0; k < _members.Length; k++)
            if (GoFoldEquals(name, _members[k].Name)) return k;
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
