using System.Text.Json;

namespace Husk.Spec.Json;

/// <summary>The codecs of the model's value kinds: strings, booleans, numbers, lists and maps (objects are <see cref="JsonShape{T}"/>).</summary>
public static class JsonCodecs
{
    public static readonly JsonCodec<string> String = new StringCodec();
    public static readonly JsonCodec<bool> Boolean = new BooleanCodec();
    public static readonly JsonCodec<bool?> NullableBoolean = new NullableCodec<bool>(Boolean);

    // The ranges are exactly what Utf8JsonReader.TryGet* accepts: integers without fraction or exponent, never in strings.
    public static readonly JsonCodec<int> Int32 = new NumberCodec<int>("integer (-2147483648..2147483647)",
        static (ref Utf8JsonReader r, out int v) => r.TryGetInt32(out v), static (w, v) => w.WriteNumberValue(v));
    public static readonly JsonCodec<uint> UInt32 = new NumberCodec<uint>("unsigned integer (0..4294967295)",
        static (ref Utf8JsonReader r, out uint v) => r.TryGetUInt32(out v), static (w, v) => w.WriteNumberValue(v));
    public static readonly JsonCodec<long> Int64 = new NumberCodec<long>("integer (-9223372036854775808..9223372036854775807)",
        static (ref Utf8JsonReader r, out long v) => r.TryGetInt64(out v), static (w, v) => w.WriteNumberValue(v));
    public static readonly JsonCodec<ulong> UInt64 = new NumberCodec<ulong>("unsigned integer (0..18446744073709551615)",
        static (ref Utf8JsonReader r, out ulong v) => r.TryGetUInt64(out v), static (w, v) => w.WriteNumberValue(v));
    public static readonly JsonCodec<ushort> UInt16 = new NumberCodec<ushort>("unsigned integer (0..65535)",
        static (ref Utf8JsonReader r, out ushort v) => r.TryGetUInt16(out v), static (w, v) => w.WriteNumberValue(v));

    public static readonly JsonCodec<int?> NullableInt32 = new NullableCodec<int>(Int32);
    public static readonly JsonCodec<uint?> NullableUInt32 = new NullableCodec<uint>(UInt32);
    public static readonly JsonCodec<long?> NullableInt64 = new NullableCodec<long>(Int64);
    public static readonly JsonCodec<ulong?> NullableUInt64 = new NullableCodec<ulong>(UInt64);
    public static readonly JsonCodec<ushort?> NullableUInt16 = new NullableCodec<ushort>(UInt16);

    /// <summary>
    /// <paramref name="inner"/>, reading a JSON null as the zero value, as Go leaves a value it decodes
    /// null into (the CDI project's files; the OCI model refuses such nulls, as JsonSerializer did).
    /// </summary>
    public static JsonCodec<V> NullAsZero<V>(JsonCodec<V> inner) where V : struct => new NullAsZeroCodec<V>(inner);

    /// <summary>
    /// A JSON array. With <paramref name="absentNullEmpty"/> (the OCI model's rule) null reads as an
    /// empty list, null items as zero values, and an empty list is omitted; without it null stays
    /// null, items stay as read and an empty list is written.
    /// </summary>
    public static JsonCodec<List<V>> ListOf<V>(JsonCodec<V> item, bool absentNullEmpty = true) => new ListCodec<V>(item, absentNullEmpty);

    /// <summary>A JSON object of <paramref name="item"/>s by key, with the same rule as <see cref="ListOf"/>.</summary>
    public static JsonCodec<Dictionary<string, V>> MapOf<V>(JsonCodec<V> item, bool absentNullEmpty = true) => new MapCodec<V>(item, absentNullEmpty);

    /// <summary>What a JSON null item reads as under the OCI rule (<see cref="JsonCodec{V}.ReadItem"/>): "", an empty object, 0.</summary>
    static V ZeroOf<V>(JsonCodec<V> item)
    {
        var reader = new Utf8JsonReader("null"u8);
        reader.Read();
        return item.ReadItem(ref reader);
    }

    internal static string WithArticle(string noun) => (noun[0] is 'a' or 'e' or 'i' or 'o' or 'u' ? "an " : "a ") + noun;

    private sealed class StringCodec : JsonCodec<string>
    {
        public override string Expected => "a string";
        public override string Plural => "strings";

        public override string Read(ref Utf8JsonReader reader) => reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString()!,
            JsonTokenType.Null => null!,
            _ => throw Mismatch(ref reader),
        };

        public override string ReadItem(ref Utf8JsonReader reader) => Read(ref reader) ?? "";

        public override void Write(Utf8JsonWriter writer, string value)
        {
            if (value is null) writer.WriteNullValue();
            else writer.WriteStringValue(value);
        }
    }

    private sealed class BooleanCodec : JsonCodec<bool>
    {
        public override string Expected => "a boolean";
        public override string Plural => "booleans";
        internal override PlainScalar PlainScalar => PlainScalar.Boolean;

        public override bool Read(ref Utf8JsonReader reader) => reader.TokenType switch
        {
            JsonTokenType.True => true,
            JsonTokenType.False => false,
            _ => throw Mismatch(ref reader),
        };

        public override void Write(Utf8JsonWriter writer, bool value) => writer.WriteBooleanValue(value);
    }

    private delegate bool TryRead<V>(ref Utf8JsonReader reader, out V value);

    /// <param name="noun">"unsigned integer (0..4294967295)": the plural goes before the range.</param>
    private sealed class NumberCodec<V>(string noun, TryRead<V> tryRead, Action<Utf8JsonWriter, V> write) : JsonCodec<V>
        where V : struct
    {
        public override string Expected { get; } = WithArticle(noun);
        public override string Plural { get; } = noun.Insert(noun.IndexOf(" (", StringComparison.Ordinal), "s");
        internal override PlainScalar PlainScalar => PlainScalar.Integer;

        public override V Read(ref Utf8JsonReader reader) =>
            reader.TokenType == JsonTokenType.Number && tryRead(ref reader, out V value) ? value : throw Mismatch(ref reader);

        public override void Write(Utf8JsonWriter writer, V value) => write(writer, value);
    }

    private sealed class NullableCodec<V>(JsonCodec<V> inner) : JsonCodec<V?> where V : struct
    {
        public override string Expected => inner.Expected;
        public override string Plural => inner.Plural;
        internal override PlainScalar PlainScalar => inner.PlainScalar;

        public override V? Read(ref Utf8JsonReader reader) =>
            reader.TokenType == JsonTokenType.Null ? null : inner.Read(ref reader);

        public override void Write(Utf8JsonWriter writer, V? value)
        {
            if (value is { } v) inner.Write(writer, v);
            else writer.WriteNullValue();
        }
    }

    private sealed class NullAsZeroCodec<V>(JsonCodec<V> inner) : JsonCodec<V> where V : struct
    {
        public override string Expected => inner.Expected;
        public override string Plural => inner.Plural;
        internal override PlainScalar PlainScalar => inner.PlainScalar;

        public override V Read(ref Utf8JsonReader reader) =>
            reader.TokenType == JsonTokenType.Null ? default : inner.Read(ref reader);

        public override void Write(Utf8JsonWriter writer, V value) => inner.Write(writer, value);
    }

    private sealed class ListCodec<V>(JsonCodec<V> item, bool absentNullEmpty) : JsonCodec<List<V>>
    {
        public override string Expected => "an array of " + item.Plural;
        public override string Plural => "arrays of " + item.Plural;
        internal override JsonCodec Item => item;

        public override List<V> Read(ref Utf8JsonReader reader)
        {
            if (reader.TokenType == JsonTokenType.Null) return absentNullEmpty ? [] : null!;
            if (reader.TokenType != JsonTokenType.StartArray) throw Mismatch(ref reader);
            var list = new List<V>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                try { list.Add(absentNullEmpty ? item.ReadItem(ref reader) : item.Read(ref reader)); }
                catch (JsonMismatchException e) { e.Prepend(list.Count); throw; }
            }
            return list;
        }

        public override void Write(Utf8JsonWriter writer, List<V> value)
        {
            if (value is null) { writer.WriteNullValue(); return; }
            writer.WriteStartArray();
            foreach (var v in value) item.Write(writer, v);
            writer.WriteEndArray();
        }

        public override bool Omits(List<V> value) => value is null || (absentNullEmpty && value.Count == 0);

        public override List<V> Copy(List<V> value) => value?.ConvertAll(v => CopyItem(v))!;

        // A null item reads back as the item's zero value under the OCI rule.
        V CopyItem(V v) => v is null && absentNullEmpty ? ZeroOf(item) : item.Copy(v);
    }

    private sealed class MapCodec<V>(JsonCodec<V> item, bool absentNullEmpty) : JsonCodec<Dictionary<string, V>>
    {
        public override string Expected => "an object of " + item.Plural;
        public override string Plural => "objects of " + item.Plural;
        internal override JsonCodec Member(string name) => item;

        public override Dictionary<string, V> Read(ref Utf8JsonReader reader)
        {
            if (reader.TokenType == JsonTokenType.Null) return absentNullEmpty ? [] : null!;
            if (reader.TokenType != JsonTokenType.StartObject) throw Mismatch(ref reader);
            return Fill(ref reader, new Dictionary<string, V>());
        }

        // Go keeps the entries of a map it decodes into.
        public override Dictionary<string, V> ReadInto(ref Utf8JsonReader reader, Dictionary<string, V> existing) =>
            existing is null || reader.TokenType != JsonTokenType.StartObject ? Read(ref reader) : Fill(ref reader, existing);

        private Dictionary<string, V> Fill(ref Utf8JsonReader reader, Dictionary<string, V> map)
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                string key = reader.GetString()!;
                reader.Read();
                try { map[key] = absentNullEmpty ? item.ReadItem(ref reader) : item.Read(ref reader); }
                catch (JsonMismatchException e) { e.Prepend(key); throw; }
            }
            return map;
        }

        public override void Write(Utf8JsonWriter writer, Dictionary<string, V> map)
        {
            if (map is null) { writer.WriteNullValue(); return; }
            writer.WriteStartObject();
            foreach (var (k, v) in map)
            {
                writer.WritePropertyName(k);
                item.Write(writer, v);
            }
            writer.WriteEndObject();
        }

        public override bool Omits(Dictionary<string, V> map) => map is null || (absentNullEmpty && map.Count == 0);

        public override Dictionary<string, V> Copy(Dictionary<string, V> map)
        {
            if (map is null) return null!;
            var copy = new Dictionary<string, V>(map.Count);
            foreach (var (k, v) in map) copy[k] = CopyItem(v);
            return copy;
        }

        public override Dictionary<string, V> Merge(Dictionary<string, V> current, Dictionary<string, V> changes)
        {
            var merged = Copy(current);
            if (changes is null) return merged;
            foreach (var (k, v) in changes)
            {
                if (v is "") continue;
                merged[k] = v is not null && merged.TryGetValue(k, out var cur) && cur is not null ? item.Merge(cur, v) : CopyItem(v);
            }
            return merged;
        }

        V CopyItem(V v) => v is null && absentNullEmpty ? ZeroOf(item) : item.Copy(v);
    }
}
