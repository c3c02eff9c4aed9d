using System.Diagnostics;

namespace Husk.E2E.Clients;

/// <summary>
/// A private containerd (Debian's 1.6): config, root, state, sockets and its log in a temporary
/// directory. The config's common part is written here; a test class adds its plugins' TOML.
/// Dispose stops it, unmounts what is left below the directory and deletes it.
/// </summary>
public sealed class ContainerdDaemon : IDisposable
{
    public string Dir { get; }
    public string Socket => Path.Combine(Dir, "containerd.sock");
    readonly Process _containerd;

    /// <param name="pluginConfig">TOML appended to the config; gets <see cref="Dir"/>.</param>
    public ContainerdDaemon(Func<string, string> pluginConfig)
    {
        foreach (var tool in new[] { "containerd", "ctr", "containerd-shim-runc-v2" })
            if (!OnPath(tool)) throw new InvalidOperationException($"{tool} is not installed: run scripts/install-deps.sh (Debian package containerd)");
        Dir = Directory.CreateTempSubdirectory("husk-ctd-").FullName;
        File.WriteAllText(Path.Combine(Dir, "config.toml"), $"""
            version = 2
            root = "{Dir}/root"
            state = "{Dir}/state"
            [grpc]
              address = "{Socket}"
            [ttrpc]
              address = "{Socket}.ttrpc"
            [debug]
              address = "{Dir}/debug.sock"

            """ + pluginConfig(Dir));
        var psi = new ProcessStartInfo("containerd") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--config", Path.Combine(Dir, "config.toml") }) psi.ArgumentList.Add(a);
        _containerd = Process.Start(psi)!;
        // Keep its log (drained, so containerd never blocks on a full pipe).
        var log = new StreamWriter(Path.Combine(Dir, "containerd.log")) { AutoFlush = true };
        _containerd.OutputDataReceived += (_, e) => { if (e.Data != null) lock (log) log.WriteLine(e.Data); };
        _containerd.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (log) log.WriteLine(e.Data); };
        _containerd.BeginOutputReadLine();
        _containerd.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Ctr("default", new RunOptions { Timeout = TimeSpan.FromSeconds(10) }, "version").Succeeded)
        {
            if (_containerd.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"containerd did not start; see {Dir}/containerd.log");
            Thread.Sleep(100);
        }
    }

    static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)));

    /// <summary>`ctr` against this containerd, in containerd namespace <paramref name="ns"/>.</summary>
    public Result Ctr(string ns, RunOptions options, params string[] args) =>
        ProcessRunner.Run("ctr", ["-a", Socket, "-n", ns, .. args], options);

    /// <summary>The pids of this containerd's shims (their command line names its socket).</summary>
    public List<int> ShimPids()
    {
        var pids = new List<int>();
        foreach (var d in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out int pid)) continue;
            try
            {
                var cmd = File.ReadAllText(Path.Combine(d, "cmdline")).Split('\0');
                if (cmd[0].EndsWith("containerd-shim-runc-v2", StringComparison.Ordinal) && cmd.Contains(Socket)) pids.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return pids;
    }

    /// <summary>
    /// Kills and deletes every task and container of namespace <paramref name="ns"/>, so a test that
    /// failed midway leaves no shim or container process behind (shims outlive containerd).
    /// </summary>
    public void RemoveAll(string ns)
    {
        var opts = new RunOptions { Timeout = TimeSpan.FromSeconds(60) };
        foreach (var id in Ctr(ns, opts, "containers", "ls", "-q").StdoutLines.Where(l => l.Length > 0))
        {
            Ctr(ns, opts, "task", "kill", "-s", "9", id);
            Ctr(ns, opts, "task", "delete", "-f", id);
            Ctr(ns, opts, "containers", "rm", id);
        }
    }

    public void Dispose()
    {
        try
        {
            _containerd.Kill();
            _containerd.WaitForExit(10_000);
        }
        catch (Exception) { }
        try { Mounts.UnmountUnder(Dir); } catch (Exception) { }
        try { Directory.Delete(Dir, recursive: true); } catch (Exception) { }
    }
}
