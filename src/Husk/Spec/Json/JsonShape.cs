using System.Text.Json;

namespace Husk.Spec.Json;

/// <summary>
/// A model class as a JSON object: its one table of members, in declaration order (the order they
/// are written in). Reading ignores unknown members and matches names case-sensitively; a JSON null
/// reads as null (an empty object inside a collection, as Go reads it).
/// </summary>
public sealed class JsonShape<T> : JsonCodec<T>, IJsonShape where T : class, new()
{
    private readonly JsonMember<T>[] _members;

    /// <param name="members">Builds the table: <c>m => [m.String("ociVersion", s => s.OCIVersion, (s, v) => s.OCIVersion = v), ...]</c>.</param>
    public JsonShape(Func<JsonMembers<T>, JsonMember<T>[]> members) => _members = members(default);

    public IReadOnlyList<IJsonMember> Members => _members;

    public override string Expected => "an object";
    public override string Plural => "objects";

    public override T Read(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null) return null!;
        if (reader.TokenType != JsonTokenType.StartObject) throw Mismatch(ref reader);
        var value = new T();
        int next = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = Find(ref reader, ref next);
            reader.Read();
            if (member is null) { reader.Skip(); continue; }
            try { member.Read(ref reader, value); }
            catch (JsonMismatchException e) { e.Prepend(member.Name); throw; }
        }
        return value;
    }

    public override T ReadItem(ref Utf8JsonReader reader) => Read(ref reader) ?? new T();

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
    private JsonMember<T>? Find(ref Utf8JsonReader reader, ref int next)
    {
        for (int i = 0; i < _members.Length; i++)
        {
            int k = next + i < _members.Length ? next + i : next + i - _members.Length;
            if (reader.ValueTextEquals(_members[k].Utf8Name))
            {
                next = k + 1;
                return _members[k];
            }
        }
        return null;
    }
}

/// <summary>A shape's members without its type parameter, for code that walks the model by JSON name.</summary>
public interface IJsonShape
{
    IReadOnlyList<IJsonMember> Members { get; }
}
