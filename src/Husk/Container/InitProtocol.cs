using System.Buffers.Binary;
using System.Text;
using Husk.Linux;

namespace Husk.Container;

/// <summary>
/// Messages between `husk create` and the container's init over their socket. Types 1-5 (and Ready, from an init plan) are
/// spoken by native/nsexec.c and plan.c (native/plan.h; keep the numbers in sync); the rest by the managed init.
/// Frame: u32 type, u32 length, payload.
/// </summary>
public enum InitMessage : uint
{
    Bootstrap = 1,
    UserMapRequest = 2,
    UserMapAck = 3,
    ChildPid = 4,
    Error = 5,
    /// <summary>parent → init: its <see cref="Husk.Container.Launch.InitConfig"/> (JSON).</summary>
    Config = 10,
    /// <summary>init → parent: mounts are done; run the createRuntime (and prestart) hooks now.</summary>
    RunCreateRuntimeHooks = 12,
    /// <summary>parent → init: those hooks succeeded.</summary>
    HooksDone = 13,
    /// <summary>init → parent: everything is in place; the init now waits for `start`.</summary>
    Ready = 14,
}

/// <summary>Bootstrap records for nsexec.c.</summary>
public enum BootstrapRecord : ushort
{
    CloneFlags = 1,
    NamespacePath = 2,
    OomScoreAdj = 3,
    TimeNamespaceOffsets = 4,
    /// <summary>A cgroup v1 `tasks` file (NUL-terminated path) nsexec.c moves the process into, first.</summary>
    CgroupTasks = 6,
    /// <summary>The whole init as operations (<see cref="Launch.InitPlan"/>, native/plan.c): no .NET runtime in the init.</summary>
    Plan = 7,
}

/// <summary>A framed, blocking message channel over a socket fd.</summary>
public sealed class InitChannel(int fd) : IDisposable
{
    const int StallCheckMs = 1000;

    public int Fd { get; private set; } = fd;

    /// <summary>
    /// Called after each second <see cref="Receive"/> has waited without a message; throws to give
    /// up (a peer that can never answer, such as an init in a frozen cgroup). Null: wait for ever.
    /// </summary>
    public Action? WhileWaiting { get; set; }

    public void Send(InitMessage type, ReadOnlySpan<byte> payload)
    {
        Span<byte> hdr = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(hdr, (uint)type);
        BinaryPrimitives.WriteUInt32LittleEndian(hdr[4..], (uint)payload.Length);
        Native.WriteAll(Fd, hdr, "init socket");
        if (payload.Length > 0) Native.WriteAll(Fd, payload, "init socket");
    }

    public void Send(InitMessage type, string text) => Send(type, Encoding.UTF8.GetBytes(text));

    public void Send(InitMessage type, int value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, value);
        Send(type, b);
    }

    /// <summary>Receives the next message; null when the peer closed the socket.</summary>
    public (InitMessage Type, byte[] Payload)? Receive()
    {
        if (WhileWaiting != null) AwaitReady(Fd, Native.POLLIN, WhileWaiting, "init socket");
        Span<byte> hdr = stackalloc byte[8];
        if (!Native.ReadExact(Fd, hdr, "init socket")) return null;
        var type = (InitMessage)BinaryPrimitives.ReadUInt32LittleEndian(hdr);
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(hdr[4..]);
        if (len > 64 << 20) throw new HuskException("init socket: message too large");
        var payload = new byte[len];
        if (len > 0 && !Native.ReadExact(Fd, payload, "init socket"))
            throw new HuskException("init socket: unexpected end of data");
        return (type, payload);
    }

    /// <summary>
    /// Waits until poll(2) reports <paramref name="events"/> (or an error or hang-up) on
    /// <paramref name="fd"/>, calling <paramref name="whileWaiting"/> after each second without; it
    /// throws to give up. Errors of poll name <paramref name="what"/>.
    /// </summary>
    public static unsafe void AwaitReady(int fd, short events, Action whileWaiting, string what)
    {
        var pfd = new Native.PollFd { Fd = fd, Events = events };
        while (true)
        {
            pfd.REvents = 0;
            int rc = Native.poll(&pfd, 1, StallCheckMs);
            if (rc > 0) return;
            if (rc == 0) whileWaiting();
            else if (Native.Errno != Native.EINTR) throw new KernelException($"poll {what}", Native.Errno);
        }
    }

    /// <summary>Receives a message that must be of <paramref name="expected"/> type; an Error message becomes a HuskException.</summary>
    public byte[] Expect(InitMessage expected, string during)
    {
        var msg = Receive() ?? throw new HuskException($"container init exited {during}");
        if (msg.Type == InitMessage.Error) throw new HuskException(Encoding.UTF8.GetString(msg.Payload));
        if (msg.Type != expected) throw new HuskException($"container init sent {msg.Type} {during}, expected {expected}");
        return msg.Payload;
    }

    public static int ReadInt(byte[] payload) => BinaryPrimitives.ReadInt32LittleEndian(payload);

    public void Dispose()
    {
        if (Fd >= 0) Native.close(Fd);
        Fd = -1;
    }

    /// <summary>Builds the bootstrap payload for nsexec.c.</summary>
    public sealed class BootstrapBuilder
    {
        // The records, joined once at the end into one array of the exact size: a plan is ~20 KB,
        // and a growing stream would have copied it through arrays of twice that.
        readonly List<(BootstrapRecord Type, byte[] Payload)> _records = [];

        public BootstrapBuilder Add(BootstrapRecord type, byte[] payload)
        {
            _records.Add((type, payload));
            return this;
        }

        public BootstrapBuilder AddUInt32(BootstrapRecord type, uint value)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, value);
            return Add(type, b);
        }

        public BootstrapBuilder AddText(BootstrapRecord type, string text) => Add(type, Encoding.UTF8.GetBytes(text));

        public BootstrapBuilder AddNamespacePath(uint cloneFlag, string path)
        {
            var bytes = new byte[4 + Encoding.UTF8.GetByteCount(path) + 1];
            BinaryPrimitives.WriteUInt32LittleEndian(bytes, cloneFlag);
            Encoding.UTF8.GetBytes(path, bytes.AsSpan(4));
            return Add(BootstrapRecord.NamespacePath, bytes);
        }

        /// <summary>Each record: u16 type, u16 zero, u32 length, the payload.</summary>
        public byte[] ToArray()
        {
            int size = 0;
            foreach (var (_, payload) in _records) size += 8 + payload.Length;
            var bytes = new byte[size];
            var span = bytes.AsSpan();
            foreach (var (type, payload) in _records)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)type);
                BinaryPrimitives.WriteUInt32LittleEndian(span[4..], (uint)payload.Length);
                payload.CopyTo(span[8..]);
                span = span[(8 + payload.Length)..];
            }
            return bytes;
        }
    }
}
