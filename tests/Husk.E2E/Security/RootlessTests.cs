using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// Rootless: an unprivileged user runs `husk spec --rootless` and `husk --root
/// $XDG_RUNTIME_DIR/husk run`. Inside, the process is uid 0; the host sees the user's uid; no
/// cgroup is made (the tree is not delegated to the user), which --debug says.
/// </summary>
[Collection(SecurityCollection.Name)]
public class RootlessTests : IDisposable
{
    const string User = "husk-e2e-rootless";
    readonly int Uid;
    readonly string _runtimeDir;
    readonly string _binDir;
    readonly Bundle _bundle = new();
    readonly string _c1 = ContainerIds.New("rootless"), _c2 = ContainerIds.New("rootless");

    public RootlessTests()
    {
        if (ProcessRunner.Run("id", ["-u", User], new RunOptions()).ExitCode != 0 &&
            ProcessRunner.Run("useradd", ["--no-create-home", "--uid", "23456", "--user-group", "--shell", "/bin/sh", User], new RunOptions()).ExitCode != 0)
            ProcessRunner.Run("useradd", ["--no-create-home", "--user-group", "--shell", "/bin/sh", User], new RunOptions()).AssertSuccess("useradd");
        Uid = int.Parse(ProcessRunner.Run("id", ["-u", User], new RunOptions()).AssertSuccess().Stdout.Trim());
        _runtimeDir = $"/run/user/{Uid}";
        Directory.CreateDirectory(_runtimeDir);
        ProcessRunner.Run("chown", ["-R", $"{User}:{User}", _runtimeDir, _bundle.Dir], new RunOptions()).AssertSuccess();
        File.SetUnixFileMode(_runtimeDir, (UnixFileMode)0b111_000_000);
        // A copy of husk the user can reach whatever the permissions of the checkout's directories.
        _binDir = Directory.CreateTempSubdirectory("husk-rootless-bin-").FullName;
        File.SetUnixFileMode(_binDir, (UnixFileMode)0b111_101_101);
        File.Copy(HuskCli.BinaryPath, Path.Combine(_binDir, "husk"));
        File.SetUnixFileMode(Path.Combine(_binDir, "husk"), (UnixFileMode)0b111_101_101);
    }

    public void Dispose()
    {
        As("for id in $(husk --root \"$XDG_RUNTIME_DIR/husk\" list -q 2>/dev/null); do husk --root \"$XDG_RUNTIME_DIR/husk\" delete --force $id; done");
        try { Directory.Delete(Path.Combine(_runtimeDir, "husk"), recursive: true); } catch (IOException) { }
        _bundle.Dispose();
        try { Directory.Delete(_binDir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Runs a shell script as the unprivileged user, in the bundle directory, with husk on PATH.</summary>
    Result As(string script, TimeSpan? timeout = null) => ProcessRunner.Run("runuser",
        ["-u", User, "--", "env", $"XDG_RUNTIME_DIR={_runtimeDir}", $"HOME={_runtimeDir}",
         $"PATH={_binDir}:/usr/bin:/bin:/usr/sbin:/sbin",
         "sh", "-c", $"cd {Attack.Q(_bundle.Dir)} && {script}"],
        new RunOptions { Timeout = timeout ?? TimeSpan.FromSeconds(30) });

    void EditConfig(params string[] args)
    {
        var config = JsonNode.Parse(File.ReadAllText(_bundle.ConfigPath))!.AsObject();
        config["process"]!["terminal"] = false;
        config["process"]!["args"] = Attack.Strings(args);
        config["root"]!["path"] = "rootfs";
        File.WriteAllText(_bundle.ConfigPath, config.ToJsonString());
    }

    [Fact]
    public void A_user_runs_a_rootless_container_as_root_inside_and_itself_outside()
    {
        File.Delete(_bundle.ConfigPath);
        As("husk spec --rootless").AssertSuccess("husk spec --rootless as the user");
        var spec = JsonNode.Parse(File.ReadAllText(_bundle.ConfigPath))!;
        Assert.Equal(Uid, (int)spec["linux"]!["uidMappings"]![0]!["hostID"]!);
        EditConfig("sh", "-c", "id -u; id -g; cat /proc/self/uid_map; touch /dev/shm/x && ls -ln /dev/shm/x");

        var r = As($"husk --debug --root \"$XDG_RUNTIME_DIR/husk\" run {_c1}").AssertSuccess("rootless husk run");
        var lines = r.StdoutLines;
        Assert.Equal("0", lines[0]);
        Assert.Equal("0", lines[1]);
        Assert.Equal($"0 {Uid} 1", string.Join(' ', lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries)));
        var ls = lines[3].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["0", "0"], ls[2..4]);   // a file it makes is root's inside
        Assert.Contains("no cgroup", r.Stderr);
        Assert.True(Directory.Exists(Path.Combine(_runtimeDir, "husk")), "the state lives under $XDG_RUNTIME_DIR/husk");

        // Detached: the host sees the user's uid for the container's process.
        EditConfig("sleep", "1000");
        As($"husk --root \"$XDG_RUNTIME_DIR/husk\" run -d {_c2}").AssertSuccess("rootless run -d");
        var state = JsonNode.Parse(As($"husk --root \"$XDG_RUNTIME_DIR/husk\" state {_c2}").AssertSuccess().Stdout)!;
        int pid = (int)state["pid"]!;
        Assert.Equal("running", (string?)state["status"]);
        var uids = HostProc.Status(pid, "Uid").Split('\t', ' ').Where(x => x.Length > 0).ToArray();
        Assert.All(uids, u => Assert.Equal(Uid.ToString(), u));
        As($"husk --root \"$XDG_RUNTIME_DIR/husk\" delete --force {_c2}").AssertSuccess();
        Assert.DoesNotContain(_c2, As("husk --root \"$XDG_RUNTIME_DIR/husk\" list -q").AssertSuccess().StdoutLines);
    }
}
