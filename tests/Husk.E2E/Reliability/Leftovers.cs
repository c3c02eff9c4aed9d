using System.Diagnostics;
using System.Text.Json;
using Xunit;

namespace Husk.E2E.Reliability;

/// <summary>
/// The reliability tests run alone (no other e2e class at the same time), so that the open fds
/// of the test process and their timing are theirs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ReliabilityCollection
{
    public const string Name = "reliability";
}

/// <summary>
/// What a container can leave behind on the host, looked for by container id and by the test's
/// own directories (other engineers' tests run on the same host at the same time, so nothing
/// global is compared): the state directory, cgroup directories in every hierarchy, live
/// processes in the container's cgroup or rooted in the bundle, and mounts under the bundle or
/// --root.
/// </summary>
public static class Leftovers
{
    /// <summary>Every cgroup hierarchy mount point (v1 controllers, unified, systemd).</summary>
    static readonly Lazy<string[]> s_hierarchies = new(() =>
        File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' '))
            .Where(f => f.Length > 8 && f[Array.IndexOf(f, "-") + 1] is "cgroup" or "cgroup2")
            .Select(f => f[4]).Distinct().ToArray());

    /// <summary>Names of cgroups that corpus configs ask for (cgroupsPath), relative and absolute.</summary>
    public static readonly string[] CorpusCgroupNames = ["husk-corpus", "husk-corpus-abs", "husk-fuzz"];

    /// <summary>Problems found (empty when clean).</summary>
    public static List<string> Find(string root, IEnumerable<string> ids, IEnumerable<string> dirs)
    {
        var idList = ids.ToList();
        var dirList = dirs.Select(d => Path.TrimEndingDirectorySeparator(Path.GetFullPath(d))).ToList();
        var problems = new List<string>();

        foreach (var id in idList)
            if (Directory.Exists(Path.Combine(root, id))) problems.Add($"state directory {Path.Combine(root, id)}");

        foreach (var dir in CgroupDirs(idList)) problems.Add($"cgroup {dir}");

        foreach (var (pid, why) in Processes(idList, dirList)) problems.Add($"process {pid} ({why})");

        foreach (var m in Mounts.MountPoints())
            if (dirList.Append(root).Any(d => m == d || m.StartsWith(d + "/", StringComparison.Ordinal)))
                problems.Add($"mount {m}");
        return problems;
    }

    public static void AssertClean(string root, IEnumerable<string> ids, IEnumerable<string> dirs, string context)
    {
        // A killed process can take a moment to leave its cgroup and /proc: a short grace period.
        var sw = Stopwatch.StartNew();
        List<string> p;
        while ((p = Find(root, ids, dirs)).Count > 0 && sw.Elapsed < TimeSpan.FromSeconds(3)) Thread.Sleep(50);
        Assert.True(p.Count == 0, $"{context}: left behind:\n  {string.Join("\n  ", p)}");
    }

    /// <summary>Existing cgroup directories of these containers (default path /husk/ID) and of the corpus names.</summary>
    public static IEnumerable<string> CgroupDirs(IReadOnlyCollection<string> ids)
    {
        var self = SelfCgroups();
        foreach (var h in s_hierarchies.Value)
        {
            foreach (var id in ids)
            {
                var d = $"{h}/husk/{id}";
                if (Directory.Exists(d)) yield return d;
            }
            foreach (var name in CorpusCgroupNames)
            {
                if (Directory.Exists($"{h}/{name}")) yield return $"{h}/{name}";
                foreach (var s in self)
                    if (s.Length > 1 && Directory.Exists($"{h}{s}/{name}")) yield return $"{h}{s}/{name}";
            }
        }
    }

    static List<string> SelfCgroups() =>
        File.ReadLines("/proc/self/cgroup").Select(l => l.Split(':', 3)).Where(f => f.Length == 3).Select(f => f[2]).Distinct().ToList();

    /// <summary>Live (not zombie) processes in these containers' cgroups or with a root under these directories.</summary>
    public static IEnumerable<(int Pid, string Why)> Processes(IReadOnlyCollection<string> ids, IReadOnlyCollection<string> dirs)
    {
        foreach (var p in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(p), out int pid) || pid == Environment.ProcessId) continue;
            string? why = null;
            try
            {
                var stat = File.ReadAllText($"{p}/stat");
                var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
                if (state is "Z" or "X") continue;
                var cg = File.ReadAllText($"{p}/cgroup");
                foreach (var id in ids)
                    if (cg.Contains($"/husk/{id}\n", StringComparison.Ordinal) || cg.Contains($"/{id}/", StringComparison.Ordinal))
                        why = $"in cgroup of {id}";
                if (why == null && ids.Count > 0)
                {
                    foreach (var name in CorpusCgroupNames)
                        if (cg.Contains($"/{name}", StringComparison.Ordinal)) why = $"in cgroup {name}";
                }
                if (why == null && dirs.Count > 0)
                {
                    var rootLink = new FileInfo($"{p}/root").LinkTarget;
                    if (rootLink != null && dirs.Any(d => rootLink == d || rootLink.StartsWith(d + "/", StringComparison.Ordinal)))
                        why = $"root {rootLink}";
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            if (why != null) yield return (pid, why + $": {Cmdline(pid)}");
        }
    }

    public static string Cmdline(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim(); }
        catch (Exception) { return "?"; }
    }

    /// <summary>The open fds of this process with what they point at.</summary>
    public static Dictionary<int, string> OpenFds()
    {
        var r = new Dictionary<int, string>();
        foreach (var f in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (!int.TryParse(Path.GetFileName(f), out int fd)) continue;
            try { r[fd] = new FileInfo(f).LinkTarget ?? "?"; } catch (Exception) { }
        }
        return r;
    }
}

/// <summary>Checks of one husk command's result: exit 0, or exit 1 with one clean line; never a crash.</summary>
public static class Outcome
{
    /// <summary>
    /// Null when the result is clean (success, or one clear line of error with <paramref name="errorExitCode"/>:
    /// 1, or 255 for exec as runc), else what is wrong.
    /// </summary>
    public static string? Problem(Result r, int errorExitCode = 1)
    {
        if (r.Stderr.Contains("Unhandled exception", StringComparison.OrdinalIgnoreCase) || r.Stderr.Contains("\n   at ", StringComparison.Ordinal)
            || r.Stderr.Contains("   at Husk.", StringComparison.Ordinal))
            return "a stack trace";
        if (r.Stderr.Contains("husk: internal error:", StringComparison.Ordinal)) return "an internal error (an exception that is not a HuskException)";
        if (r.ExitCode == 0) return null;
        if (r.ExitCode != errorExitCode) return $"exit code {r.ExitCode} (expected 0 or {errorExitCode})";
        var lines = r.Stderr.TrimEnd('\n').Split('\n');
        // Warnings ("level=warning" or "husk: warning") may precede the error; the error is the last line.
        if (lines.Length == 0 || lines[^1].Trim().Length == 0) return "no error message";
        if (!lines[^1].StartsWith("husk: ", StringComparison.Ordinal)) return $"the last line is not \"husk: ...\": {Short(lines[^1])}";
        foreach (var l in lines[..^1])
            if (!(l.StartsWith("time=", StringComparison.Ordinal) && l.Contains(" level=warning ", StringComparison.Ordinal)))
                return $"{lines.Length} lines of error; this one is neither the error nor a warning: {Short(l)}";
        if (lines[^1].Length > 4200) return $"an error line of {lines[^1].Length} characters";
        return null;
    }

    public static void AssertClean(Result r, string context)
    {
        var p = Problem(r);
        if (p != null) Assert.Fail(r.Describe($"{context}: {p}"));
    }

    /// <summary>`husk state` printed a whole JSON document with an id and a known status.</summary>
    public static string? StateProblem(Result r, string id)
    {
        if (r.ExitCode != 0) return Problem(r);
        try
        {
            using var doc = JsonDocument.Parse(r.Stdout);
            var status = doc.RootElement.GetProperty("status").GetString();
            if (doc.RootElement.GetProperty("id").GetString() != id) return "state of another id";
            if (status is not ("creating" or "created" or "running" or "stopped" or "paused")) return $"status {status}";
            return null;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return $"torn state output ({e.Message}): {Short(r.Stdout)}";
        }
    }

    public static string Short(string s) => s.Length > 300 ? s[..300] + $"... ({s.Length} chars)" : s;
}
