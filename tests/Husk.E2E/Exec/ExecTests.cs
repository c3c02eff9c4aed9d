using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Exec;

/// <summary>
/// `husk exec`: a new process in a running container joins every namespace and the cgroup of
/// the container, gets its security settings unless overridden, and its exit code comes back.
/// </summary>
public class ExecTests
{
    /// <summary>A detached `sleep` container; Dispose deletes it (TestRoot does).</summary>
    sealed class Running : IDisposable
    {
        public readonly TestRoot Root = new();
        public readonly Bundle Bundle;
        public readonly string Id;
        public int Pid => (int)JsonNode.Parse(Root.Run("state", Id).AssertSuccess().Stdout)!["pid"]!;

        public Running(Action<Bundle>? edit = null)
        {
            Bundle = new Bundle("sleep", "1000");
            Bundle.Config["hostname"] = "exec-host";
            edit?.Invoke(Bundle);
            Bundle.Save();
            Id = Root.NewId("exec");
            Root.Run("run", "-d", "--bundle", Bundle.Dir, Id).AssertSuccess();
        }

        public Result Exec(params string[] args) => Root.Run(["exec", .. args]);

        public void Dispose()
        {
            Root.Dispose();
            Bundle.Dispose();
        }
    }

    static string Ns(int pid, string name) => new FileInfo($"/proc/{pid}/ns/{name}").LinkTarget!;

    [Fact]
    public void Exec_sees_the_containers_hostname_pid_namespace_and_mounts_and_returns_the_exit_code()
    {
        using var c = new Running();
        c.Bundle.WriteFile("/marker", "in the rootfs\n");
        var r = c.Exec(c.Id, "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /marker; exit 7");
        Assert.Equal(7, r.ExitCode);
        Assert.Equal(["exec-host", "sleep 1000 ", "in the rootfs"], r.StdoutLines);
    }

    [Fact]
    public void Exec_joins_every_namespace_and_the_cgroup_of_the_container()
    {
        using var c = new Running();
        var pidFile = Path.Combine(c.Bundle.Dir, "exec.pid");
        c.Exec("--detach", "--pid-file", pidFile, c.Id, "sleep", "100").AssertSuccess();
        int pid = int.Parse(File.ReadAllText(pidFile));
        int init = c.Pid;
        foreach (var ns in new[] { "pid", "mnt", "net", "ipc", "uts" })
            Assert.True(Ns(init, ns) == Ns(pid, ns), $"{ns}: exec'd process in {Ns(pid, ns)}, container in {Ns(init, ns)}");
        Assert.Equal(File.ReadAllText($"/proc/{init}/cgroup"), File.ReadAllText($"/proc/{pid}/cgroup"));
        // Its root is the container's: it sees the container's /etc/hostname, not the host's.
        Assert.Equal(File.ReadAllText(Path.Combine(c.Bundle.Rootfs, "etc/hostname")), File.ReadAllText($"/proc/{pid}/root/etc/hostname"));
        var ps = c.Exec(c.Id, "ps", "-o", "pid,args").AssertSuccess().Stdout;
        Assert.Contains("sleep 100", ps);
    }

    [Fact]
    public void A_killed_exec_process_returns_128_plus_the_signal()
    {
        using var c = new Running();
        Assert.Equal(137, c.Exec(c.Id, "sh", "-c", "kill -9 $$").ExitCode);
    }

    [Fact]
    public void Flags_override_the_containers_process()
    {
        using var c = new Running();
        var r = c.Exec("--user", "65534:65534", "--additional-gids", "10", "--cwd", "/tmp", "-e", "FOO=bar", "--env", "BAZ=qux",
            c.Id, "sh", "-c", "id -u; id -g; id -G; pwd; echo $FOO $BAZ; echo $PATH").AssertSuccess();
        var lines = r.StdoutLines;
        Assert.Equal("65534", lines[0]);
        Assert.Equal("65534", lines[1]);
        Assert.Contains("10", lines[2].Split(' '));
        Assert.Equal("/tmp", lines[3]);
        Assert.Equal("bar qux", lines[4]);
        Assert.StartsWith("/usr/local/sbin", lines[5]); // the container's env is kept
    }

    [Fact]
    public void Process_json_runs_as_written_with_the_containers_security_defaults()
    {
        using var c = new Running(b => b.Process["noNewPrivileges"] = true);
        var process = new JsonObject
        {
            ["args"] = new JsonArray("sh", "-c", "echo $WHO; pwd; id -u; grep NoNewPrivs /proc/self/status; grep CapBnd /proc/self/status"),
            ["env"] = new JsonArray("PATH=/bin:/usr/bin", "WHO=json"),
            ["cwd"] = "/etc",
            ["user"] = new JsonObject { ["uid"] = 0, ["gid"] = 0 },
        };
        var file = Path.Combine(c.Bundle.Dir, "process.json");
        File.WriteAllText(file, process.ToJsonString());
        var lines = c.Exec("--process", file, c.Id).AssertSuccess().StdoutLines;
        Assert.Equal("json", lines[0]);
        Assert.Equal("/etc", lines[1]);
        Assert.Equal("0", lines[2]);
        Assert.Matches(@"NoNewPrivs:\s+1", lines[3]);   // absent in the file: the container's
        var initBnd = File.ReadAllLines($"/proc/{c.Pid}/status").First(l => l.StartsWith("CapBnd"));
        Assert.Equal(initBnd, lines[4]);                 // capabilities absent: the container's
    }

    [Fact]
    public void Cap_adds_a_capability_and_no_new_privs_sets_it()
    {
        using var c = new Running();
        const ulong sysTime = 1UL << 25; // CAP_SYS_TIME, not in husk spec's default set
        ulong Eff(Result r) => Convert.ToUInt64(r.StdoutLines.First(l => l.StartsWith("CapEff")).Split('\t')[1], 16);
        var without = c.Exec(c.Id, "grep", "Cap", "/proc/self/status").AssertSuccess();
        Assert.Equal(0UL, Eff(without) & sysTime);
        var with = c.Exec("--cap", "CAP_SYS_TIME", c.Id, "grep", "Cap", "/proc/self/status").AssertSuccess();
        Assert.Equal(sysTime, Eff(with) & sysTime);
        Assert.Matches(@"NoNewPrivs:\s+1", c.Exec("--no-new-privs", c.Id, "grep", "NoNewPrivs", "/proc/self/status").AssertSuccess().Stdout);
    }

    [Fact]
    public void Exec_gets_the_containers_seccomp_filter()
    {
        using var c = new Running(b => b.Config["linux"]!["seccomp"] = JsonNode.Parse(
            """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"""));
        var r = c.Exec(c.Id, "sh", "-c", "grep Seccomp: /proc/self/status; mkdir /tmp/blocked");
        Assert.Equal(1, r.ExitCode);
        Assert.Matches(@"Seccomp:\s+2", r.Stdout);
        Assert.Contains("Operation not permitted", r.Stderr);
    }

    [Fact]
    public void Detach_returns_once_the_program_runs()
    {
        using var c = new Running();
        var pidFile = Path.Combine(c.Bundle.Dir, "p");
        var r = c.Exec("-d", "--pid-file", pidFile, c.Id, "sh", "-c", "sleep 0.3; touch /dev/shm/done; sleep 100").AssertSuccess();
        Assert.Equal("", r.Stdout);
        int pid = int.Parse(File.ReadAllText(pidFile));
        Assert.Contains("sh", File.ReadAllText($"/proc/{pid}/cmdline"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        bool done = false;
        while (!done && DateTime.UtcNow < deadline)
        {
            done = c.Exec(c.Id, "test", "-e", "/dev/shm/done").ExitCode == 0;
            if (!done) Thread.Sleep(50);
        }
        Assert.True(done, "the detached process never ran");
    }

    [Fact]
    public void Exec_into_a_stopped_or_unknown_container_fails_clearly()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        var id = root.NewId("exec");
        root.Run("run", "--keep", "--bundle", bundle.Dir, id).AssertSuccess();
        var r = root.Run("exec", id, "true").AssertFailure();
        Assert.Equal($"husk: cannot exec in a stopped container \"{id}\"", r.Stderr.Trim());
        Assert.Equal("husk: container \"nope\" does not exist", root.Run("exec", "nope", "true").AssertFailure().Stderr.Trim());
        Assert.Contains("a command is required", root.Run("exec", id).AssertFailure().Stderr);
    }

    [Fact]
    public void A_missing_program_is_one_clear_line()
    {
        using var c = new Running();
        var r = c.Exec(c.Id, "no-such-program").AssertFailure();
        Assert.Equal("husk: exec: \"no-such-program\": executable file not found in $PATH", r.Stderr.Trim());
    }

    [Fact]
    public async Task Exec_into_a_paused_container_needs_ignore_paused()
    {
        using var c = new Running();
        c.Root.Run("pause", c.Id).AssertSuccess();
        try
        {
            var r = c.Exec(c.Id, "true").AssertFailure();
            Assert.Contains("cannot exec in a paused container", r.Stderr);
            Assert.Contains("--ignore-paused", r.Stderr);
            // Allowed with --ignore-paused: the process joins the frozen cgroup and runs once resumed.
            var exec = Task.Run(() => c.Exec("--ignore-paused", c.Id, "echo", "after resume"));
            Thread.Sleep(300);
            Assert.False(exec.IsCompleted, "the exec'd process ran in a frozen cgroup");
            c.Root.Run("resume", c.Id).AssertSuccess();
            Assert.Equal("after resume\n", (await exec).AssertSuccess().Stdout);
        }
        finally { c.Root.Run("resume", c.Id); }
    }

    [Fact]
    public void Preserve_fds_passes_the_callers_fds()
    {
        using var c = new Running();
        var file = Path.Combine(c.Bundle.Dir, "fd3.txt");
        File.WriteAllText(file, "through fd 3\n");
        var r = ProcessRunner.Run("/bin/sh",
            ["-c", "exec 3<\"$1\"; shift; exec \"$@\"", "sh", file, HuskCli.BinaryPath, "--root", c.Root.Path,
             "exec", "--preserve-fds", "1", c.Id, "sh", "-c", "cat <&3; ls /proc/self/fd | tr '\\n' ' '"],
            new RunOptions()).AssertSuccess();
        Assert.Equal("through fd 3", r.StdoutLines[0]);
        // stdio, fd 3, and ls's own directory fd: nothing of the runtime's.
        Assert.Equal("0 1 2 3 4 ", r.StdoutLines[1]);
    }
}
