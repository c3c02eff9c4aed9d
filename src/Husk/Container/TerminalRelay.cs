using System.Runtime.InteropServices;
using Husk.Linux;

namespace Husk.Container;

/// <summary>
/// `run -t` / `exec -t` in the foreground without --console-socket: Husk itself receives the pty
/// master from the init and relays it: stdin → master and master → stdout, with its own terminal
/// (when stdin is one) in raw mode, and SIGWINCH copied to the pty as TIOCSWINSZ. Dispose
/// restores the terminal.
/// </summary>
public sealed unsafe class TerminalRelay : IDisposable
{
    readonly int _master;
    readonly bool _stdinIsTty;
    Native.Termios _saved;
    bool _restored;
    readonly PosixSignalRegistration? _winch;
    readonly Thread _out;

    /// <summary>A socket pair for the console: the init gets <c>Child</c>; <see cref="Receive"/> reads the master from <c>Parent</c>.</summary>
    public static (OwnedFd Parent, OwnedFd Child) NewConsoleSocketPair()
    {
        int[] pair = Native.SocketPair(Native.SOCK_STREAM, "socketpair for the console");
        return (new OwnedFd(pair[0]), new OwnedFd(pair[1]));
    }

    /// <summary>Receives the master from the parent end of the console socket pair (and closes that end).</summary>
    public static int Receive(OwnedFd parentSocket)
    {
        using (parentSocket)
            return Native.RecvFd(parentSocket.Fd, "receive the console fd", "the container's init exited before it sent its console").Fd;
    }

    TerminalRelay(int master)
    {
        _master = master;
        _stdinIsTty = Native.isatty(0) == 1;
        if (_stdinIsTty)
        {
            Native.Termios t;
            if (Native.tcgetattr(0, &t) == 0)
            {
                _saved = t;
                Native.cfmakeraw(&t);
                Native.tcsetattr(0, Native.TCSANOW, &t);
            }
            else _restored = true;
            CopyWindowSize();
            _winch = PosixSignalRegistration.Create((PosixSignal)28 /* SIGWINCH */, ctx => { ctx.Cancel = true; CopyWindowSize(); });
        }
        else _restored = true;

        _out = new Thread(() => Pump(_master, 1)) { IsBackground = true, Name = "tty-out" };
        _out.Start();
        new Thread(() => Pump(0, _master)) { IsBackground = true, Name = "tty-in" }.Start();
    }

    /// <summary>Starts relaying <paramref name="master"/> (the relay owns it).</summary>
    public static TerminalRelay Start(int master) => new(master);

    void CopyWindowSize()
    {
        Native.WinSize ws;
        if (Native.ioctl(0, Native.TIOCGWINSZ, &ws) == 0 && ws.Rows > 0 && ws.Cols > 0)
            Native.ioctl(_master, Native.TIOCSWINSZ, &ws);
    }

    /// <summary>
    /// Copies <paramref name="from"/> to <paramref name="to"/> until end-of-file or an error (EIO on
    /// a pty master: every slave fd is closed). Also the VM monitor's stdio relays.
    /// </summary>
    internal static void Pump(int from, int to)
    {
        var buf = new byte[16384];
        int n;
        while ((n = Native.ReadSome(from, buf)) > 0)
        {
            try { Native.WriteAll(to, buf.AsSpan(0, n), "terminal"); }
            catch (HuskException) { return; }
        }
    }

    /// <summary>After the process exited: waits (bounded) until its output is relayed.</summary>
    public void Drain(TimeSpan timeout) => _out.Join(timeout);

    public void Dispose()
    {
        _winch?.Dispose();
        if (!_restored)
        {
            _restored = true;
            var t = _saved;
            Native.tcsetattr(0, Native.TCSADRAIN, &t);
        }
        // The pump threads are background threads blocked in read(); the master stays open until
        // this process exits, so they never read a recycled fd.
    }
}
