using System.Text.Json;
using System.Text.Json.Nodes;

namespace Husk.E2E;

/// <summary>
/// An OCI bundle in a fresh temporary directory: <c>rootfs/</c> with a static busybox and its
/// applet symlinks, /etc/passwd, /etc/group, /etc/hostname and the usual mount points, and a
/// <c>config.json</c> from <c>husk spec</c> with terminal false and args ["true"].
/// Edit <see cref="Config"/> then call <see cref="Save"/>:
/// <code>
/// using var bundle = new Bundle();
/// bundle.Config["process"]!["args"] = new JsonArray("sh", "-c", "echo hi");
/// bundle.Save();
/// </code>
/// Dispose unmounts anything left below the directory (best effort) and deletes it.
/// </summary>
public sealed class Bundle : IDisposable
{
    /// <summary>The static busybox copied into every rootfs; $HUSK_TEST_BUSYBOX overrides.</summary>
    public static string BusyboxPath =>
        Environment.GetEnvironmentVariable("HUSK_TEST_BUSYBOX") is { Length: > 0 } p ? p : "/bin/busybox";

    private static readonly Lazy<string> s_specTemplate = new(GenerateSpec);
    private static readonly Lazy<string[]> s_applets = new(ListApplets);
    private static readonly JsonSerializerOptions s_writeOptions = new() { WriteIndented = true };

    /// <summary>The bundle directory (pass to <c>--bundle</c>).</summary>
    public string Dir { get; }
    public string Rootfs => Path.Combine(Dir, "rootfs");
    public string ConfigPath => Path.Combine(Dir, "config.json");

    /// <summary>The config as an editable JSON tree; written by <see cref="Save"/>.</summary>
    public JsonObject Config { get; set; }

    /// <summary>Shortcut for <c>Config["process"]</c> (created if absent).</summary>
    public JsonObject Process => (JsonObject)(Config["process"] ??= new JsonObject());

    /// <param name="args">process.args; default ["true"].</param>
    public Bundle(params string[] args)
    {
        Dir = Directory.CreateTempSubdirectory("husk-bundle-").FullName;
        try
        {
            BuildRootfs();
            Config = JsonNode.Parse(s_specTemplate.Value)!.AsObject();
            Process["terminal"] = false;
            Config["root"] ??= new JsonObject();
            Config["root"]!["path"] = "rootfs";
            SetArgs(args.Length > 0 ? args : ["true"]);
            Save();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Sets process.args (does not save).</summary>
    public Bundle SetArgs(params string[] args)
    {
        Process["args"] = new JsonArray(args.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray());
        return this;
    }

    /// <summary>Sets process.args to <c>sh -c SCRIPT</c> (does not save).</summary>
    public Bundle SetScript(string script) => SetArgs("sh", "-c", script);

    /// <summary>Writes <see cref="Config"/> to config.json.</summary>
    public Bundle Save()
    {
        File.WriteAllText(ConfigPath, Config.ToJsonString(s_writeOptions) + "\n");
        return this;
    }

    /// <summary>Writes a file inside the rootfs (<paramref name="pathInRootfs"/> like "/etc/motd"), creating directories.</summary>
    public string WriteFile(string pathInRootfs, string content)
    {
        string path = HostPath(pathInRootfs);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>The host path of a path inside the rootfs (no symlink resolution).</summary>
    public string HostPath(string pathInRootfs) => Path.Combine(Rootfs, pathInRootfs.TrimStart('/'));

    public void Dispose()
    {
        if (!Directory.Exists(Dir)) return;
        try { Mounts.UnmountUnder(Dir); } catch (Exception) { }
        try { Directory.Delete(Dir, recursive: true); } catch (Exception) { }
    }

    private void BuildRootfs()
    {
        foreach (var d in new[] { "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "etc", "root", "run", "tmp", "var/tmp" })
            Directory.CreateDirectory(Path.Combine(Rootfs, d));
        const UnixFileMode sticky = UnixFileMode.StickyBit | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                    UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
                                    UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        File.SetUnixFileMode(Path.Combine(Rootfs, "tmp"), sticky);
        File.SetUnixFileMode(Path.Combine(Rootfs, "var/tmp"), sticky);
        File.SetUnixFileMode(Path.Combine(Rootfs, "root"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        string busybox = Path.Combine(Rootfs, "bin/busybox");
        File.Copy(BusyboxPath, busybox);
        File.SetUnixFileMode(busybox, (UnixFileMode)0b111_101_101); // 0755
        foreach (var applet in s_applets.Value)
        {
            string link = Path.Combine(Rootfs, applet);
            if (File.Exists(link) || Directory.Exists(link)) continue;
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            File.CreateSymbolicLink(link, "/bin/busybox");
        }

        WriteFile("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
        WriteFile("/etc/group", "root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n");
        WriteFile("/etc/hostname", "husk\n");
    }

    /// <summary>Applet paths relative to / ("bin/sh", "usr/bin/wget"), from <c>busybox --list-full</c>.</summary>
    private static string[] ListApplets()
    {
        if (!File.Exists(BusyboxPath))
            throw new InvalidOperationException($"{BusyboxPath} not found: install busybox-static (scripts/install-deps.sh)");
        var r = ProcessRunner.Run(BusyboxPath, ["--list-full"], new RunOptions()).AssertSuccess("busybox --list-full");
        return r.StdoutLines.Select(l => l.Trim().TrimStart('/')).Where(l => l.Length > 0 && l != "bin/busybox").ToArray();
    }

    /// <summary><c>husk spec</c> run once per test process in a scratch directory.</summary>
    private static string GenerateSpec()
    {
        var scratch = Directory.CreateTempSubdirectory("husk-spec-");
        try
        {
            HuskCli.Run(new RunOptions { WorkingDirectory = scratch.FullName }, "spec").AssertSuccess("husk spec");
            string path = Path.Combine(scratch.FullName, "config.json");
            if (!File.Exists(path)) throw new InvalidOperationException("'husk spec' exited 0 but wrote no config.json");
            string text = File.ReadAllText(path);
            _ = JsonNode.Parse(text) ?? throw new InvalidOperationException("'husk spec' wrote a null config.json");
            return text;
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }
}
