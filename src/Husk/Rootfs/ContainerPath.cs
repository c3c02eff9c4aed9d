namespace Husk.Rootfs;

/// <summary>
/// Lexical handling of paths inside the container (pure string work, no file system access).
/// These never decide where a mount lands: that is <see cref="SafeRoot"/>'s job, which resolves
/// in the kernel with RESOLVE_IN_ROOT. They only normalise what the spec says, for messages,
/// comparisons and the checks that must be made on the path as written.
/// </summary>
public static class ContainerPath
{
    /// <summary>
    /// Cleans a container path: always absolute, no "", "." or ".." components, and ".." at the
    /// root stays at the root (as the kernel does for RESOLVE_IN_ROOT), so "../../etc" is "/etc".
    /// </summary>
    public static string Clean(string? path)
    {
        if (path is not null && IsClean(path)) return path;
        var parts = new List<string>();
        foreach (var p in (path ?? "").Split('/'))
        {
            if (p.Length == 0 || p == ".") continue;
            if (p == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(p);
        }
        return "/" + string.Join('/', parts);
    }

    /// <summary>Already what <see cref="Clean"/> returns: absolute, no empty, "." or ".." component, no trailing '/'.</summary>
    static bool IsClean(string path)
    {
        if (path.Length == 0 || path[0] != '/') return false;
        if (path.Length == 1) return true;
        if (path[^1] == '/') return false;
        for (int start = 1; start <= path.Length;)
        {
            int end = path.IndexOf('/', start);
            if (end < 0) end = path.Length;
            int len = end - start;
            if (len == 0 || (len == 1 && path[start] == '.') || (len == 2 && path[start] == '.' && path[start + 1] == '.')) return false;
            start = end + 1;
        }
        return true;
    }

    /// <summary>The components of a cleaned path ("/a/b" → ["a", "b"]; "/" → []).</summary>
    public static string[] Components(string path) =>
        Clean(path).Split('/', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Parent directory and last component of a cleaned path ("/dev/null" → ("/dev", "null")).</summary>
    public static (string Parent, string Name) Split(string path)
    {
        var clean = Clean(path);
        int i = clean.LastIndexOf('/');
        return (i == 0 ? "/" : clean[..i], clean[(i + 1)..]);
    }

    /// <summary>Joins a container path to a base, the result cleaned and never above the base's root.</summary>
    public static string Join(string basePath, string rel) => Clean(basePath + "/" + rel);

    /// <summary>True when the cleaned <paramref name="path"/> is <paramref name="dir"/> or inside it.</summary>
    public static bool IsWithin(string path, string dir)
    {
        var p = Clean(path);
        var d = Clean(dir);
        return d == "/" || p == d || IsBelow(p, d);
    }

    /// <summary>
    /// True when <paramref name="path"/> is strictly below <paramref name="dir"/> (no trailing '/'),
    /// as written, not cleaned; without building <c>dir + "/"</c> for each comparison.
    /// </summary>
    public static bool IsBelow(ReadOnlySpan<char> path, ReadOnlySpan<char> dir) =>
        path.Length > dir.Length && path[dir.Length] == '/' && path.StartsWith(dir, StringComparison.Ordinal);

    /// <summary>
    /// The container path of <paramref name="hostPath"/>, a path the kernel reported (readlink of
    /// /proc/self/fd/N) for a file inside the rootfs at <paramref name="rootfsHostPath"/>; null when
    /// it is not inside the rootfs (which RESOLVE_IN_ROOT rules out, so null means a bug or a race).
    /// </summary>
    public static string? RelativeToRoot(string hostPath, string rootfsHostPath)
    {
        var root = rootfsHostPath.TrimEnd('/');
        if (hostPath == root || (root.Length == 0 && hostPath == "/")) return "/";
        if (!hostPath.StartsWith(root + "/", StringComparison.Ordinal)) return null;
        return Clean(hostPath[root.Length..]);
    }
}
