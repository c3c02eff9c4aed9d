using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using Husk.Container;
using Husk.Linux;

namespace Husk.Vm;

/// <summary>
/// `exec` into a container in a VM. A process in the guest cannot be a host process, so, as
/// runsc's exec, a host process stands for it: `husk exec` itself in the foreground, or with
/// --detach a relay it leaves behind (`husk init` in <see cref="RelayMode"/>, its pid in
/// --pid-file), which relays stdio and exits with the guest process's exit code. It talks to the
/// container's VM monitor over a socket in the runtime directory (<see cref="SocketName"/>); the
/// monitor multiplexes every exec over the VM's exec port (<see cref="QemuCommand.ExecPort"/>),
/// and in the guest Husk's PID 1 runs `husk exec --process` in the container and relays back.
/// </summary>
public static class VmExec
{
    public const string SocketName = "exec.sock", RelayMode = "vm-exec", RelaySocketEnv = "_HUSK_VMEXEC_FD";

    /// <summary>Frames on the exec port and the monitor's socket: u8 kind, u32 channel, u32 length, data.</summary>
    public enum Kind : byte { Start = 1, Stdin = 2, Stdout = 3, Stderr = 4, Exit = 5, Pids = 6 }

    public static void Write(int fd, Kind kind, uint channel, ReadOnlySpan<byte> data, object? gate = null)
    {
        var frame = new byte[9 + data.Length];
        frame[0] = (byte)kind;
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(1), channel);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(5), (uint)data.Length);
        data.CopyTo(frame.AsSpan(9));
        if (gate is null) { Native.WriteAll(fd, frame, "VM exec"); return; }
        lock (gate) Native.WriteAll(fd, frame, "VM exec");
    }

    /// <summary>The next frame; null at end of file.</summary>
    public static (Kind Kind, uint Channel, byte[] Data)? Read(int fd)
    {
        Span<byte> hdr = stackalloc byte[9];
        if (!Native.ReadExact(fd, hdr, "VM exec")) return null;
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(hdr[5..]);
        if (len > 16 << 20) throw new HuskException("VM exec: frame too large");
        var data = new byte[len];
        if (len > 0 && !Native.ReadExact(fd, data, "VM exec")) return null;
        return ((Kind)hdr[0], BinaryPrimitives.ReadUInt32LittleEndian(hdr[1..]), data);
    }

    /// <summary>
    /// `husk exec` of <paramref name="process"/> in the VM container whose state directory is
    /// <paramref name="stateDir"/>: in the foreground, its exit code; with <paramref name="detach"/>,
    /// 0 once a relay process stands for it (its pid in <paramref name="pidFile"/>).
    /// </summary>
    public static int Run(string stateDir, Spec.Process process, bool detach, string? pidFile, string? consoleSocket)
    {
        int socket = Native.ConnectUnix(Path.Combine(stateDir, "vm", SocketName), "VM exec socket");
        int slave = -1;
        try
        {
            Write(socket, Kind.Start, 0, Encoding.UTF8.GetBytes(Spec.SpecJson.Serialize(process)));
            // A terminal with --console-socket: a pty on the host, its master to the socket, its
            // slave the relay's stdio; the guest process has a pty of its own. Without a console
            // socket, in the foreground, this process's stdio are relayed as they are.
            if (process.Terminal && consoleSocket != null)
                slave = VmInstance.OpenHostPty(Native.ConnectUnix(consoleSocket), process.ConsoleSize);
            if (!detach)
            {
                if (slave >= 0)
                    for (int fd = 0; fd <= 2; fd++) Native.Check(Native.dup2(slave, fd), $"dup2 the pty's slave onto fd {fd}");
                return Relay(socket);
            }
            IReadOnlyList<(int, int)> fds = slave >= 0 ? [(slave, 0), (slave, 1), (slave, 2), (socket, 3)] : [(socket, 3)];
            int pid = Spawner.Spawn("/proc/self/exe", ["husk", "init"],
                [$"{InitLauncher.InitModeEnv}={RelayMode}", $"{RelaySocketEnv}=3"], fds, newSession: true);
            if (pidFile != null) SmallFile.WriteAtomically(Path.GetFullPath(pidFile), Encoding.ASCII.GetBytes(pid.ToString()));
            return 0;
        }
        finally
        {
            Native.close(socket);
            if (slave >= 0) Native.close(slave);
        }
    }

    /// <summary>`ps` of a VM container: the pids of its processes in the guest (asked of the guest's Husk).</summary>
    public static IReadOnlyList<int> GuestPids(string stateDir)
    {
        int socket = Native.ConnectUnix(Path.Combine(stateDir, "vm", SocketName), "VM exec socket");
        try
        {
            Write(socket, Kind.Pids, 0, []);
            if (Read(socket) is not { Kind: Kind.Pids } reply) throw new HuskException("ps: the container's VM did not answer");
            return [.. Encoding.ASCII.GetString(reply.Data).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
        }
        finally { Native.close(socket); }
    }

    /// <summary>The relay left behind by a detached exec.</summary>
    public static int RunRelay()
    {
        int socket = InitLauncher.InheritedFd(RelaySocketEnv);
        try { return Relay(socket); }
        catch (HuskException e) { Console.Error.WriteLine($"husk: {e.Message}"); return 127; }
    }

    /// <summary>This process's stdin to the guest process, its stdout and stderr back; its exit code.</summary>
    static int Relay(int socket)
    {
        new Thread(() =>
        {
            var buf = new byte[16384];
            try
            {
                int n;
                while ((n = Native.ReadSome(0, buf)) > 0) Write(socket, Kind.Stdin, 0, buf.AsSpan(0, n));
                Write(socket, Kind.Stdin, 0, []);
            }
            catch (HuskException) { }
        }) { IsBackground = true }.Start();
        while (Read(socket) is { } frame)
        {
            switch (frame.Kind)
            {
                case Kind.Stdout: Native.WriteAll(1, frame.Data, "stdout"); break;
                case Kind.Stderr: Native.WriteAll(2, frame.Data, "stderr"); break;
                case Kind.Exit: return BinaryPrimitives.ReadInt32LittleEndian(frame.Data);
            }
        }
        throw new HuskException("exec: the container's VM went away before the process exited");
    }

    /// <summary>
    /// In the monitor: accepts exec clients on <paramref name="listener"/> and multiplexes them over
    /// the exec port <paramref name="port"/>, each under a channel of its own. Runs on background threads.
    /// </summary>
    public static void Serve(int listener, int port)
    {
        var clients = new ConcurrentDictionary<uint, int>();
        var gate = new object();
        uint next = 0;
        Background(() =>
        {
            while (Read(port) is { } frame)
                if (clients.TryGetValue(frame.Channel, out int client))
                {
                    try { Write(client, frame.Kind, 0, frame.Data); } catch (HuskException) { }
                    if (frame.Kind is Kind.Exit or Kind.Pids && clients.TryRemove(frame.Channel, out _)) Native.close(client);
                }
        });
        Background(() =>
        {
            while (true)
            {
                int client = Native.accept4(listener, 0, 0, Native.SOCK_CLOEXEC);
                if (client < 0) { if (Native.Errno == Native.EINTR) continue; return; }
                uint channel = Interlocked.Increment(ref next);
                clients[channel] = client;
                Background(() =>
                {
                    try
                    {
                        while (Read(client) is { } frame) Write(port, frame.Kind, channel, frame.Data, gate);
                    }
                    catch (HuskException) { }
                });
            }
        });
    }

    /// <summary>
    /// In the guest: runs each exec the monitor starts as `husk exec --process` of the container
    /// (a child of PID 1, whose wait reports it through <paramref name="exited"/>), relaying its stdio.
    /// </summary>
    public static void ServeGuest(int port, string id, ConcurrentDictionary<int, Action<int>> exited)
    {
        var gate = new object();
        var stdins = new ConcurrentDictionary<uint, int>();
        Background(() =>
        {
            try
            {
                while (Read(port) is { } frame)
                {
                    if (frame.Kind == Kind.Start) StartInGuest(port, gate, id, frame.Channel, frame.Data, stdins, exited);
                    else if (frame.Kind == Kind.Pids)
                        Write(port, Kind.Pids, frame.Channel, Encoding.ASCII.GetBytes(string.Join(',', ResourceOperations.Pids(new StateStore("/run/husk"), id))), gate);
                    else if (frame.Kind == Kind.Stdin && stdins.TryGetValue(frame.Channel, out int stdin))
                    {
                        if (frame.Data.Length == 0) { if (stdins.TryRemove(frame.Channel, out _)) Native.close(stdin); }
                        else try { Native.WriteAll(stdin, frame.Data, "exec stdin"); } catch (HuskException) { }
                    }
                }
            }
            catch (HuskException) { }
        });
    }

    static void StartInGuest(int port, object gate, string id, uint channel, byte[] processJson,
        ConcurrentDictionary<uint, int> stdins, ConcurrentDictionary<int, Action<int>> exited)
    {
        var file = $"/run/husk-exec-{channel}.json";
        File.WriteAllBytes(file, processJson);
        var stdin = Native.Pipe("exec stdin");
        var stdout = Native.Pipe("exec stdout");
        var stderr = Native.Pipe("exec stderr");
        var done = new CountdownEvent(2);
        int status = 0;
        void Pump(int from, Kind kind) => Background(() =>
        {
            var buf = new byte[16384];
            int n;
            try { while ((n = Native.ReadSome(from, buf)) > 0) Write(port, kind, channel, buf.AsSpan(0, n), gate); }
            catch (HuskException) { }
            Native.close(from);
            done.Signal();
        });
        lock (exited)
        {
            int pid = Spawner.Spawn("/proc/self/exe", ["husk", "--root", "/run/husk", "exec", "--process", file, id], [],
                [(stdin[0], 0), (stdout[1], 1), (stderr[1], 2)]);
            exited[pid] = st =>
            {
                status = st;
                Background(() =>
                {
                    done.Wait();
                    File.Delete(file);
                    Span<byte> code = stackalloc byte[4];
                    BinaryPrimitives.WriteInt32LittleEndian(code, Cleanup.ExitCode(status));
                    try { Write(port, Kind.Exit, channel, code, gate); } catch (HuskException) { }
                });
            };
        }
        foreach (var fd in new[] { stdin[0], stdout[1], stderr[1] }) Native.close(fd);
        stdins[channel] = stdin[1];
        Pump(stdout[0], Kind.Stdout);
        Pump(stderr[0], Kind.Stderr);
    }

    static void Background(Action work) => new Thread(() => work()) { IsBackground = true }.Start();
}
