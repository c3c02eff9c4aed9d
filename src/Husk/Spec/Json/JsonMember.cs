using System.Text;
using System.Text.Json;

namespace Husk.Spec.Json;

/// <summary>One JSON member of a <see cref="JsonShape{T}"/>: its name, and how to read it into and write it from a <typeparamref name="T"/>.</summary>
public abstract class JsonMember<T> : IJsonMember
{
    private protected JsonMember(string name)
    {
        Name = name;
        Utf8Name = Encoding.UTF8.GetBytes(name);
    }

    public string Name { get; }
    internal byte[] Utf8Name { get; }
    public abstract Type ValueType { get; }
    internal abstract JsonCodec Codec { get; }

    /// <summary>
    /// Reads the member's value (the reader is on its first token) and sets it; <paramref name="again"/>
    /// when the object named the member before, so the value merges into what was read (<see cref="JsonCodec{V}.ReadInto"/>).
    /// </summary>
    internal abstract void Read(ref Utf8JsonReader reader, T owner, bool again);

    /// <summary>Writes the name and value, unless the value is one the member omits.</summary>
    internal abstract void Write(Utf8JsonWriter writer, T owner);

    public abstract object? GetValue(object owner);

    /// <summary>Sets on <paramref name="to"/> a copy of the value of <paramref name="from"/>, unless writing would leave it out.</summary>
    internal abstract void Copy(T from, T to);

    /// <summary>Merges the value <paramref name="changes"/> sets into <paramref name="target"/> (see <see cref="JsonCodec{V}.Merge"/>).</summary>
    internal abstract void Merge(T target, T changes);
}

/// <summary>A member's name, .NET type and value, without the owner's type parameter.</summary>
public interface IJsonMember
{
    string Name { get; }
    Type ValueType { get; }
    object? GetValue(object owner);
}

/// <summary>Makes the members of <typeparamref name="T"/>'s table (the parameter of <see cref="JsonShape{T}"/>'s constructor).</summary>
public readonly struct JsonMembers<T>
{
    /// <summary>A string; JSON null goes to the setter as null (the model turns it into "" or keeps it).</summary>
    public JsonMember<T> String(string name, Func<T, string?> get, Action<T, string> set) => Value(name, get, set, JsonCodecs.String);

    /// <summary>
    /// A value of any kind: a <see cref="JsonCodecs"/> number or boolean, or a nested <see cref="JsonShape{T}"/>.
    /// Null values are not written; with <paramref name="omitDefault"/> neither is the default (0, false).
    /// </summary>
    public JsonMember<T> Value<V>(string name, Func<T, V?> get, Action<T, V> set, JsonCodec<V> codec, bool omitDefault = false) =>
        new JsonMember<T, V>(name, get, set, codec, omitDefault);

    /// <summary>A list (see <see cref="JsonCodecs.ListOf"/> for <paramref name="absentNullEmpty"/>).</summary>
    public JsonMember<T> List<V>(string name, Func<T, List<V>?> get, Action<T, List<V>> set, JsonCodec<V> item, bool absentNullEmpty = true) =>
        Value(name, get, set, JsonCodecs.ListOf(item, absentNullEmpty));

    /// <summary>A map from string keys (see <see cref="JsonCodecs.MapOf"/> for <paramref name="absentNullEmpty"/>).</summary>
    public JsonMember<T> Map<V>(string name, Func<T, Dictionary<string, V>?> get, Action<T, Dictionary<string, V>> set, JsonCodec<V> item, bool absentNullEmpty = true) =>
        Value(name, get, set, JsonCodecs.MapOf(item, absentNullEmpty));
}

internal sealed class JsonMember<T, V>(string name, Func<T, V?> get, Action<T, V> set, JsonCodec<V> codec, bool omitDefault) : JsonMember<T>(name)
{
    public override Type ValueType => typeof(V);
    internal override JsonCodec Codec => codec;

    internal override void Read(ref Utf8JsonReader reader, T owner, bool again) =>
        set(owner, again ? codec.ReadInto(ref reader, get(owner)!) : codec.Read(ref reader));

    internal override void Write(Utf8JsonWriter writer, T owner)
    {
        V value = get(owner)!;
        if (codec.Omits(value) || (omitDefault && EqualityComparer<V>.Default.Equals(value, default))) return;
        writer.WritePropertyName(Utf8Name);
        codec.Write(writer, value);
    }

    public override object? GetValue(object owner) => get((T)owner);

    // What writing leaves out is not set, so the target keeps the value a fresh object has, as after a read.
    bool Omitted(V value) => codec.Omits(value) || (omitDefault && EqualityComparer<V>.Default.Equals(value, default));

    internal override void Copy(T from, T to)
    {
        V value = get(from)!;
        if (!Omitted(value)) set(to, codec.Copy(value));
    }

    internal override void Merge(T target, T changes)
    {
        V value = get(changes)!;
        if (Omitted(value) || codec.SetsNothing(value)) return;
        V current = get(target)!;
        set(target, Omitted(current) ? codec.Copy(value) : codec.Merge(current, value));
    }
}
