using System.Text;

namespace Husk.Rootfs;

/// <summary>One line of /proc/self/mountinfo (proc(5)).</summary>
public sealed record MountInfoEntry(string Root, string MountPoint, string Optional, string FsType, string Source, string SuperOptions)
{
    /// <summary>The device (major:minor) of the file system: two mounts of one file system share it.</summary>
    public string Dev { get; init; } = "";

    public bool IsShared => Optional.StartsWith("shared:", StringComparison.Ordinal) || Optional.Contains(" shared:", StringComparison.Ordinal);

    /// <summary>Parses mountinfo text; malformed lines are skipped.</summary>
    public static List<MountInfoEntry> Parse(string text)
    {
        // Spans, not Split: every create parses the host's mountinfo, and splitting made a string
        // (and an array) of every field of every line; only six fields become strings here.
        var list = new List<MountInfoEntry>();
        Span<Range> f = stackalloc Range[64];
        foreach (var lineRange in text.AsSpan().Split('\n'))
        {
            var line = text.AsSpan()[lineRange].TrimEnd('\r');
            int n = line.Split(f, ' ');
            int dash = -1;
            for (int k = 6; k < n; k++)
                if (line[f[k]] is "-") { dash = k; break; }
            if (n < 10 || dash < 6 || dash + 3 >= n) continue;
            string optional = dash > 6 ? line[f[6].Start..f[dash - 1].End].ToString() : "";
            list.Add(new MountInfoEntry(Unescape(line[f[3]]), Unescape(line[f[4]]), optional,
                line[f[dash + 1]].ToString(), Unescape(line[f[dash + 2]]), line[f[dash + 3]].ToString()) { Dev = line[f[2]].ToString() });
        }
        return list;
    }

    /// <summary>The mount that holds <paramref name="path"/> (longest mount point prefix; the last one mounted wins).</summary>
    public static MountInfoEntry? Containing(IEnumerable<MountInfoEntry> mounts, string path)
    {
        MountInfoEntry? best = null;
        foreach (var m in mounts)
            if (ContainerPath.IsWithin(path, m.MountPoint) && (best is null || m.MountPoint.Length >= best.MountPoint.Length))
                best = m;
        return best;
    }

    /// <summary>Undoes mountinfo's octal escapes (\040 for a space, \011, \012, \134), byte by byte of the UTF-8 text.</summary>
    public static string Unescape(ReadOnlySpan<char> field)
    {
        if (!field.Contains('\\')) return field.ToString();
        var utf8 = new byte[Encoding.UTF8.GetByteCount(field)];
        Encoding.UTF8.GetBytes(field, utf8);
        int length = 0;
        for (int i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] == (byte)'\\' && i + 3 < utf8.Length && IsOctal(utf8[i + 1]) && IsOctal(utf8[i + 2]) && IsOctal(utf8[i + 3]))
            {
                utf8[length++] = (byte)(((utf8[i + 1] - '0') << 6) | ((utf8[i + 2] - '0') << 3) | (utf8[i + 3] - '0'));
                i += 3;
            }
            else utf8[length++] = utf8[i];
        }
        return Encoding.UTF8.GetString(utf8, 0, length);
    }

    static bool IsOctal(byte b) => b >= (byte)'0' && b <= (byte)'7';
}
