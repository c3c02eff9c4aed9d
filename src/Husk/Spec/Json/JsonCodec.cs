using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Husk.Spec.Json;

/// <summary>
/// What a codec reads, without its value type: what a document in a notation whose scalars carry no
/// type (YAML) must become to be read through the codec (<see cref="YamlAsJson"/>).
/// </summary>
public abstract class JsonCodec
{
    /// <summary>What an untyped scalar here is read as, where its text allows.</summary>
    internal virtual PlainScalar PlainScalar => PlainScalar.String;

    /// <summary>The codec of the member or map entry <paramref name="name"/> of the objects this codec reads; null where there is none.</summary>
    internal virtual JsonCodec? Member(string name) => null;

    /// <summary>The codec of the items of the arrays this codec reads; null where it reads none.</summary>
    internal virtual JsonCodec? Item => null;
}

/// <summary>What a codec reads an untyped scalar (a YAML plain scalar) as.</summary>
internal enum PlainScalar { String, Integer, Boolean }

/// <summary>
/// Reads and writes one JSON value as a <typeparamref name="V"/> directly over
/// <see cref="Utf8JsonReader"/> and <see cref="Utf8JsonWriter"/>. Unlike JsonSerializer it builds no
/// metadata at first use (which costs milliseconds in every husk process) and uses no reflection.
/// A JSON null reads as null for reference types too (a codec of <c>string</c> returns null): the
/// model's setters decide what null becomes, as they did under JsonSerializer.
/// </summary>
public abstract class JsonCodec<V> : JsonCodec
{
    /// <summary>What an error says was expected: "an unsigned integer (0..4294967295)".</summary>
    public abstract string Expected { get; }

    /// <summary>The same inside a collection's description: "unsigned integers (0..4294967295)".</summary>
    public abstract string Plural { get; }

    /// <summary>Reads the value whose first token the reader is on; leaves the reader on its last token.</summary>
    public abstract V Read(ref Utf8JsonReader reader);

    /// <summary>
    /// Reads a member's value when the object named that member before (its name in another case): Go
    /// decodes an object into the one already there, so objects and maps merge; anything else replaces it.
    /// </summary>
    public virtual V ReadInto(ref Utf8JsonReader reader, V existing) => Read(ref reader);

    /// <summary>Reads an item of a collection: Go reads a null item as the zero value, so do strings and objects.</summary>
    public virtual V ReadItem(ref Utf8JsonReader reader) => Read(ref reader);

    public abstract void Write(Utf8JsonWriter writer, V value);

    /// <summary>Whether a member holding <paramref name="value"/> is left out of the output (null values are).</summary>
    public virtual bool Omits(V value) => value is null;

    /// <summary>
    /// A deep copy, equal to what writing <paramref name="value"/> and reading it back gives, without
    /// the JSON text. Values (strings, numbers, booleans) are immutable and are their own copy.
    /// </summary>
    public virtual V Copy(V value) => value;

    /// <summary>
    /// <paramref name="current"/> with what <paramref name="changes"/> sets replacing it (a new value;
    /// neither argument changes): objects and maps merge member by member and key by key, recursively;
    /// anything else is replaced. What writing would leave out (null, an empty collection) and an
    /// empty string set nothing, so they keep the current value.
    /// </summary>
    public virtual V Merge(V current, V changes) => Copy(changes);

    /// <summary>Whether <paramref name="changes"/> sets nothing in a <see cref="Merge"/>.</summary>
    internal bool SetsNothing(V changes) => Omits(changes) || changes is "";

    /// <summary>
    /// Reads a whole document: one value and nothing after it; null for a JSON null. A value of the
    /// wrong kind throws a <see cref="JsonException"/> whose message is "{pointer}: expected {what}, got {actual}".
    /// </summary>
    public V? ReadDocument(ReadOnlySpan<byte> utf8, JsonReaderOptions options = default)
    {
        var reader = new Utf8JsonReader(utf8, options);
        try
        {
            reader.Read();
            V value = Read(ref reader);
            reader.Read(); // throws on anything after the value
            return value;
        }
        catch (InvalidOperationException e)
        {
            // A string that is not valid UTF-8 (or a lone surrogate escape): malformed JSON, as JsonSerializer reported it.
            throw new JsonException(e.Message, e);
        }
    }

    /// <param name="options">Writer options; without an encoder, husk's own (<see cref="JsonEscaping"/>).</param>
    public byte[] WriteDocument(V value, JsonWriterOptions options = default)
    {
        options.Encoder ??= JsonEscaping.Instance;
        // Room for a state file or a spec at once: the writer asks for 4 KB more each time it runs
        // short, and each growth is a new array and a copy.
        var buffer = new ArrayBufferWriter<byte>(8192);
        using (var writer = new Utf8JsonWriter(buffer, options)) Write(writer, value);
        return buffer.WrittenSpan.ToArray();
    }

    private protected JsonException Mismatch(ref Utf8JsonReader reader) => JsonMismatchException.Expected(Expected, ref reader);
}

/// <summary>
/// A value of the wrong kind, a number out of range, or a member the model does not have (where a
/// shape refuses those). Each enclosing array and object adds its index or member name on the way
/// out, so the message names the value by its JSON pointer.
/// </summary>
internal sealed class JsonMismatchException(string what) : JsonException
{
    private readonly List<string> _tokensInnermostFirst = [];

    public static JsonMismatchException Expected(string expected, ref Utf8JsonReader reader) =>
        new($"expected {expected}, got {Describe(ref reader)}");

    public void Prepend(string token) => _tokensInnermostFirst.Add(token);

    public void Prepend(int index) => Prepend(index.ToString(CultureInfo.InvariantCulture));

    public override string Message => $"{Pointer()}: {what}";

    private string Pointer()
    {
        if (_tokensInnermostFirst.Count == 0) return "/";
        var sb = new StringBuilder();
        for (int i = _tokensInnermostFirst.Count - 1; i >= 0; i--) sb.Append('/').Append(ErrorText.EscapePointer(_tokensInnermostFirst[i]));
        return sb.ToString();
    }

    private static string Describe(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => ShortString(ref reader) is { } s ? $"the string {ErrorText.Quote(s)}" : "a string",
        JsonTokenType.Number => reader.ValueSpan.Length <= 40 ? Encoding.UTF8.GetString(reader.ValueSpan) : "a number",
        JsonTokenType.True => "true",
        JsonTokenType.False => "false",
        JsonTokenType.Null => "null",
        _ => "an invalid value",
    };

    // Strings up to 40 characters are shown; 40 characters take at most 240 bytes (escaped), so longer ones are not decoded.
    private static string? ShortString(ref Utf8JsonReader reader) =>
        reader.ValueSpan.Length <= 240 && reader.GetString() is { Length: <= 40 } s ? s : null;
}
