using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// --preserve-fds N passes fds 3..3+N-1 to the container. Only the caller's may go: fds the .NET
/// runtime or Husk opened for itself (/dev/urandom, the state directory, the exec fifo, the init's
/// socket, the container's cgroup directory, the --log file) sit at those numbers when the caller
/// left them closed. Husk refuses, in one line, an N that reaches an fd that was not open when it
/// started. The container's process here, started by a caller with only stdio open, looks through
/// each fd it got for a secret next to Husk's state directory and for a cgroup directory.
/// Observed before the fix: `run --preserve-fds 6` exited 0 and the container held /dev/urandom, the
/// state directory (the secret beside it was read through /proc/self/fd/4/../secret), the exec fifo,
/// two sockets and the cgroup2 directory ("reached-cgroup"); `exec --preserve-fds 4` passed a socket,
/// /dev/urandom and the container's cgroup2 directory ("reached-cgroup").
/// After: both refused with "fd 3 was not open when husk started", nothing left behind.
/// </summary>
[Collection(SecurityCollection.Name)]
public class PreserveFdsOriginTests
{
    const string Secret = "secret-beside-the-state-dir";

    const string LookThroughFds =
        "for n in 3 4 5 6 7 8; do cat /proc/self/fd/$n/../secret /proc/self/fd/$n/secret 2>/dev/null; " +
        "ls /proc/self/fd/$n/ 2>/dev/null | grep -q '^cgroup.procs$' && echo reached-cgroup; done; true";

    [Theory]
    [InlineData("run", 6)]
    [InlineData("exec", 4)]
    public void Fds_the_caller_did_not_have_open_never_reach_the_container(string command, int preserve)
    {
        using var s = new Sandbox();
        File.WriteAllText(Path.Combine(s.Root.Path, "secret"), Secret + "\n");
        // The caller (this test's husk process) has only fds 0-2: .NET's Process closes the rest.
        Result r;
        if (command == "run") r = s.Script(LookThroughFds).Run("--preserve-fds", preserve.ToString());
        else
        {
            s.Bundle.SetArgs("sleep", "1000");
            s.StartDetached(out var id);
            r = s.Root.Run("exec", "--preserve-fds", preserve.ToString(), id, "sh", "-c", LookThroughFds);
            s.Delete(id);
        }
        Assert.DoesNotContain(Secret, r.Stdout);
        Assert.DoesNotContain("reached-cgroup", r.Stdout);
        Assert.True(r.ExitCode != 0, r.Describe($"{command} --preserve-fds {preserve} passed fds the caller never had"));
        Assert.Contains("fd 3 was not open when husk started", Attack.OneLine(r));
        File.Delete(Path.Combine(s.Root.Path, "secret"));
        s.AssertNothingLeaked();
    }

    [Fact]
    public void The_callers_own_fds_still_pass()
    {
        using var s = new Sandbox();
        string config = s.Bundle.Save().ConfigPath;
        s.Script("head -c 1 <&3; head -c 1 <&4; echo");
        var r = Attack.Sh($"exec 3<{Attack.Q(config)} 4<{Attack.Q(config)}; " +
                          $"exec {Attack.Q(HuskCli.BinaryPath)} --root {Attack.Q(s.Root.Path)} run --preserve-fds 2 --bundle {Attack.Q(s.Bundle.Dir)} {s.NewId()}")
            .AssertSuccess();
        Assert.Equal(["{{"], r.StdoutLines);
        s.AssertNothingLeaked();
    }
}
