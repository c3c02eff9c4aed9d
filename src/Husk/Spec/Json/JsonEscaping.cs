using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;

namespace Husk.Spec.Json;

/// <summary>
/// The escaping of every JSON husk writes, byte for byte what
/// <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/> wrote before it (the golden files of
/// the JSON tests): <c>"</c>, <c>\</c>, control characters, the byte order mark, line and
/// paragraph separators, spaces other than U+0020, private-use and unassigned code points, and everything
/// beyond U+FFFF (as a surrogate pair) are escaped; all other text, non-ASCII included, is written
/// as it is. Ill-formed text (a lone surrogate) becomes <c>\uFFFD</c>.
/// Why not that encoder: its first use builds two encoders' tables of allowed characters (two
/// 64K-bit maps each, ~36 KB of fresh memory and the CPU to fill them) in every husk process that
/// writes a state file; this one asks <see cref="CharUnicodeInfo"/> only about non-ASCII text.
/// </summary>
public sealed class JsonEscaping : JavaScriptEncoder
{
    public static readonly JsonEscaping Instance = new();

    JsonEscaping() { }

    public override int MaxOutputCharactersPerInputCharacter => 6; // \uXXXX

    public override bool WillEncode(int unicodeScalar)
    {
        if (unicodeScalar < 0x80) return unicodeScalar < 0x20 || unicodeScalar is '"' or '\\' or 0x7F;
        if (unicodeScalar is > 0xFFFF or 0xFEFF) return true; // (a byte order mark, as that encoder)
        return CharUnicodeInfo.GetUnicodeCategory(unicodeScalar) is UnicodeCategory.Control
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator;
    }

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        for (int i = 0; i < textLength; i++)
        {
            char c = text[i];
            if (char.IsSurrogate(c) || WillEncode(c)) return i; // a pair is beyond U+FFFF: escaped too
        }
        return -1;
    }

    public override int FindFirstCharacterToEncodeUtf8(ReadOnlySpan<byte> utf8Text)
    {
        for (int i = 0; i < utf8Text.Length;)
        {
            byte b = utf8Text[i];
            if (b < 0x80)
            {
                if (WillEncode(b)) return i;
                i++;
                continue;
            }
            if (Rune.DecodeFromUtf8(utf8Text[i..], out var rune, out int length) != OperationStatus.Done || WillEncode(rune.Value)) return i;
            i += length;
        }
        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        char shortForm = unicodeScalar switch
        {
            '"' => '"', '\\' => '\\', '\b' => 'b', '\f' => 'f', '\n' => 'n', '\r' => 'r', '\t' => 't', _ => '\0',
        };
        var output = new Span<char>(buffer, bufferLength);
        if (shortForm != '\0')
        {
            numberOfCharactersWritten = 2;
            if (output.Length < 2) return false;
            output[0] = '\\';
            output[1] = shortForm;
            return true;
        }
        numberOfCharactersWritten = 0;
        Span<char> utf16 = stackalloc char[2];
        int units = new Rune(Rune.IsValid(unicodeScalar) ? unicodeScalar : 0xFFFD).EncodeToUtf16(utf16);
        if (output.Length < 6 * units) return false;
        for (int u = 0; u < units; u++)
        {
            var escape = output.Slice(6 * u, 6);
            escape[0] = '\\';
            escape[1] = 'u';
            for (int d = 0; d < 4; d++) escape[2 + d] = "0123456789ABCDEF"[(utf16[u] >> (12 - 4 * d)) & 0xF];
        }
        numberOfCharactersWritten = 6 * units;
        return true;
    }
}
