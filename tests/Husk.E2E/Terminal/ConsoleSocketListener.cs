using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Xunit;

namespace Husk.E2E.Terminal;

/// <summary>
/// The receiving end of runc's --console-socket protocol, as containerd's shim and conmon are: a
/// listening AF_UNIX socket; the runtime connects and sends the pty master with SCM_RIGHTS and
/// its name as the data. <see cref="Receive"/> returns the master as a stream.
/// </summary>
public sealed partial class ConsoleSocketListener : IDisposable
{
    readonly string _dir;
    readonly Socket _listener;

    /// <summary>Pass to --console-socket.</summary>
    public string Path { get; }

    public ConsoleSocketListener()
    {
        _dir = Directory.CreateTempSubdirectory("husk-console-").FullName;
        Path = System.IO.Path.Combine(_dir, "console.sock");
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(Path));
        _listener.Listen(4);
    }

    /// <summary>Accepts one connection and receives the master; the name sent with it goes to <paramref name="name"/>.</summary>
    public unsafe PtyMaster Receive(out string name, TimeSpan? timeout = null)
    {
        var accept = _listener.AcceptAsync();
        if (!accept.Wait(timeout ?? TimeSpan.FromSeconds(20))) Assert.Fail("nothing connected to the console socket");
        using var conn = accept.Result;
        var data = new byte[4096];
        var control = stackalloc byte[64];
        fixed (byte* d = data)
        {
            var iov = new IoVec { Base = d, Len = (nuint)data.Length };
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 64 };
            nint n = RecvMsg((int)conn.Handle, &msg, 0);
            if (n < 0) Assert.Fail($"recvmsg on the console socket: errno {Marshal.GetLastPInvokeError()}");
            if (msg.ControlLen < 20 || *(int*)(control + 8) != 1 || *(int*)(control + 12) != 1)
                Assert.Fail("the console socket message carried no SCM_RIGHTS fd");
            name = Encoding.UTF8.GetString(data, 0, (int)n);
            return new PtyMaster(*(int*)(control + 16));
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [StructLayout(LayoutKind.Sequential)]
    unsafe struct IoVec { public void* Base; public nuint Len; }

    [StructLayout(LayoutKind.Sequential)]
    unsafe struct MsgHdr
    {
        public void* Name; public uint NameLen; public IoVec* Iov; public nuint IovLen;
        public void* Control; public nuint ControlLen; public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static unsafe partial nint RecvMsg(int fd, MsgHdr* msg, int flags);
}

/// <summary>A pty master: write input, read output until some text appears.</summary>
public sealed partial class PtyMaster : IDisposable
{
    readonly FileStream _stream;
    readonly StringBuilder _output = new();
    readonly Thread _reader;

    public int Fd { get; }

    public PtyMaster(int fd)
    {
        Fd = fd;
        _stream = new FileStream(new SafeFileHandle(fd, ownsHandle: true), FileAccess.ReadWrite, 0);
        _reader = new Thread(ReadLoop) { IsBackground = true };
        _reader.Start();
    }

    void ReadLoop()
    {
        var buf = new byte[4096];
        try
        {
            int n;
            while ((n = _stream.Read(buf, 0, buf.Length)) > 0)
                lock (_output) _output.Append(Encoding.UTF8.GetString(buf, 0, n));
        }
        catch (IOException) { }          // EIO: every slave fd is closed
        catch (ObjectDisposedException) { }
    }

    public string Output { get { lock (_output) return _output.ToString(); } }

    public void Write(string text)
    {
        var b = Encoding.UTF8.GetBytes(text);
        _stream.Write(b, 0, b.Length);
        _stream.Flush();
    }

    /// <summary>Waits until the output contains <paramref name="text"/>; fails the test with the output so far otherwise.</summary>
    public void WaitFor(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (DateTime.UtcNow < deadline)
        {
            if (Output.Contains(text, StringComparison.Ordinal)) return;
            Thread.Sleep(20);
        }
        Assert.Fail($"the terminal never showed \"{text}\"; it showed:\n{Output}");
    }

    /// <summary>Sets the pty's window size (TIOCSWINSZ).</summary>
    public unsafe void Resize(ushort rows, ushort cols)
    {
        var ws = stackalloc ushort[4] { rows, cols, 0, 0 };
        if (Ioctl(Fd, 0x5414, ws) != 0) Assert.Fail($"TIOCSWINSZ: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static unsafe partial int Ioctl(int fd, nuint request, void* arg);

    public void Dispose() => _stream.Dispose();
}
