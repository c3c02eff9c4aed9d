namespace Husk.Cgroups;

/// <summary>
/// The container's cgroup path as the spec's linux.cgroupsPath gives it (cgroupfs driver, as runc):
/// absolute → that path under each hierarchy's root; relative → under the calling process's
/// cgroup in each hierarchy; absent → "/husk/&lt;id&gt;". Pure functions.
/// </summary>
public static class CgroupPaths
{
    public const string DefaultParent = "/husk";

    /// <summary>
    /// Validates and normalises <paramref name="cgroupsPath"/> ("" and null mean absent).
    /// Returns a clean path: "/a/b" when absolute, "a/b" when relative.
    /// </summary>
    public static string Normalize(string? cgroupsPath, string containerId)
    {
        if (string.IsNullOrEmpty(cgroupsPath))
        {
            ValidateId(containerId);
            return $"{DefaultParent}/{containerId}";
        }
        if (cgroupsPath.Contains('\0'))
            throw new HuskException("cgroup: cgroupsPath contains a NUL byte");
        if (cgroupsPath.Any(char.IsControl))
            throw new HuskException("cgroup: cgroupsPath contains a control character");
        if (cgroupsPath.Contains(':'))
            throw new HuskException($"cgroup: cgroupsPath \"{cgroupsPath}\" is in the systemd form (slice:prefix:name); systemd cgroup driver not supported");

        bool absolute = cgroupsPath[0] == '/';
        var parts = new List<string>();
        foreach (var c in cgroupsPath.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (c == ".") continue;
            if (c == "..")
            {
                if (parts.Count == 0)
                    throw new HuskException($"cgroup: cgroupsPath \"{cgroupsPath}\" escapes its {(absolute ? "hierarchy root" : "parent cgroup")} with \"..\"");
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(c);
        }
        if (parts.Count == 0)
            throw new HuskException($"cgroup: cgroupsPath \"{cgroupsPath}\" names {(absolute ? "the root cgroup" : "the runtime's own cgroup")}; a container needs a cgroup of its own");
        var joined = string.Join('/', parts);
        return absolute ? "/" + joined : joined;
    }

    /// <summary>Rejects ids that cannot be one path component.</summary>
    public static void ValidateId(string containerId)
    {
        if (string.IsNullOrEmpty(containerId) || containerId == "." || containerId == ".."
            || containerId.Contains('/') || containerId.Any(char.IsControl))
            throw new HuskException($"cgroup: container id \"{containerId.Replace("\0", "\\0")}\" cannot name a cgroup");
    }

    /// <summary>
    /// The absolute directory of <paramref name="path"/> (as returned by <see cref="Normalize"/>) in hierarchy
    /// <paramref name="h"/>: under the mountpoint for an absolute path, under the calling process's cgroup
    /// (from /proc/self/cgroup, made relative to the mount's root) for a relative one.
    /// </summary>
    public static string DirectoryIn(CgroupHierarchy h, string path)
    {
        string mount = h.Mountpoint.TrimEnd('/');
        if (path.StartsWith('/')) return mount + path;
        string self = h.ProcessPath;
        string root = h.Root.TrimEnd('/');
        if (root.Length > 0 && (self == root || self.StartsWith(root + "/", StringComparison.Ordinal)))
            self = self[root.Length..];
        self = self.Trim('/');
        return self.Length == 0 ? $"{mount}/{path}" : $"{mount}/{self}/{path}";
    }
}
