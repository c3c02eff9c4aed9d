using System.Diagnostics;
using System.Text;
using Husk.Container;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Init;

// Runs real hooks (/bin/sh, /bin/sleep) from the test process; all in one class so they run one at a time.
public class HookRunnerTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("husk-hooks-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string F(string name) => Path.Combine(_dir, name);

    static Hook Sh(string script, params string[] env) => new() { Path = "/bin/sh", Args = ["sh", "-c", script], Env = [.. env] };

    [Fact]
    public void StateJsonArrivesOnStdin()
    {
        const string state = """{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}""";
        HookRunner.Run([Sh($"cat > {F("state")}")], state, "prestart");
        Assert.Equal(state, File.ReadAllText(F("state")));
    }

    [Fact]
    public void LargeStateIsWrittenWhole()
    {
        // Far above a pipe's 64 KiB: the writer must keep feeding while the hook reads.
        string state = "{\"annotations\":{\"a\":\"" + new string('x', 1 << 20) + "\"}}";
        HookRunner.Run([Sh($"cat > {F("state")}")], state, "createRuntime");
        Assert.Equal(state, File.ReadAllText(F("state")));
    }

    [Fact]
    public void HookThatIgnoresStdinSucceeds()
    {
        string state = new('y', 1 << 20);
        HookRunner.Run([Sh("exit 0"), Sh("sleep 0.2; exit 0")], state, "prestart");
    }

    [Fact]
    public void ArgvZeroCanDifferFromThePath()
    {
        HookRunner.Run([new Hook { Path = "/bin/sh", Args = ["my-hook-name", "-c", $"echo \"$0\" > {F("argv0")}"] }], "{}", "prestart");
        Assert.Equal("my-hook-name\n", File.ReadAllText(F("argv0")));
    }

    [Fact]
    public void EmptyArgsMeanArgvIsThePath()
    {
        string script = F("hook.sh");
        File.WriteAllText(script, $"#!/bin/sh\necho \"$0|$#\" > {F("out")}\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        HookRunner.Run([new Hook { Path = script }], "{}", "prestart");
        Assert.Equal($"{script}|0\n", File.ReadAllText(F("out")));
    }

    [Fact]
    public void EnvironmentIsExactlyTheHooks()
    {
        HookRunner.Run([Sh($"cat /proc/$$/environ > {F("env")}", "A=1", "B=two words")], "{}", "prestart");
        Assert.Equal("A=1\0B=two words\0", File.ReadAllText(F("env")));

        HookRunner.Run([Sh($"cat /proc/$$/environ > {F("empty")}")], "{}", "prestart");
        Assert.Equal("", File.ReadAllText(F("empty")));
    }

    [Fact]
    public void NonZeroExitFailsWithTheHooksIndex()
    {
        var e = Assert.Throws<HuskException>(() =>
            HookRunner.Run([Sh($"touch {F("first")}"), Sh("exit 3"), Sh($"touch {F("third")}")], "{}", "prestart"));
        Assert.Equal("error running hook: prestart hook #1 (/bin/sh): exit status 3", e.Message);
        Assert.True(File.Exists(F("first")));
        Assert.False(File.Exists(F("third")));
    }

    [Fact]
    public void DeathBySignalIsReportedAsGoNamesIt()
    {
        var e = Assert.Throws<HuskException>(() => HookRunner.Run([Sh("kill -9 $$")], "{}", "createContainer"));
        Assert.Equal("error running hook: createContainer hook #0 (/bin/sh): signal: killed (SIGKILL)", e.Message);
        // runc's seccomp.bats looks for "error running hook" and "bad system call".
        e = Assert.Throws<HuskException>(() => HookRunner.Run([Sh("kill -SYS $$")], "{}", "startContainer"));
        Assert.StartsWith("error running hook: startContainer hook #0 (/bin/sh): signal: bad system call (SIGSYS)", e.Message);
    }

    [Fact]
    public void MissingProgramIsAnError()
    {
        var e = Assert.Throws<HuskException>(() => HookRunner.Run([new Hook { Path = "/no/such/hook" }], "{}", "prestart"));
        Assert.StartsWith("error running hook: prestart hook #0 (/no/such/hook): cannot start: No such file or directory", e.Message);
    }

    [Fact]
    public void TimeoutKillsAndReapsTheHook()
    {
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<HuskException>(() =>
            HookRunner.Run([new Hook { Path = "/bin/sleep", Args = ["sleep", "10"], Timeout = 1 }], "{}", "startContainer"));
        sw.Stop();
        Assert.Equal("error running hook: startContainer hook #0 (/bin/sleep): timed out after 1s", e.Message);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.9, 1.5);
        Assert.Empty(ZombieChildren());
        Assert.DoesNotContain(Children(), c => c.Comm == "sleep");
    }

    [Fact]
    public void HookWithinItsTimeoutSucceeds()
    {
        var hook = Sh("sleep 0.1", "PATH=/bin:/usr/bin");
        hook.Timeout = 5;
        HookRunner.Run([hook], "{}", "prestart");
    }

    [Fact]
    public void BestEffortRunsEveryHookAndLogsFailures()
    {
        var log = new List<string>();
        bool ok = HookRunner.RunBestEffort(
            [Sh("exit 2"), new Hook { Path = "/no/such/hook" }, Sh($"touch {F("last")}")], "{}", "poststop", log.Add);
        Assert.False(ok);
        Assert.Equal(2, log.Count);
        Assert.Equal("error running hook: poststop hook #0 (/bin/sh): exit status 2", log[0]);
        Assert.StartsWith("error running hook: poststop hook #1 (/no/such/hook): cannot start", log[1]);
        Assert.True(File.Exists(F("last")));
        Assert.True(HookRunner.RunBestEffort([Sh("exit 0")], "{}", "poststart", log.Add));
        Assert.Empty(ZombieChildren());
    }

    [Fact]
    public void NoHooksIsNothing()
    {
        HookRunner.Run([], "{}", "prestart");
        Assert.True(HookRunner.RunBestEffort([], "{}", "poststop", _ => throw new InvalidOperationException()));
    }

    static List<(int Pid, string Comm, char State)> Children()
    {
        int self = Environment.ProcessId;
        var list = new List<(int, string, char)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat"), Encoding.UTF8); }
            catch (IOException) { continue; }
            int close = stat.LastIndexOf(')');
            if (close < 0) continue;
            string comm = stat[(stat.IndexOf('(') + 1)..close];
            var rest = stat[(close + 2)..].Split(' ');
            if (rest.Length > 1 && int.TryParse(rest[1], out int ppid) && ppid == self)
                list.Add((pid, comm, rest[0][0]));
        }
        return list;
    }

    static List<(int Pid, string Comm, char State)> ZombieChildren() => Children().Where(c => c.State == 'Z').ToList();
}
