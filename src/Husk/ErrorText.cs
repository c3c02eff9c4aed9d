using System.Globalization;
using System.Text;

namespace Husk;

/// <summary>
/// Pieces of one-line error messages that show what a user wrote (a value, a JSON pointer, another
/// library's message), shared by the OCI spec and CDI readers and validators, so every message
/// stays one line whatever the input held.
/// </summary>
public static class ErrorText
{
    /// <summary>Another library's message on one line, at most 300 characters.</summary>
    public static string OneLine(string s)
    {
        s = s.ReplaceLineEndings(" ").Trim();
        return s.Length > 300 ? s[..300] + "..." : s;
    }

    /// <summary>Escapes one JSON pointer token (RFC 6901: "~" → "~0", "/" → "~1"), shortened and printable.</summary>
    public static string EscapePointer(string token) => Short(token.Replace("~", "~0").Replace("/", "~1"));

    /// <summary>
    /// A value as an error message may show it: in double quotes, at most <paramref name="max"/>
    /// characters, with control characters, quotes and backslashes escaped as in JSON.
    /// </summary>
    public static string Quote(string s, int max = 80) =>
        "\"" + Printable(s.Length > max ? s[..max] : s, escapeQuotes: true) + (s.Length > max ? "...\"" : "\"");

    private static string Short(string s) => Printable(s.Length > 80 ? s[..80] + "..." : s);

    private static string Printable(string s, bool escapeQuotes = false)
    {
        bool clean = true;
        foreach (char c in s) if (char.IsControl(c) || c is '\u2028' or '\u2029' || (escapeQuotes && c is '"' or '\\')) { clean = false; break; }
        if (clean) return s;
        var sb = new StringBuilder(s.Length + 8);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '"' when escapeQuotes: sb.Append("\\\""); break;
                case '\\' when escapeQuotes: sb.Append("\\\\"); break;
                default:
                    if (char.IsControl(c) || c is '\u2028' or '\u2029') sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }
}
