using System.Text;
using System.Text.Json;
using Husk.Linux;
using Husk.Spec;

namespace Husk.Seccomp;

/// <summary>
/// The connection to the seccomp agent (linux.seccomp.listenerPath), made while its host path is
/// still reachable (before pivot_root, or before joining the container's mount namespace) and
/// kept until the filter is loaded, when the listener fd is sent over it. Dispose closes it.
/// </summary>
public sealed class SeccompListener : IDisposable
{
    int _fd;
    public string Path { get; }

    SeccompListener(int fd, string path) { _fd = fd; Path = path; }

    /// <summary>
    /// Connects to the listener of <paramref name="seccomp"/> when it has a listenerPath and some rule
    /// notifies; null otherwise. As runc, an agent that cannot be reached fails create (or exec) now,
    /// naming it, not start; the agent gets the message on this connection once the filter is loaded.
    /// </summary>
    public static SeccompListener? Open(LinuxSeccomp? seccomp)
    {
        if (seccomp is null || string.IsNullOrEmpty(seccomp.ListenerPath)) return null;
        if (!seccomp.Syscalls.Any(s => s.Action == "SCMP_ACT_NOTIFY")) return null;
        string path = seccomp.ListenerPath;
        int pinned = Native.open(path, Native.O_PATH | Native.O_CLOEXEC, 0);
        if (pinned < 0) throw new HuskException(SeccompFilter.AgentUnreachable(path, Native.StrError(Native.Errno)));
        try
        {
            var st = Native.FStatx(pinned, $"seccomp listener {path}");
            if ((st.Mode & Native.S_IFMT) != 0xC000)   // S_IFSOCK
                throw new HuskException(SeccompFilter.AgentUnreachable(path, "not a unix socket"));
            // Through the pinned fd: the path may be long, and is resolved once.
            return new SeccompListener(SeccompFilter.ConnectUnix($"/proc/self/fd/{pinned}", path), path);
        }
        finally { Native.close(pinned); }
    }

    /// <summary>The connected socket, for handing to a process that will not see the host's file system.</summary>
    public int Fd => _fd;

    /// <summary>The environment variable carrying <see cref="Fd"/> into `husk exec`'s init.</summary>
    public const string InheritedFdEnv = "_HUSK_SECCOMP_LISTENER_FD";

    /// <summary>
    /// The listener connected by `husk exec` on the host side (the exec init starts inside the
    /// container's mount namespace, where listenerPath does not lead to the agent); null when none.
    /// </summary>
    public static SeccompListener? Inherited(LinuxSeccomp? seccomp) =>
        seccomp is { ListenerPath.Length: > 0 } && int.TryParse(Environment.GetEnvironmentVariable(InheritedFdEnv), out int fd) && fd > 2
            ? new SeccompListener(fd, seccomp.ListenerPath)
            : null;

    /// <summary>The connected socket, handed over: the caller closes it.</summary>
    internal int TakeConnection()
    {
        if (_fd < 0) throw new HuskException($"seccomp listener {Path}: the connection was used already");
        int fd = _fd;
        _fd = -1;
        return fd;
    }

    public void Dispose()
    {
        if (_fd >= 0) Native.close(_fd);
        _fd = -1;
    }
}

/// <summary>A seccomp filter as the kernel takes it: classic BPF instructions and seccomp(2)'s flags.</summary>
public sealed record SeccompProgram(Native.SockFilter[] Instructions, uint Flags)
{
    /// <summary>The instructions as bytes (struct sock_filter, host byte order).</summary>
    public byte[] Bytes => System.Runtime.InteropServices.MemoryMarshal.AsBytes(Instructions.AsSpan()).ToArray();
}

/// <summary>
/// Loads linux.seccomp into the calling thread through libseccomp, as runc's
/// libcontainer/seccomp InitSeccomp: default action and errno, extra architectures, flags as
/// filter attributes, one rule per syscall name (names this libseccomp does not know are
/// ignored), no_new_privs left to the caller (SCMP_FLTATR_CTL_NNP off). With SCMP_ACT_NOTIFY
/// rules the listener fd is sent to listenerPath with SCM_RIGHTS, together with the
/// ContainerProcessState JSON (runtime-spec: fds ["seccompFd"], pid, metadata, state).
/// </summary>
/// <remarks>
/// Call it LAST, on the thread that will execve, right before execve: whatever the runtime does
/// after it is filtered too. Without no_new_privs loading needs CAP_SYS_ADMIN: then call it before
/// capabilities are dropped (runc's order). On success the filter context is deliberately not
/// released: free() after the load could make a syscall the profile forbids; execve drops it.
/// </remarks>
public static unsafe class SeccompFilter
{
    const int EEXIST = 17;

    /// <summary>
    /// Call while the host's file system is still in reach (before pivot_root, or before joining the
    /// container's mount namespace): loads libseccomp from the HOST (after the pivot, dlopen would
    /// search the container's image, and run whatever library it placed there) and connects to the
    /// seccomp agent. Returns the listener (null when nothing notifies); nothing when
    /// <paramref name="seccomp"/> is null.
    /// </summary>
    public static SeccompListener? Prepare(LinuxSeccomp? seccomp)
    {
        if (seccomp is null) return null;
        if (!SeccompSupport.Available) throw new HuskException($"seccomp: {SeccompSupport.Error}");
        return SeccompListener.Open(seccomp);
    }

    /// <summary>
    /// At create: refuses what this host's libseccomp cannot load (missing library, a flag or
    /// action it lacks, notify without a listener), so the error comes now and not at start.
    /// </summary>
    public static void Check(LinuxSeccomp? seccomp)
    {
        if (seccomp is null) return;
        if (!SeccompSupport.Available) throw new HuskException($"seccomp: {SeccompSupport.Error}");
        var plan = PlanOf(seccomp);
        foreach (var action in seccomp.Syscalls.Select(s => s.Action).Append(seccomp.DefaultAction).Distinct())
            if (!SeccompSupport.ActionSupported(action))
                throw new HuskException($"seccomp: action {action} is not supported by libseccomp {SeccompSupport.Version} on this kernel");
        if (plan.UsesNotify && string.IsNullOrEmpty(seccomp.ListenerPath))
            throw new HuskException("seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath");
    }

    /// <summary>
    /// Installs <paramref name="seccomp"/> (nothing when null). <paramref name="stateJson"/> is the
    /// container's OCI state (sent to the listener); <paramref name="processPid"/> is the host pid of
    /// the process being set up (0: the state's pid, i.e. the init); <paramref name="listener"/> the
    /// listener from <see cref="Prepare"/>, which must have run before pivot_root / setns into the
    /// container's mount namespace (null listener: connect to listenerPath directly).
    /// </summary>
    public static void Install(LinuxSeccomp? seccomp, string stateJson, int processPid = 0, SeccompListener? listener = null)
    {
        if (seccomp is null) return;
        if (!SeccompSupport.Available) throw new HuskException($"seccomp: {SeccompSupport.Error}");
        var plan = PlanOf(seccomp);
        if (plan.UsesNotify && string.IsNullOrEmpty(seccomp.ListenerPath))
            throw new HuskException("seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath");
        if (plan.UsesNotify && !SeccompSupport.ActionSupported("SCMP_ACT_NOTIFY"))
            throw new HuskException($"seccomp: SCMP_ACT_NOTIFY is not supported by libseccomp {SeccompSupport.Version} on this kernel");

        nint ctx = NewContext(seccomp, plan);
        int sock = -1;
        bool loaded = false;
        try
        {
            // Everything that allocates or may fail is done before the load.
            byte[]? message = null;
            if (plan.UsesNotify)
            {
                message = ProcessStateMessage(stateJson, processPid, seccomp.ListenerMetadata);
                sock = listener is not null ? listener.TakeConnection() : ConnectUnix(seccomp.ListenerPath!, seccomp.ListenerPath!);
            }
            var program = StubbedProgram(ctx, seccomp, plan);

            // Negative errno on failure, as libseccomp's; the listener fd when the stub's load notifies.
            int loadRc;
            if (program is null) loadRc = Native.seccomp_load(ctx);
            else if ((loadRc = Native.SeccompSetModeFilter(program, SeccompProfile.KernelFlags(plan))) < 0) loadRc = -Native.Errno;
            if (loadRc < 0)
                throw new HuskException($"{LoadFailure}: {Native.StrError(-loadRc)}" + (-loadRc == Native.EACCES ? LoadNeedsCapSysAdmin : ""));
            loaded = true;

            if (message is not null)
            {
                int notifyFd = program is null ? Native.seccomp_notify_fd(ctx) : loadRc;
                if (notifyFd < 0) throw new HuskException($"seccomp: get the notify fd: {Native.StrError(-notifyFd)}");
                SendWithFd(sock, message, notifyFd);
                Native.close(notifyFd);
            }
        }
        finally
        {
            if (sock >= 0) Native.close(sock);
            if (!loaded) Native.seccomp_release(ctx);
        }
    }

    /// <summary>
    /// For an init plan (native/plan.c loads it with seccomp(2), no libseccomp in the init): the
    /// program and flags <see cref="Install"/> would load for <paramref name="seccomp"/>, runc's
    /// -ENOSYS stub included; as root from <see cref="SeccompCache"/> when it was built before. Null
    /// where the filter notifies an agent (the managed init serves that: it must send the listener
    /// fd). Throws what Install would.
    /// </summary>
    public static SeccompProgram? ForPlan(LinuxSeccomp seccomp)
    {
        if (!SeccompSupport.Available) throw new HuskException($"seccomp: {SeccompSupport.Error}");
        var plan = PlanOf(seccomp);
        if (plan.UsesNotify) return null;
        uint flags = SeccompProfile.KernelFlags(plan);
        byte[]? key = Native.geteuid() == 0 && SeccompCache.BootId() is { } boot
            ? SeccompCache.Key(seccomp, plan, SeccompSupport.Version, SeccompSupport.ApiLevel, boot)
            : null;
        if (key is not null && SeccompCache.Read(SeccompCache.Dir, key) is { } cached) return new SeccompProgram(cached, flags);
        nint ctx = NewContext(seccomp, plan);
        Native.SockFilter[] program;
        try { program = StubbedProgram(ctx, seccomp, plan) ?? ExportProgram(ctx); }
        finally { Native.seccomp_release(ctx); }
        if (key is not null) SeccompCache.Write(SeccompCache.Dir, key, program);
        return new SeccompProgram(program, flags);
    }

    /// <summary>What a failed load says, before the error; with EACCES <see cref="LoadNeedsCapSysAdmin"/> follows it (an init plan's too).</summary>
    public const string LoadFailure = "seccomp: load the filter";
    public const string LoadNeedsCapSysAdmin = " (without no_new_privs it needs CAP_SYS_ADMIN)";

    /// <summary>With runc's -ENOSYS stub (<see cref="SeccompProfile.EnosysStub"/>), the program: libseccomp's with the stub before it; null without one.</summary>
    static Native.SockFilter[]? StubbedProgram(nint ctx, LinuxSeccomp seccomp, SeccompPlan plan) =>
        SeccompProfile.EnosysStub(plan, LastSyscall(seccomp)) is { } stub ? [.. stub, .. ExportProgram(ctx)] : null;

    static (LinuxSeccomp Seccomp, SeccompPlan Plan)? s_built;

    /// <summary>SeccompProfile.Build with this host's library, once per section: `create` checks it, then builds the plan's program.</summary>
    static SeccompPlan PlanOf(LinuxSeccomp seccomp)
    {
        if (s_built is { } built && ReferenceEquals(built.Seccomp, seccomp)) return built.Plan;
        var plan = SeccompProfile.Build(seccomp, SeccompSupport.FlagSupported, SeccompSupport.Version);
        s_built = (seccomp, plan);
        return plan;
    }

    /// <summary>A libseccomp filter context with <paramref name="plan"/>'s architectures, attributes and rules; the caller releases it.</summary>
    static nint NewContext(LinuxSeccomp seccomp, SeccompPlan plan)
    {
        nint ctx = Native.seccomp_init(plan.DefaultAction);
        if (ctx == 0) throw new HuskException($"seccomp: cannot create a filter with default action {seccomp.DefaultAction}");
        try
        {
            foreach (var arch in plan.Architectures)
            {
                uint token = Native.seccomp_arch_resolve_name(arch);
                if (token == 0) throw new HuskException($"seccomp: libseccomp {SeccompSupport.Version} does not know architecture {arch}");
                int rc = Native.seccomp_arch_add(ctx, token);
                if (rc < 0 && rc != -EEXIST) throw new HuskException($"seccomp: add architecture {arch}: {Native.StrError(-rc)}");
            }
            foreach (var (attr, value) in plan.Attributes)
                LibCheck(Native.seccomp_attr_set(ctx, attr, value), $"set filter attribute {attr}");
            LibCheck(Native.seccomp_attr_set(ctx, Native.SCMP_FLTATR_CTL_NNP, 0), "clear the no_new_privs attribute");

            var conds = stackalloc Native.ScmpArgCmp[6];
            foreach (var rule in plan.Rules)
            {
                int nr = Native.seccomp_syscall_resolve_name(rule.Syscall);
                if (nr == -1) continue;   // __NR_SCMP_ERROR: unknown here; ignored, as runc does
                int n = Math.Min(rule.Conditions.Count, 6);
                for (int i = 0; i < n; i++)
                {
                    var c = rule.Conditions[i];
                    conds[i] = new Native.ScmpArgCmp { Arg = c.Index, Op = c.Op, DatumA = c.DatumA, DatumB = c.DatumB };
                }
                LibCheck(Native.seccomp_rule_add_array(ctx, rule.Action, nr, (uint)n, conds), $"add rule for {rule.Syscall}");
            }
            return ctx;
        }
        catch
        {
            Native.seccomp_release(ctx);
            throw;
        }
    }

    /// <summary>The largest x86_64 syscall number the profile names (rules of the default action too, as runc); 0 when none.</summary>
    static int LastSyscall(LinuxSeccomp seccomp)
    {
        int last = 0;
        foreach (var call in seccomp.Syscalls)
            foreach (var name in call.Names)
                last = Math.Max(last, Native.seccomp_syscall_resolve_name(name));
        return last;
    }

    /// <summary>libseccomp's program for <paramref name="ctx"/>, through a memfd.</summary>
    static Native.SockFilter[] ExportProgram(nint ctx)
    {
        int fd = Native.Check(Native.memfd_create("husk-seccomp", Native.MFD_CLOEXEC), "memfd_create");
        try
        {
            LibCheck(Native.seccomp_export_bpf(ctx, fd), "export the filter");
            Native.Check((int)Native.lseek(fd, 0, Native.SEEK_SET), "rewind the exported filter");
            var bytes = SmallFile.ReadFd(fd, int.MaxValue, "the exported filter");
            if (bytes.Length % sizeof(Native.SockFilter) != 0) throw new HuskException("seccomp: the exported filter is not whole instructions");
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Native.SockFilter>(bytes).ToArray();
        }
        finally { Native.close(fd); }
    }

    static void LibCheck(int rc, string what)
    {
        if (rc < 0) throw new HuskException($"seccomp: {what}: {Native.StrError(-rc)}");
    }

    /// <summary>
    /// The runtime-spec ContainerProcessState: {"ociVersion","fds":["seccompFd"],"pid","metadata","state"}.
    /// </summary>
    public static byte[] ProcessStateMessage(string stateJson, int processPid, string? metadata)
    {
        using var doc = JsonDocument.Parse(stateJson);
        var root = doc.RootElement;
        string version = root.TryGetProperty("ociVersion", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "1.2.0";
        if (processPid <= 0 && root.TryGetProperty("pid", out var p) && p.ValueKind == JsonValueKind.Number) processPid = p.GetInt32();
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("ociVersion", version);
            w.WriteStartArray("fds");
            w.WriteStringValue("seccompFd");
            w.WriteEndArray();
            w.WriteNumber("pid", processPid);
            if (!string.IsNullOrEmpty(metadata)) w.WriteString("metadata", metadata);
            w.WritePropertyName("state");
            root.WriteTo(w);
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>runc's words for an agent that cannot be reached, with its path.</summary>
    internal static string AgentUnreachable(string path, string why) =>
        $"seccomp listener {path}: failed to connect with seccomp agent specified in the seccomp profile: {why}";

    /// <summary>A close-on-exec AF_UNIX stream socket connected to <paramref name="path"/>.</summary>
    internal static int ConnectUnix(string path, string shownPath)
    {
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length == 0 || bytes.Length >= 108) throw new HuskException(AgentUnreachable(shownPath, "path too long for a unix socket"));
        int fd = Native.Check(Native.socket(Native.AF_UNIX, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0), "socket(AF_UNIX)");
        var addr = stackalloc byte[110];
        new Span<byte>(addr, 110).Clear();
        *(ushort*)addr = (ushort)Native.AF_UNIX;
        bytes.CopyTo(new Span<byte>(addr + 2, 108));
        while (Native.connect(fd, addr, (uint)(2 + bytes.Length + 1)) != 0)
        {
            int errno = Native.Errno;
            if (errno == Native.EINTR) continue;
            Native.close(fd);
            throw new HuskException(AgentUnreachable(shownPath, Native.StrError(errno)));
        }
        return fd;
    }

    /// <summary>One sendmsg: <paramref name="data"/> plus <paramref name="fd"/> in an SCM_RIGHTS message.</summary>
    static void SendWithFd(int sock, byte[] data, int fd)
    {
        const int hdr = 16, len = hdr + 4, space = hdr + 8;
        var control = stackalloc byte[space];
        new Span<byte>(control, space).Clear();
        *(nuint*)control = len;
        *(int*)(control + 8) = Native.SOL_SOCKET;
        *(int*)(control + 12) = Native.SCM_RIGHTS;
        *(int*)(control + hdr) = fd;
        fixed (byte* d = data)
        {
            var iov = new Native.IoVec { Base = d, Len = (nuint)data.Length };
            var msg = new Native.MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = space };
            while (Native.sendmsg(sock, &msg, Native.MSG_NOSIGNAL) < 0)
                if (Native.Errno != Native.EINTR)
                    throw new HuskException($"seccomp: send the listener fd: {Native.StrError(Native.Errno)}");
        }
    }
}
