using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// SCMP_ACT_NOTIFY with linux.seccomp.listenerPath: an agent on a unix socket receives the listener
/// fd (SCM_RIGHTS) with the container's ContainerProcessState JSON and answers the intercepted call.
/// </summary>
[Collection(SecurityCollection.Name)]
public unsafe partial class SeccompNotifyTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Agent_receives_the_listener_fd_and_answers_one_intercepted_syscall(bool defaultDeny)
    {
        using var s = new Sandbox();
        s.Config["root"]!["readonly"] = false;
        using var listener = NotifyMkdirToAgent(s, backlog: 1);
        var seccomp = (JsonObject)s.Linux["seccomp"]!;
        seccomp["listenerMetadata"] = "husk-e2e-agent";
        if (defaultDeny)
        {
            // A denying default puts runc's -ENOSYS stub before the program and Husk loads it with
            // seccomp(2): the listener fd then comes from that call (SECCOMP_FILTER_FLAG_NEW_LISTENER).
            seccomp["defaultAction"] = "SCMP_ACT_ERRNO";
            seccomp["architectures"] = Attack.Strings("SCMP_ARCH_X86_64");
            var allowed = SeccompEnosysTests.SyscallsUpTo(460).Where(n => n != "mkdir").ToArray();
            ((JsonArray)seccomp["syscalls"]!).Add(new JsonObject { ["names"] = Attack.Strings(allowed), ["action"] = "SCMP_ACT_ALLOW" });
        }
        s.Script("mkdir /tmp/intercepted 2>&1; echo rc=$?; mkdir /tmp/intercepted 2>&1; echo rc2=$?");

        // The agent: one connection, one message with the fd, then answer two mkdir calls with EXDEV.
        string? stateJson = null;
        int answered = 0, syscallNr = -1;
        Exception? agentError = null;
        var agent = new Thread(() =>
        {
            try { Serve(listener, out stateJson, out syscallNr, ref answered); }
            catch (Exception e) { agentError = e; }
        }) { IsBackground = true };
        agent.Start();

        var id = s.NewId();
        var r = s.Root.Run(["run", "--bundle", s.Bundle.Save().Dir, id]).AssertSuccess();
        Assert.True(agent.Join(TimeSpan.FromSeconds(10)), "the agent did not finish");
        if (agentError is not null) throw new Xunit.Sdk.XunitException($"the agent failed: {agentError}");

        Assert.Equal(2, answered);
        Assert.Equal(83, syscallNr);   // mkdir on x86_64
        Assert.Contains("Invalid cross-device link", r.Stdout);
        Assert.Contains("rc=1", r.Stdout);
        Assert.False(Directory.Exists(s.Bundle.HostPath("/tmp/intercepted")));

        var msg = JsonNode.Parse(stateJson!)!.AsObject();
        Assert.Equal("seccompFd", (string?)Assert.Single(msg["fds"]!.AsArray()));
        Assert.Equal("husk-e2e-agent", (string?)msg["metadata"]);
        Assert.Equal(id, (string?)msg["state"]!["id"]);
        Assert.True((int)msg["pid"]! > 0);
        Assert.Equal((int)msg["pid"]!, (int)msg["state"]!["pid"]!);
        Assert.False(string.IsNullOrEmpty((string?)msg["ociVersion"]));
        s.AssertNothingLeaked();
    }

    [Fact]
    public void An_exec_process_reaches_the_agent_from_inside_the_container_too()
    {
        using var s = new Sandbox("sleep", "1000");
        s.Config["root"]!["readonly"] = false;
        using var listener = NotifyMkdirToAgent(s, backlog: 2);

        // The agent: the init's listener first (kept, unused), then the exec'd process's: answer its mkdir.
        int execPid = 0;
        Exception? agentError = null;
        var agent = new Thread(() =>
        {
            try
            {
                using var initConn = listener.Accept();
                var (initFd, _) = RecvFd((int)initConn.Handle);
                using var execConn = listener.Accept();
                var (fd, json) = RecvFd((int)execConn.Handle);
                execPid = (int)JsonNode.Parse(json)!["pid"]!;
                AnswerOne(fd);
                close(fd);
                close(initFd);
            }
            catch (Exception e) { agentError = e; }
        }) { IsBackground = true };
        agent.Start();

        var id = s.NewId();
        s.Root.Run(["run", "-d", "--bundle", s.Bundle.Save().Dir, id]).AssertSuccess();
        var r = s.Root.Run(["exec", id, "sh", "-c", "mkdir /tmp/from-exec 2>&1; echo rc=$?"]);
        Assert.True(agent.Join(TimeSpan.FromSeconds(10)), "the agent did not finish");
        if (agentError is not null) throw new Xunit.Sdk.XunitException($"the agent failed: {agentError}");
        Assert.Contains("Invalid cross-device link", r.Stdout);
        Assert.Contains("rc=1", r.Stdout);
        Assert.True(execPid > 0);
        Assert.False(Directory.Exists(s.Bundle.HostPath("/tmp/from-exec")));
        s.Root.Run(["delete", "--force", id]).AssertSuccess();
        s.AssertNothingLeaked();
    }

    /// <summary>An agent's listening socket in the bundle, and a profile that sends mkdir to it (SCMP_ACT_NOTIFY).</summary>
    static Socket NotifyMkdirToAgent(Sandbox s, int backlog)
    {
        string sock = Path.Combine(s.Bundle.Dir, "agent.sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(sock));
        listener.Listen(backlog);
        s.Linux["seccomp"] = new JsonObject
        {
            ["defaultAction"] = "SCMP_ACT_ALLOW",
            ["listenerPath"] = sock,
            ["syscalls"] = new JsonArray(new JsonObject { ["names"] = Attack.Strings("mkdir"), ["action"] = "SCMP_ACT_NOTIFY" }),
        };
        return listener;
    }

    /// <summary>Answers one notification on <paramref name="fd"/> with -EXDEV; returns the intercepted syscall's number.</summary>
    static int AnswerOne(int fd)
    {
        var req = stackalloc byte[80];   // struct seccomp_notif, zeroed as the kernel requires
        var resp = stackalloc byte[24];  // struct seccomp_notif_resp
        new Span<byte>(req, 80).Clear();
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) throw new IOException($"NOTIF_RECV: errno {Marshal.GetLastPInvokeError()}");
        new Span<byte>(resp, 24).Clear();
        *(ulong*)resp = *(ulong*)req;     // id
        *(int*)(resp + 16) = -18;         // error: -EXDEV
        if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp) != 0) throw new IOException($"NOTIF_SEND: errno {Marshal.GetLastPInvokeError()}");
        return *(int*)(req + 16);
    }

    [Fact]
    public void A_missing_listener_socket_fails_create_in_one_line()
    {
        using var s = new Sandbox("true");
        s.Linux["seccomp"] = new JsonObject
        {
            ["defaultAction"] = "SCMP_ACT_ALLOW",
            ["listenerPath"] = Path.Combine(s.Bundle.Dir, "nobody-listens.sock"),
            ["syscalls"] = new JsonArray(new JsonObject { ["names"] = Attack.Strings("mkdir"), ["action"] = "SCMP_ACT_NOTIFY" }),
        };
        var r = s.Run().AssertFailure();
        Assert.Contains("seccomp listener", Attack.OneLine(r));
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Notify_on_write_is_refused_at_create()
    {
        // runc 1.1.5 seccomp-notify.bats "runc run [seccomp] (SCMP_ACT_NOTIFY write)".
        using var s = new Sandbox("true");
        using var listener = NotifyMkdirToAgent(s, backlog: 1);
        ((JsonArray)s.Linux["seccomp"]!["syscalls"]![0]!["names"]!).Add("write");
        var r = s.Run().AssertFailure(1);
        Assert.Contains("SCMP_ACT_NOTIFY cannot be used for the write syscall", Attack.OneLine(r));
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }

    [Fact]
    public void A_socket_no_agent_listens_on_fails_create_naming_the_agent()
    {
        // runc 1.1.5 seccomp-notify.bats "(SCMP_ACT_NOTIFY no seccompagent)": create fails, "failed to
        // connect with seccomp agent". The socket file stays, nothing accepts on it (ECONNREFUSED).
        using var s = new Sandbox("true");
        string sock = Path.Combine(s.Bundle.Dir, "stale.sock");
        using (NotifyMkdirToAgent(s, backlog: 1))
            // A second name for the socket: disposing the listener removes only the first.
            ProcessRunner.Run("ln", (string)s.Linux["seccomp"]!["listenerPath"]!, sock).AssertSuccess();
        s.Linux["seccomp"]!["listenerPath"] = sock;
        Assert.True(File.Exists(sock));
        var r = s.Run().AssertFailure(1);
        var line = Attack.OneLine(r);
        Assert.Contains("failed to connect with seccomp agent", line);
        Assert.Contains(sock, line);
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }

    /// <summary>The agent: accepts one connection, takes the fd and the state, answers two notifications with -EXDEV.</summary>
    static void Serve(Socket listener, out string stateJson, out int syscallNr, ref int answered)
    {
        using var conn = listener.Accept();
        var (fd, json) = RecvFd((int)conn.Handle);
        stateJson = json;
        syscallNr = -1;
        try
        {
            for (int i = 0; i < 2; i++)
            {
                syscallNr = AnswerOne(fd);
                answered++;
            }
        }
        finally { close(fd); }
    }

    const nuint SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100, SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int ioctl(int fd, nuint request, void* arg);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recvmsg(int fd, MsgHdr* msg, int flags);

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec { public void* Base; public nuint Len; }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name; public uint NameLen; public IoVec* Iov; public nuint IovLen;
        public void* Control; public nuint ControlLen; public int Flags;
    }

    /// <summary>recvmsg of one message: its data (UTF-8) and the one fd it carries.</summary>
    private static (int Fd, string Data) RecvFd(int sock)
    {
        var data = new byte[65536];
        var control = stackalloc byte[64];
        fixed (byte* d = data)
        {
            var iov = new IoVec { Base = d, Len = (nuint)data.Length };
            var msg = new MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 64 };
            nint n = recvmsg(sock, &msg, 0x40000000 /* MSG_CMSG_CLOEXEC */);
            if (n <= 0) throw new IOException($"recvmsg: {n}, errno {Marshal.GetLastPInvokeError()}");
            Assert.True(msg.ControlLen >= 20, "no control message");
            Assert.Equal(1, *(int*)(control + 8));    // SOL_SOCKET
            Assert.Equal(1, *(int*)(control + 12));   // SCM_RIGHTS
            return (*(int*)(control + 16), Encoding.UTF8.GetString(data, 0, (int)n));
        }
    }
}
