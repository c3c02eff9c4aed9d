using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Husk.Spec.Json;
using Xunit;

namespace Husk.Tests.Spec;

/// <summary>husk's JSON escaping writes what the encoder it replaced wrote (UnsafeRelaxedJsonEscaping).</summary>
public class JsonEscapingTests
{
    static string Written(JavaScriptEncoder encoder, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = encoder })) write(writer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    static void SameAsRelaxed(string text)
    {
        Assert.Equal(Written(JavaScriptEncoder.UnsafeRelaxedJsonEscaping, w => w.WriteStringValue(text)),
            Written(JsonEscaping.Instance, w => w.WriteStringValue(text)));
        // The same text given as UTF-8, and as a property name.
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        Assert.Equal(Written(JavaScriptEncoder.UnsafeRelaxedJsonEscaping, w => w.WriteStringValue(utf8)),
            Written(JsonEscaping.Instance, w => w.WriteStringValue(utf8)));
        Assert.Equal(Written(JavaScriptEncoder.UnsafeRelaxedJsonEscaping, w => { w.WriteStartObject(); w.WriteString(text, 1.ToString()); w.WriteEndObject(); }),
            Written(JsonEscaping.Instance, w => { w.WriteStartObject(); w.WriteString(text, 1.ToString()); w.WriteEndObject(); }));
    }

    [Fact]
    public void Every_character_of_the_basic_plane_is_escaped_as_before()
    {
        var differ = new List<string>();
        for (int c = 0; c <= 0xFFFF; c++)
        {
            if (char.IsSurrogate((char)c)) continue;
            string text = $"a{(char)c}b";
            if (Written(JavaScriptEncoder.UnsafeRelaxedJsonEscaping, w => w.WriteStringValue(text)) != Written(JsonEscaping.Instance, w => w.WriteStringValue(text)))
                differ.Add($"U+{c:X4}");
        }
        Assert.True(differ.Count == 0, string.Join(" ", differ));
    }

    [Theory]
    [InlineData("plain /path/to/rootfs")]
    [InlineData("quote \" backslash \\ newline \n tab \t bell \u0007 del \u007F")]
    [InlineData("<html> & 'apostrophe' + `tick`")]
    [InlineData("caf\u00e9 \u4e2d\u6587 \u00a0nbsp \u200b\u202e\ufeff \u2028\u2029")]
    [InlineData("emoji \U0001F600 and \U0010FFFF")]
    [InlineData("")]
    public void Text_is_escaped_as_before(string text) => SameAsRelaxed(text);

    [Fact]
    public void A_lone_surrogate_becomes_the_replacement_character_as_before()
    {
        SameAsRelaxed("lone \ud800 high");
        SameAsRelaxed("lone \udc00 low");
        Assert.Contains("\\uFFFD", Written(JsonEscaping.Instance, w => w.WriteStringValue("x\ud800")));
    }
}
