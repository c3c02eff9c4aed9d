using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Logging;

/// <summary>
/// --log FILE --log-format json, as containerd's runc client uses it: one JSON object per line
/// with level, msg and time; every failure is an "error" line with the message printed on
/// stderr (the shim reports the last error line of the log).
/// </summary>
public class JsonLogTests
{
    static List<JsonObject> Lines(string log) =>
        File.Exists(log) ? File.ReadAllLines(log).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject()).ToList() : [];

    public static TheoryData<string[]> FailingCommands => new()
    {
        new[] { "state", "no-such" },
        new[] { "start", "no-such" },
        new[] { "kill", "no-such", "9" },
        new[] { "delete", "no-such" },
        new[] { "exec", "no-such", "true" },
        new[] { "exec", "--process", "/nonexistent.json", "no-such" },
        new[] { "create", "--bundle", "/nonexistent-bundle", "x1" },
        new[] { "pause", "no-such" },
        new[] { "ps", "--format", "json", "no-such" },
        new[] { "no-such-command" },
        new[] { "--no-such-global-flag", "state", "x" },
        new[] { "kill", "--bogus", "x" },
        new[] { "--systemd-cgroup", "list" },      // no systemd driver: refused, not ignored
        new[] { "--rootless", "maybe", "list" },
    };

    [Theory]
    [MemberData(nameof(FailingCommands))]
    public void Every_failure_reaches_the_log_with_the_stderr_message(string[] args)
    {
        using var root = new TestRoot();
        var log = Path.Combine(root.Path, "husk-log.json");
        var r = root.Run(["--log", log, "--log-format", "json", .. args]).AssertFailure();
        var stderr = r.Stderr.Trim();
        Assert.StartsWith("husk: ", stderr);
        Assert.Single(stderr.Split('\n'));
        var lines = Lines(log);
        var last = lines.LastOrDefault(l => (string?)l["level"] == "error");
        Assert.True(last != null, $"no error line in the log; stderr: {stderr}");
        Assert.Equal(stderr["husk: ".Length..], (string)last!["msg"]!);
        Assert.True(DateTimeOffset.TryParse((string)last["time"]!, out _));
        Assert.All(lines, l => Assert.Equal(["level", "msg", "time"], l.Select(p => p.Key).Order()));
    }

    [Fact]
    public void Errors_from_the_container_init_reach_the_log()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("no-such-program");
        var log = Path.Combine(root.Path, "husk-log.json");
        var r = root.Run("--log", log, "--log-format", "json", "create", "--bundle", bundle.Dir, root.NewId("log")).AssertFailure();
        var msg = (string)Lines(log).Last(l => (string?)l["level"] == "error")["msg"]!;
        Assert.Contains("executable file not found", msg);
        Assert.Equal(r.Stderr.Trim(), "husk: " + msg);
    }
}
