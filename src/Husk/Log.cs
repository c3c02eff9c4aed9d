using System.Text;
using System.Text.Json;

namespace Husk;

/// <summary>
/// Husk's log: text to stderr by default; with --log FILE, lines go to the file, and with
/// --log-format json each line is {"level","msg","time"} as containerd's runc client parses.
/// </summary>
public static class Log
{
    static string? _path;
    static bool _json;
    static bool _debug;

    public static void Configure(string? path, bool json, bool debug)
    {
        _path = string.IsNullOrEmpty(path) ? null : path;
        _json = json;
        _debug = debug;
    }

    public static bool DebugEnabled => _debug;
    /// <summary>True when log lines go to a file rather than stderr.</summary>
    public static bool ToFile => _path != null;

    public static void Debug(string msg) { if (_debug) Write("debug", msg); }
    public static void Info(string msg) => Write("info", msg);
    public static void Warn(string msg) => Write("warning", msg);
    public static void Error(string msg) => Write("error", msg);

    static void Write(string level, string msg)
    {
        var time = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ");
        string line;
        if (_json)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = Spec.Json.JsonEscaping.Instance }))
            {
                w.WriteStartObject();
                w.WriteString("level", level);
                w.WriteString("msg", msg);
                w.WriteString("time", time);
                w.WriteEndObject();
            }
            line = Encoding.UTF8.GetString(ms.ToArray());
        }
        else line = $"time=\"{time}\" level={level} msg=\"{msg.Replace("\"", "\\\"")}\"";

        try
        {
            if (_path != null) File.AppendAllText(_path, line + "\n");
            else if (level != "error") Console.Error.WriteLine(line); // errors reach stderr once, from the CLI
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
