using Husk.Checkpoint.Rpc;
using Xunit;

namespace Husk.Tests.Checkpoint;

/// <summary>
/// The hand-written CRIU RPC codec against protobuf itself: the expected bytes are what
/// `protoc --encode=criu_req rpc.proto` (Grpc.Tools 2.85's protoc) makes of the same message in
/// text format, and the response is `protoc --encode=criu_resp` of one with every field set.
/// </summary>
public class CriuRpcTests
{
    [Fact]
    public void Request_with_every_field_husk_sets_encodes_as_protoc_does()
    {
        var opts = new criu_opts
        {
            ImagesDirFd = 5, Pid = 1234, LeaveRunning = true, ExtUnixSk = false, TcpEstablished = true,
            EvasiveDevices = true, ShellJob = false, FileLocks = true, LogLevel = 4, LogFile = "restore.log",
            Ps = new criu_page_server_info { Address = "10.0.0.1", Port = 27 },
            NotifyScripts = true, Root = "/run/husk/x/rootfs", ParentImg = "../pre", TrackMem = true,
            AutoDedup = false, WorkDirFd = 6, ManageCgroups = true, RstSibling = true,
            ManageCgroupsMode = criu_cg_mode.Ignore, EmptyNs = 0x40000000,
            FreezeCgroup = "/sys/fs/cgroup/freezer/x", LazyPages = false, OrphanPtsMaster = true,
            ConfigFile = "/etc/criu/runc.conf",
        };
        opts.CgRoot.Add(new cgroup_root { Ctrl = "cpu,cpuacct", Path = "/a" });
        opts.CgRoot.Add(new cgroup_root { Path = "/b" });
        opts.InheritFd.Add(new inherit_fd { Key = "extRootNetNS", Fd = 11 });
        opts.InheritFd.Add(new inherit_fd { Key = "pipe:[123]", Fd = -1 });
        opts.External.AddRange(["mnt[/x]:/y", "net[4026531840]:extRootNetNS"]);
        var req = new criu_req { Type = criu_req_type.Restore, Opts = opts, NotifySuccess = true };

        Assert.Equal(
            "0802128f02080510d2091801200028013001380040014804520b726573746f72652e6c6f675a0c0a0831302e302e302e31101b60016a12" +
            "2f72756e2f6875736b2f782f726f6f74667372062e2e2f7072657801800100880106c00101ca01110a0b6370752c6370756163637412022f" +
            "61ca010412022f62d00101da01100a0c657874526f6f744e65744e53100bda01170a0a706970653a5b3132335d10ffffffffffffffffff01" +
            "900200aa020a6d6e745b2f785d3a2f79aa021c6e65745b343032363533313834305d3a657874526f6f744e65744e53b0028080808004e202" +
            "182f7379732f66732f6367726f75702f667265657a65722f788003009003019a03132f6574632f637269752f72756e632e636f6e661801",
            Convert.ToHexStringLower(req.ToByteArray()));
    }

    [Fact]
    public void Unset_fields_are_not_sent()
    {
        var req = new criu_req { Type = criu_req_type.Notify, NotifySuccess = false };
        Assert.Equal("08061800", Convert.ToHexStringLower(req.ToByteArray()));
        var bare = new criu_req { Type = criu_req_type.Dump, Opts = new criu_opts { ImagesDirFd = 3 } };
        Assert.Equal("080112020803", Convert.ToHexStringLower(bare.ToByteArray()));
    }

    [Fact]
    public void Long_nested_messages_get_multi_byte_lengths()
    {
        var opts = new criu_opts { ImagesDirFd = 1, Root = new string('r', 300) };
        var bytes = new criu_req { Type = criu_req_type.Dump, Opts = opts }.ToByteArray();
        // opts: key 0x12, length 2 + 3 + 300 = 305 = b1 02; root: key 0x6a, length 300 = ac 02.
        Assert.Equal("0801" + "12b102" + "0801" + "6aac02", Convert.ToHexStringLower(bytes.AsSpan(0, 10)));
        Assert.Equal(2 + 3 + 305, bytes.Length);
    }

    [Fact]
    public void Response_fields_are_read_and_the_others_skipped()
    {
        var resp = criu_resp.Parse(Convert.FromHexString(
            "080610011a020801220308e1212a140a1073657475702d6e616d65737061636573104d32050a01611001380d420208014a0662616420c3a9" +
            "5207080310111a01675809"));
        Assert.Equal(criu_req_type.Notify, resp.Type);
        Assert.True(resp.Success);
        Assert.Equal(4321, resp.Restore?.Pid);
        Assert.Equal("setup-namespaces", resp.Notify?.Script);
        Assert.Equal(77, resp.Notify?.Pid);
        Assert.Equal(13, resp.CrErrno);
        Assert.Equal("bad é", resp.CrErrmsg);
    }

    [Theory]
    [InlineData("08")]          // a varint cut short
    [InlineData("4a05616263")]  // a string longer than what is left
    [InlineData("0b")]          // a group (wire type 3)
    [InlineData("00")]          // field number 0
    public void Malformed_responses_are_one_line_errors(string hex)
    {
        var e = Assert.Throws<HuskException>(() => criu_resp.Parse(Convert.FromHexString(hex)));
        Assert.Equal("criu swrk sent a malformed message", e.Message);
    }
}
