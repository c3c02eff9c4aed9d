using System.Runtime.InteropServices;
using System.Text;

namespace Husk.E2E;

/// <summary>Host mount table helpers for cleanup and for assertions that nothing was left behind.</summary>
public static partial class Mounts
{
    private const int MNT_DETACH = 2;

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Umount2(string target, int flags);

    /// <summary>Mount points of this (the test's) mount namespace, in mountinfo order.</summary>
    public static IReadOnlyList<string> MountPoints()
    {
        var result = new List<string>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4) result.Add(Unescape(fields[4]));
        }
        return result;
    }

    /// <summary>
    /// <see cref="MountPoints"/> without those of other tests running at the same time, for
    /// before/after comparisons: the containerd and podman tests (state under husk-ctd-*,
    /// husk-podman-*, husk-image-* temporary directories, network namespaces under /run/netns) and
    /// every other test's bundle (husk-bundle-*) and --root (/run/husk-test/*), where checkpoint
    /// tests' CRIU mounts come and go. Mounts below <paramref name="own"/> directories are kept.
    /// </summary>
    public static IReadOnlyList<string> MountPointsExceptOtherTests(params string[] own)
    {
        string tmp = Path.GetTempPath();
        bool Own(string m) => own.Any(d => m == d || m.StartsWith(Path.TrimEndingDirectorySeparator(d) + "/", StringComparison.Ordinal));
        bool Other(string m) => m.StartsWith("/run/netns/", StringComparison.Ordinal)
            || m.StartsWith(TestRoot.Parent + "/", StringComparison.Ordinal)
            || (m.StartsWith(tmp, StringComparison.Ordinal) && m[tmp.Length..] is var rest
                && (rest.StartsWith("husk-ctd-") || rest.StartsWith("husk-podman-") || rest.StartsWith("husk-image-") || rest.StartsWith("husk-bundle-")));
        return MountPoints().Where(m => Own(m) || !Other(m)).ToList();
    }

    /// <summary>Mount points at or below <paramref name="dir"/>.</summary>
    public static IReadOnlyList<string> Under(string dir)
    {
        string d = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));
        return MountPoints().Where(m => m == d || m.StartsWith(d + "/", StringComparison.Ordinal)).ToList();
    }

    /// <summary>Lazily unmounts everything at or below <paramref name="dir"/>, deepest and newest first. Best effort.</summary>
    public static void UnmountUnder(string dir)
    {
        for (int pass = 0; pass < 3; pass++)
        {
            var mounts = Under(dir);
            if (mounts.Count == 0) return;
            foreach (var m in mounts.Reverse().OrderByDescending(m => m.Count(c => c == '/')))
                Umount2(m, MNT_DETACH);
        }
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo.</summary>
    private static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var bytes = new List<byte>();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && s.Substring(i + 1, 3) is var oct && oct.All(c => c is >= '0' and <= '7'))
            {
                bytes.Add(Convert.ToByte(oct, 8));
                i += 3;
            }
            else bytes.AddRange(Encoding.UTF8.GetBytes(s[i].ToString()));
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}
