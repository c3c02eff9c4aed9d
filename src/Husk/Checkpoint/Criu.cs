using System.Collections;
using Husk.Container;
using Husk.Linux;

namespace Husk.Checkpoint;

/// <summary>
/// CRIU as an external program (the CLI, as `criu dump` / `criu restore`): finding the binary
/// (the global --criu, default "criu" on PATH), `criu check`, and running it with chosen fds.
/// Its own stdout/stderr go to a file beside its log, so Husk's errors stay one line; a failure
/// is reported with the last "Error" line of CRIU's log.
/// </summary>
public sealed class Criu
{
    public const string DefaultBinary = "criu";

    /// <summary>The resolved absolute path of the binary.</summary>
    public string Path { get; }

    Criu(string path) => Path = path;

    /// <summary>Finds the binary; throws one line when it is missing.</summary>
    public static Criu Locate(string? configured)
    {
        var name = string.IsNullOrEmpty(configured) ? DefaultBinary : configured;
        if (name.Contains('/'))
        {
            var full = System.IO.Path.GetFullPath(name);
            if (!File.Exists(full)) throw new HuskException($"CRIU not found at {full} (--criu): checkpoint and restore need CRIU");
            return new Criu(full);
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").Split(':'))
        {
            if (dir.Length == 0) continue;
            var p = System.IO.Path.Combine(dir, name);
            if (File.Exists(p)) return new Criu(p);
        }
        throw new HuskException($"CRIU not found: \"{name}\" is not on PATH; install criu or pass --criu PATH (checkpoint and restore need CRIU)");
    }

    /// <summary>Locates CRIU and runs `criu check`; throws one line when either fails.</summary>
    public static Criu LocateAndCheck(string? configured)
    {
        var criu = Locate(configured);
        var (ok, detail) = criu.Check();
        if (!ok) throw new HuskException($"CRIU at {criu.Path} does not work on this host: `criu check` failed: {detail}");
        return criu;
    }

    /// <summary>`criu check` (or `criu check --feature F`): whether it passed, and its last meaningful output line.</summary>
    public (bool Ok, string Detail) Check(string? feature = null)
    {
        var tmp = Directory.CreateTempSubdirectory("husk-criu-check-");
        try
        {
            string output = System.IO.Path.Combine(tmp.FullName, "out");
            List<string> args = feature is null ? ["check"] : ["check", "--feature", feature];
            int status = Run(args, [], output);
            string text = File.Exists(output) ? File.ReadAllText(output) : "";
            var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            string detail = lines.LastOrDefault(l => l.Contains("Error")) ?? lines.LastOrDefault() ?? $"exit status {Cleanup.ExitCode(status)}";
            return (status == 0, detail);
        }
        finally { try { tmp.Delete(recursive: true); } catch (IOException) { } }
    }

    /// <summary>
    /// Runs CRIU with <paramref name="args"/>; <paramref name="fds"/> are (fd here, fd in CRIU) pairs (keep
    /// them above 2). CRIU's stdin is /dev/null, its stdout and stderr go to <paramref name="outputFile"/>.
    /// Returns the wait status.
    /// </summary>
    public int Run(IReadOnlyList<string> args, IReadOnlyList<(int Source, int Target)> fds, string outputFile)
    {
        int devNull = Native.Check(Native.open("/dev/null", Native.O_RDONLY | Native.O_CLOEXEC, 0), "open /dev/null");
        int output = Native.Check(Native.open(outputFile, Native.O_WRONLY | Native.O_CREAT | Native.O_TRUNC | Native.O_CLOEXEC, 0x180), $"open {outputFile}");
        try
        {
            var all = new List<(int, int)> { (devNull, 0), (output, 1), (output, 2) };
            all.AddRange(fds);
            var env = new List<string>();
            foreach (DictionaryEntry e in Environment.GetEnvironmentVariables()) env.Add($"{e.Key}={e.Value}");
            int pid = Spawner.Spawn(Path, [System.IO.Path.GetFileName(Path), .. args], env, all);
            return Cleanup.Reap(pid);
        }
        finally
        {
            Native.close(devNull);
            Native.close(output);
        }
    }

    /// <summary>The most useful line of a failed run: the last "Error" of the log, else of the output file.</summary>
    public static string LastError(string logFile, string outputFile)
    {
        foreach (var f in new[] { logFile, outputFile })
        {
            if (!File.Exists(f)) continue;
            var line = File.ReadLines(f).LastOrDefault(l => l.Contains("Error", StringComparison.Ordinal) && !l.Contains("RLIMIT_NOFILE"));
            if (line != null) return line.Trim();
        }
        foreach (var f in new[] { outputFile, logFile })
            if (File.Exists(f) && File.ReadLines(f).LastOrDefault(l => l.Trim().Length > 0) is { } last) return last.Trim();
        return "no error in its log";
    }
}
