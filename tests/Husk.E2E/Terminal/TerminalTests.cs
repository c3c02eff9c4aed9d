using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Terminal;

/// <summary>
/// process.terminal: the pty is made inside the container and its master sent over
/// --console-socket (runc's protocol: SCM_RIGHTS, named "/dev/ptmx"), or, in the foreground
/// without one, relayed by husk itself.
/// </summary>
public class TerminalTests
{
    static Bundle TerminalBundle(params string[] args)
    {
        var b = new Bundle(args);
        b.Process["terminal"] = true;
        b.Save();
        return b;
    }

    [Fact]
    public void Create_sends_the_pty_master_over_the_console_socket()
    {
        using var root = new TestRoot();
        using var bundle = TerminalBundle("sh", "-c", "tty; stty size; read x; echo got-$x; exit 0");
        bundle.Process["consoleSize"] = new JsonObject { ["height"] = 20, ["width"] = 70 };
        bundle.Save();
        using var console = new ConsoleSocketListener();
        var id = root.NewId("tty");
        root.Run("create", "--console-socket", console.Path, "--bundle", bundle.Dir, id).AssertSuccess();
        using var master = console.Receive(out var name);
        Assert.Equal("/dev/ptmx", name);
        root.Run("start", id).AssertSuccess();
        master.WaitFor("20 70");
        Assert.Contains("/dev/pts/0", master.Output);
        master.Write("abc\r");
        master.WaitFor("got-abc");
    }

    [Fact]
    public void Run_detached_with_a_console_socket()
    {
        using var root = new TestRoot();
        using var bundle = TerminalBundle("sh");
        using var console = new ConsoleSocketListener();
        var id = root.NewId("tty");
        root.Run("run", "-d", "--console-socket", console.Path, "--bundle", bundle.Dir, id).AssertSuccess();
        using var master = console.Receive(out _);
        master.Write("echo $((6*7))-answer; [ -t 0 ] && echo stdin-is-a-tty\r");
        master.WaitFor("42-answer");
        master.WaitFor("stdin-is-a-tty");
    }

    [Fact]
    public void Exec_t_with_a_console_socket()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId("tty");
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        using var console = new ConsoleSocketListener();
        var pidFile = Path.Combine(bundle.Dir, "exec.pid");
        root.Run("exec", "-t", "-d", "--console-socket", console.Path, "--pid-file", pidFile, id, "sh").AssertSuccess();
        using var master = console.Receive(out var name);
        Assert.Equal("/dev/ptmx", name);
        master.Resize(25, 90);
        master.Write("tty; stty size; echo exec-$((2+3))\r");
        master.WaitFor("exec-5");
        Assert.Contains("/dev/pts/", master.Output);
        Assert.Contains("25 90", master.Output);
        Assert.True(File.Exists(pidFile));
    }

    [Fact]
    public void Run_t_in_the_foreground_relays_the_terminal()
    {
        using var root = new TestRoot();
        using var bundle = TerminalBundle("sh");
        using var s = new PtySession("stty rows 33 cols 101; exec " +
            PtySession.CommandLine(HuskCli.BinaryPath, "--root", root.Path, "run", "--bundle", bundle.Dir, root.NewId("tty")));
        s.WaitFor("# ");
        s.Type("stty size; tty; echo typed-$((6*7))\r");
        s.WaitFor("typed-42");
        Assert.Contains("33 101", s.Output);
        Assert.Contains("/dev/pts/0", s.Output);
        s.Type("exit 5\r");
        Assert.Equal(5, s.WaitForExit());
        Assert.Empty(root.ListIds());
    }

    [Fact]
    public void Exec_t_in_the_foreground_relays_the_terminal()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId("tty");
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        using var s = new PtySession("stty rows 30 cols 99; exec " +
            PtySession.CommandLine(HuskCli.BinaryPath, "--root", root.Path, "exec", "-t", id, "sh"));
        s.WaitFor("# ");
        s.Type("stty size; echo $((1+1))-typed\r");
        s.WaitFor("2-typed");
        Assert.Contains("30 99", s.Output);
        s.Type("exit 4\r");
        Assert.Equal(4, s.WaitForExit());
    }

    [Fact]
    public void A_terminal_without_a_console_socket_fails_clearly_when_detached()
    {
        using var root = new TestRoot();
        using var bundle = TerminalBundle("sh");
        var r = root.Run("create", "--bundle", bundle.Dir, root.NewId("tty")).AssertFailure();
        Assert.Contains("--console-socket", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Empty(root.ListIds());

        using var plain = new Bundle("sleep", "1000");
        var id = root.NewId("tty");
        root.Run("run", "-d", "--bundle", plain.Dir, id).AssertSuccess();
        var e = root.Run("exec", "-t", "-d", id, "sh").AssertFailure();
        Assert.Contains("--console-socket", e.Stderr);
    }

    [Fact]
    public void A_console_socket_that_nobody_listens_on_fails_and_leaves_nothing()
    {
        using var root = new TestRoot();
        using var bundle = TerminalBundle("sh");
        var r = root.Run("create", "--console-socket", "/nonexistent/console.sock", "--bundle", bundle.Dir, root.NewId("tty")).AssertFailure();
        Assert.Contains("console socket", r.Stderr);
        Assert.Empty(root.ListIds());
    }
}
