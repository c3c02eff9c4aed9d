using Xunit;

namespace Husk.E2E.Activation;

/// <summary>
/// Socket activation, as runc: when the caller's LISTEN_FDS/LISTEN_PID name this husk process,
/// those fds (3..) reach the container first, then --preserve-fds, and the container's process
/// gets LISTEN_FDS=N and LISTEN_PID=1.
/// </summary>
public class ListenFdsTests
{
    [Fact]
    public void Listen_fds_are_passed_with_the_preserved_fds_and_announced_in_the_environment()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.SetScript("echo fds=$LISTEN_FDS pid=$LISTEN_PID; cat <&3; cat <&4; cat <&5; [ -e /proc/self/fd/6 ] && echo leaked-6; true").Save();
        var files = new[] { "a", "b", "c" }.Select(n =>
        {
            var p = Path.Combine(bundle.Dir, n);
            File.WriteAllText(p, $"from {n}\n");
            return p;
        }).ToArray();
        // sh execs env, which execs husk: LISTEN_PID=$$ is husk's pid, as systemd sets it.
        var r = ProcessRunner.Run("/bin/sh",
            ["-c", "exec 3<\"$1\" 4<\"$2\" 5<\"$3\"; shift 3; exec env LISTEN_FDS=2 LISTEN_PID=$$ \"$@\"", "sh", .. files,
             HuskCli.BinaryPath, "--root", root.Path, "run", "--preserve-fds", "1", "--bundle", bundle.Dir, root.NewId("listen")],
            new RunOptions()).AssertSuccess();
        Assert.Equal(["fds=2 pid=1", "from a", "from b", "from c"], r.StdoutLines);
    }

    [Fact]
    public void Listen_fds_meant_for_another_process_are_ignored()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.SetScript("echo fds=$LISTEN_FDS; [ -e /proc/self/fd/3 ] && echo leaked-3; true").Save();
        var r = ProcessRunner.Run("/bin/sh",
            ["-c", "exec 3</dev/null; exec env LISTEN_FDS=1 LISTEN_PID=1 \"$@\"", "sh",
             HuskCli.BinaryPath, "--root", root.Path, "run", "--bundle", bundle.Dir, root.NewId("listen")],
            new RunOptions()).AssertSuccess();
        Assert.Equal(["fds="], r.StdoutLines);
    }
}
