using System.Text;

// CRIU's RPC messages (rpc.proto beside this file, proto2), written by hand for the fields Husk
// sends and reads: Google.Protobuf's generated code links its whole reflection and JSON support
// (~600 types with statics), and NativeAOT allocates every type's static base when any husk
// process starts, used or not; it cost every `create` and container init ~3.5% and 0.7 MiB.
// The names are the generated ones. Optional fields are nullable: null is "not set" and is not
// sent, as protobuf leaves out a proto2 field that was never assigned. Field numbers are rpc.proto's.
namespace Husk.Checkpoint.Rpc;

internal enum criu_req_type
{
    Empty = 0, Dump = 1, Restore = 2, Check = 3, PreDump = 4, PageServer = 5, Notify = 6,
    CpuinfoDump = 7, CpuinfoCheck = 8, FeatureCheck = 9, Version = 10, WaitPid = 11,
    PageServerChld = 12, SinglePreDump = 13,
}

internal enum criu_cg_mode { Ignore = 0, CgNone = 1, Props = 2, Soft = 3, Full = 4, Strict = 5, Default = 6 }

internal sealed class criu_page_server_info
{
    public string? Address { get; set; }
    public int? Port { get; set; }
    public int? Pid { get; set; }
    public int? Fd { get; set; }

    internal void WriteTo(ProtoWriter w)
    {
        w.String(1, Address);
        w.Int32(2, Port);
        w.Int32(3, Pid);
        w.Int32(4, Fd);
    }
}

internal sealed class inherit_fd
{
    public string Key { get; set; } = "";
    public int Fd { get; set; }

    internal void WriteTo(ProtoWriter w)
    {
        w.String(1, Key);
        w.Int32(2, Fd);
    }
}

internal sealed class cgroup_root
{
    public string? Ctrl { get; set; }
    public string Path { get; set; } = "";

    internal void WriteTo(ProtoWriter w)
    {
        w.String(1, Ctrl);
        w.String(2, Path);
    }
}

internal sealed class criu_opts
{
    public int ImagesDirFd { get; set; }
    public int? Pid { get; set; }
    public bool? LeaveRunning { get; set; }
    public bool? ExtUnixSk { get; set; }
    public bool? TcpEstablished { get; set; }
    public bool? EvasiveDevices { get; set; }
    public bool? ShellJob { get; set; }
    public bool? FileLocks { get; set; }
    public int? LogLevel { get; set; }
    public string? LogFile { get; set; }
    public criu_page_server_info? Ps { get; set; }
    public bool? NotifyScripts { get; set; }
    public string? Root { get; set; }
    public string? ParentImg { get; set; }
    public bool? TrackMem { get; set; }
    public bool? AutoDedup { get; set; }
    public int? WorkDirFd { get; set; }
    public bool? ManageCgroups { get; set; }
    public List<cgroup_root> CgRoot { get; } = [];
    public bool? RstSibling { get; set; }
    public List<inherit_fd> InheritFd { get; } = [];
    public criu_cg_mode? ManageCgroupsMode { get; set; }
    public List<string> External { get; } = [];
    public uint? EmptyNs { get; set; }
    public string? FreezeCgroup { get; set; }
    public bool? LazyPages { get; set; }
    public bool? OrphanPtsMaster { get; set; }
    public string? ConfigFile { get; set; }

    internal void WriteTo(ProtoWriter w)
    {
        w.Int32(1, ImagesDirFd);
        w.Int32(2, Pid);
        w.Bool(3, LeaveRunning);
        w.Bool(4, ExtUnixSk);
        w.Bool(5, TcpEstablished);
        w.Bool(6, EvasiveDevices);
        w.Bool(7, ShellJob);
        w.Bool(8, FileLocks);
        w.Int32(9, LogLevel);
        w.String(10, LogFile);
        if (Ps != null) { int at = w.BeginMessage(11); Ps.WriteTo(w); w.EndMessage(at); }
        w.Bool(12, NotifyScripts);
        w.String(13, Root);
        w.String(14, ParentImg);
        w.Bool(15, TrackMem);
        w.Bool(16, AutoDedup);
        w.Int32(17, WorkDirFd);
        w.Bool(24, ManageCgroups);
        foreach (var c in CgRoot) { int at = w.BeginMessage(25); c.WriteTo(w); w.EndMessage(at); }
        w.Bool(26, RstSibling);
        foreach (var f in InheritFd) { int at = w.BeginMessage(27); f.WriteTo(w); w.EndMessage(at); }
        w.Int32(34, (int?)ManageCgroupsMode);
        foreach (var e in External) w.String(37, e);
        w.UInt32(38, EmptyNs);
        w.String(44, FreezeCgroup);
        w.Bool(48, LazyPages);
        w.Bool(50, OrphanPtsMaster);
        w.String(51, ConfigFile);
    }
}

internal sealed class criu_req
{
    public criu_req_type Type { get; set; }
    public criu_opts? Opts { get; set; }
    public bool? NotifySuccess { get; set; }

    /// <summary>The message in protobuf's wire format.</summary>
    public byte[] ToByteArray()
    {
        var w = new ProtoWriter();
        w.Int32(1, (int)Type);
        if (Opts != null) { int at = w.BeginMessage(2); Opts.WriteTo(w); w.EndMessage(at); }
        w.Bool(3, NotifySuccess);
        return w.ToArray();
    }
}

internal sealed class criu_restore_resp
{
    public int Pid { get; set; }
}

internal sealed class criu_notify
{
    public string? Script { get; set; }
    public int? Pid { get; set; }
}

/// <summary>CRIU's answer; the fields Husk reads (others are skipped).</summary>
internal sealed class criu_resp
{
    public criu_req_type Type { get; set; }
    public bool Success { get; set; }
    public criu_restore_resp? Restore { get; set; }
    public criu_notify? Notify { get; set; }
    public int CrErrno { get; set; }
    public string? CrErrmsg { get; set; }

    /// <summary>Reads a message in protobuf's wire format; a malformed one is a <see cref="HuskException"/>.</summary>
    public static criu_resp Parse(ReadOnlySpan<byte> data)
    {
        var resp = new criu_resp();
        var r = new ProtoReader(data);
        while (r.Next(out int field, out int wire))
        {
            switch (field, wire)
            {
                case (1, 0): resp.Type = (criu_req_type)r.Int32(); break;
                case (2, 0): resp.Success = r.Varint() != 0; break;
                case (4, 2): resp.Restore = ParseRestore(r.Bytes()); break;
                case (5, 2): resp.Notify = ParseNotify(r.Bytes()); break;
                case (7, 0): resp.CrErrno = r.Int32(); break;
                case (9, 2): resp.CrErrmsg = Encoding.UTF8.GetString(r.Bytes()); break;
                default: r.Skip(wire); break;
            }
        }
        return resp;
    }

    static criu_restore_resp ParseRestore(ReadOnlySpan<byte> data)
    {
        var restore = new criu_restore_resp();
        var r = new ProtoReader(data);
        while (r.Next(out int field, out int wire))
            if (field == 1 && wire == 0) restore.Pid = r.Int32(); else r.Skip(wire);
        return restore;
    }

    static criu_notify ParseNotify(ReadOnlySpan<byte> data)
    {
        var notify = new criu_notify();
        var r = new ProtoReader(data);
        while (r.Next(out int field, out int wire))
        {
            if (field == 1 && wire == 2) notify.Script = Encoding.UTF8.GetString(r.Bytes());
            else if (field == 2 && wire == 0) notify.Pid = r.Int32();
            else r.Skip(wire);
        }
        return notify;
    }
}

/// <summary>Protobuf's wire format, the part proto2 messages of varints, strings and nested messages use.</summary>
internal sealed class ProtoWriter
{
    byte[] _buffer = new byte[512];
    int _length;

    public void Int32(int field, int? value)
    {
        if (value is not int v) return;
        Key(field, 0);
        Varint((ulong)(long)v);   // a negative int32 is sign-extended to ten bytes, as protobuf writes it
    }

    public void UInt32(int field, uint? value)
    {
        if (value is not uint v) return;
        Key(field, 0);
        Varint(v);
    }

    public void Bool(int field, bool? value)
    {
        if (value is not bool v) return;
        Key(field, 0);
        Byte(v ? (byte)1 : (byte)0);
    }

    public void String(int field, string? value)
    {
        if (value is null) return;
        Key(field, 2);
        int n = Encoding.UTF8.GetByteCount(value);
        Varint((ulong)n);
        Ensure(n);
        _length += Encoding.UTF8.GetBytes(value, _buffer.AsSpan(_length));
    }

    /// <summary>Starts a nested message: its key, and room for its length, which <see cref="EndMessage"/> fills.</summary>
    public int BeginMessage(int field)
    {
        Key(field, 2);
        Ensure(5);
        _length += 5;
        return _length;
    }

    /// <summary>Writes the nested message's length (the position <see cref="BeginMessage"/> returned) as a varint before it.</summary>
    public void EndMessage(int start)
    {
        int size = _length - start;
        Span<byte> len = stackalloc byte[5];
        int n = 0;
        for (uint v = (uint)size; ; v >>= 7)
        {
            if (v < 0x80) { len[n++] = (byte)v; break; }
            len[n++] = (byte)(v | 0x80);
        }
        // The message moves back over the bytes of the length it did not need.
        _buffer.AsSpan(start, size).CopyTo(_buffer.AsSpan(start - 5 + n));
        len[..n].CopyTo(_buffer.AsSpan(start - 5));
        _length -= 5 - n;
    }

    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();

    void Key(int field, int wire) => Varint((ulong)((uint)field << 3 | (uint)wire));

    void Varint(ulong v)
    {
        Ensure(10);
        while (v >= 0x80)
        {
            _buffer[_length++] = (byte)(v | 0x80);
            v >>= 7;
        }
        _buffer[_length++] = (byte)v;
    }

    void Byte(byte b)
    {
        Ensure(1);
        _buffer[_length++] = b;
    }

    void Ensure(int more)
    {
        if (_length + more > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
    }
}

/// <summary>Reads protobuf's wire format; anything malformed is a <see cref="HuskException"/>.</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    readonly ReadOnlySpan<byte> _data = data;
    int _position;

    /// <summary>The next field's number and wire type; false at the end.</summary>
    public bool Next(out int field, out int wire)
    {
        field = wire = 0;
        if (_position >= _data.Length) return false;
        ulong key = Varint();
        field = (int)(key >> 3);
        wire = (int)(key & 7);
        if (field == 0 || key >> 3 > int.MaxValue) throw Malformed();
        return true;
    }

    public ulong Varint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _data.Length) throw Malformed();
            byte b = _data[_position++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80) return value;
        }
        throw Malformed();
    }

    /// <summary>An int32 (or enum) field: the low 32 bits of its varint.</summary>
    public int Int32() => (int)Varint();

    public ReadOnlySpan<byte> Bytes()
    {
        ulong n = Varint();
        if (n > (ulong)(_data.Length - _position)) throw Malformed();
        var bytes = _data.Slice(_position, (int)n);
        _position += (int)n;
        return bytes;
    }

    public void Skip(int wire)
    {
        switch (wire)
        {
            case 0: Varint(); break;
            case 1: Advance(8); break;
            case 2: Bytes(); break;
            case 5: Advance(4); break;
            default: throw Malformed();   // groups (3, 4) are not in rpc.proto
        }
    }

    void Advance(int n)
    {
        if (n > _data.Length - _position) throw Malformed();
        _position += n;
    }

    static HuskException Malformed() => new("criu swrk sent a malformed message");
}
