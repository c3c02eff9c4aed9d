using System.Text;

namespace Husk.Rootfs;

/// <summary>One line of /proc/self/mountinfo (proc(5)).</summary>
public sealed record MountInfoEntry(string Root, string MountPoint, string Optional, string FsType, string Source, string SuperOptions)
{
    public bool IsShared => Optional.Split(' ').Any(f => f.StartsWith("shared:", StringComparison.Ordinal));

    /// <summary>Parses mountinfo text; malformed lines are skipped.</summary>
    public static List<MountInfoEntry> Parse(string text)
    {
        var list = new List<MountInfoEntry>();
        foreach (var line in text.Split('\n'))
        {
            var f = line.Split(' ');
            int dash = Array.IndexOf(f, "-");
            if (f.Length < 10 || dash < 6 || dash + 3 >= f.Length) continue;
            list.Add(new MountInfoEntry(Unescape(f[3]), Unescape(f[4]), string.Join(' ', f[6..dash]),
                f[dash + 1], Unescape(f[dash + 2]), f[dash + 3]));
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

    /// <summary>Undoes the octal escapes (\040 space, \011 tab, \012 newline, \134 backslash) of mountinfo.</summary>
    public static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var bytes = new List<byte>();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && IsOctal(s, i + 1))
            {
                bytes.Add((byte)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else bytes.AddRange(Encoding.UTF8.GetBytes(s[i].ToString()));
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    static bool IsOctal(string s, int at) =>
        at + 3 <= s.Length && s.Substring(at, 3).All(c => c is >= '0' and <= '7');
}
