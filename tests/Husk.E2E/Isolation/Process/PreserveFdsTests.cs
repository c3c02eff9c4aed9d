using Xunit;

namespace Husk.E2E.Isolation.Process;

/// <summary>
/// --preserve-fds N: the caller's fds 3..3+N-1 reach the container with the same numbers, and no
/// other fd does, neither the caller's nor one of the runtime's own (CVE-2024-21626's class).
/// husk is started through /bin/sh so the caller really has fds 3, 4 and 5 open without close-on-exec.
/// </summary>
public class PreserveFdsTests
{
    sealed class Files : IDisposable
    {
        public readonly string Dir = Directory.CreateTempSubdirectory("husk-fds-").FullName;
        public string F(int n) => Path.Combine(Dir, $"f{n}");

        public Files()
        {
            for (int n = 3; n <= 5; n++) File.WriteAllText(F(n), $"content of fd {n}\n");
        }

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }

    /// <summary>Runs husk with fds 3, 4, 5 open on f3, f4, f5.</summary>
    static Result HuskWithOpenFds(Files f, TestRoot root, params string[] args) =>
        ProcessRunner.Run("/bin/sh",
            ["-c", "exec 3<\"$1\" 4<\"$2\" 5<\"$3\"; shift 3; exec \"$@\"", "sh", f.F(3), f.F(4), f.F(5),
             HuskCli.BinaryPath, "--root", root.Path, .. args],
            new RunOptions());

    [Theory]
    [InlineData(0, "0 1 2")]
    [InlineData(2, "0 1 2 3 4")]
    public void Only_stdio_and_the_preserved_fds_are_open_inside(int preserve, string expected)
    {
        using var f = new Files();
        using var root = new TestRoot();
        using var bundle = new Bundle();
        // pid 1 is the shell; ls runs as its child and lists the shell's fds, not its own (no
        // command substitution: its pipe would be one more fd of the shell).
        bundle.SetScript("ls /proc/1/fd; echo --; for n in 3 4; do [ -e /proc/1/fd/$n ] && cat <&$n; done; true").Save();

        var r = HuskWithOpenFds(f, root, "run", "--preserve-fds", preserve.ToString(), "--bundle", bundle.Dir, root.NewId()).AssertSuccess();

        var lines = r.StdoutLines;
        int sep = Array.IndexOf(lines, "--");
        Assert.Equal(expected, string.Join(' ', lines[..sep]));
        Assert.Equal(preserve == 2 ? ["content of fd 3", "content of fd 4"] : [], lines[(sep + 1)..]);
    }

    [Fact]
    public void From_the_host_the_container_process_holds_exactly_stdio_and_the_preserved_fds()
    {
        using var f = new Files();
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId("fds");

        HuskWithOpenFds(f, root, "run", "-d", "--preserve-fds", "2", "--bundle", bundle.Dir, id).AssertSuccess();
        int pid = (int)ProcessProbe.State(root, id)["pid"]!;
        ProcessProbe.WaitForComm(pid, "sleep");

        var fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd").Select(p => int.Parse(Path.GetFileName(p))).Order().ToArray();
        Assert.Equal([0, 1, 2, 3, 4], fds);
        Assert.Equal(f.F(3), new FileInfo($"/proc/{pid}/fd/3").LinkTarget);
        Assert.Equal(f.F(4), new FileInfo($"/proc/{pid}/fd/4").LinkTarget);
        // The cwd is the container's root, not a directory of the runtime's (CVE-2024-21626).
        Assert.Equal("/", new FileInfo($"/proc/{pid}/cwd").LinkTarget);
        root.Run("delete", "--force", id).AssertSuccess();
    }

    [Fact]
    public void A_negative_preserve_fds_is_refused()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        var r = root.Run("run", "--preserve-fds", "-1", "--bundle", bundle.Dir, root.NewId()).AssertFailure();
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("preserve-fds", r.Stderr);
    }
}
