using System.Runtime.InteropServices;
using System.Text;
using Husk.Linux;
using Husk.Spec;
using SpecCaps = Husk.Spec.Capabilities;

namespace Husk.Init;

/// <summary>
/// The last steps of the container's init, in runc's order (libcontainer/init_linux.go
/// finalizeNamespace, standard_init_linux.go): rlimits, hostname, sysctl while still root;
/// then bounding set, user and groups, capabilities, no_new_privs, umask, LSM labels, seccomp,
/// startContainer hooks, and execve.
/// Capabilities, no_new_privs and seccomp are per-thread: call everything here from the
/// process's MAIN thread, the one that will execve.
/// </summary>
/// <remarks>
/// A typical sequence: <see cref="ApplyRlimits"/>, <see cref="ApplyOomScoreAdj"/>,
/// <see cref="SetHostname"/>, <see cref="SetDomainname"/>, <see cref="ApplySysctl"/>,
/// <see cref="ApplyPersonality"/>, <see cref="MarkCloseOnExecFrom"/>(3 + preserveFds),
/// <see cref="ApplyUserAndCapabilities"/>, <see cref="SetNoNewPrivileges"/> (when asked),
/// <see cref="SetUmask"/>, <see cref="ResolveExecutable"/> (to fail early), seccomp, <see cref="Exec"/>.
/// </remarks>
public static unsafe class ProcessSetup
{
    // ------------------------------------------------------------------ rlimits

    /// <summary>
    /// Sets each limit on this process (prlimit on self). Call while still root, before
    /// <see cref="ApplyUserAndCapabilities"/>: raising a hard limit needs CAP_SYS_RESOURCE.
    /// </summary>
    public static void ApplyRlimits(IEnumerable<POSIXRlimit> rlimits)
    {
        foreach (var r in rlimits)
        {
            int resource = r.Resource ?? throw new HuskException($"unknown rlimit type {Quote(r.Type)}");
            if (r.Soft > r.Hard)
                throw new HuskException($"error setting rlimit type {r.Type}: soft limit {r.Soft} is above hard limit {r.Hard}");
            var lim = new Native.RLimit { Cur = r.Soft, Max = r.Hard };
            if (Native.prlimit(0, resource, &lim, null) != 0)
                throw new HuskException($"error setting rlimit type {r.Type}: {Native.StrError(Native.Errno)}");
        }
    }

    // ------------------------------------------------------------------ capabilities

    static int s_lastCap = -1;

    /// <summary>The kernel's highest capability number (/proc/sys/kernel/cap_last_cap).</summary>
    public static int KernelLastCap
    {
        get
        {
            if (s_lastCap >= 0) return s_lastCap;
            int last = SpecCaps.Last;
            try
            {
                if (int.TryParse(ProcFs.ReadText("sys/kernel/cap_last_cap")?.Trim(), out int n) && n > 0 && n < 64)
                    last = n;
            }
            catch (KernelException) { }
            return s_lastCap = last;
        }
    }

    /// <summary>
    /// The 64-bit mask of capability names. Names unknown to Husk, or numbered above
    /// <paramref name="lastCap"/> (the kernel lacks them), are skipped and added to <paramref name="skipped"/>.
    /// </summary>
    public static ulong CapabilityMask(IEnumerable<string> names, int lastCap, ICollection<string>? skipped = null)
    {
        ulong mask = 0;
        foreach (var name in names)
        {
            if (SpecCaps.All.TryGetValue(name, out int bit) && bit <= lastCap && bit < 64)
                mask |= 1UL << bit;
            else if (skipped is not null && !skipped.Contains(name))
                skipped.Add(name);
        }
        return mask;
    }

    /// <summary>The CAP_* names of the bits set in <paramref name="mask"/> ("CAP_42" for a bit Husk has no name for).</summary>
    public static IEnumerable<string> CapabilityNames(ulong mask)
    {
        for (int bit = 0; bit < 64; bit++)
        {
            if ((mask & (1UL << bit)) == 0) continue;
            string? name = null;
            foreach (var (n, b) in SpecCaps.All)
                if (b == bit) { name = n; break; }
            yield return name ?? $"CAP_{bit}";
        }
    }

    /// <summary>The five capability masks of a process's spec.</summary>
    public readonly record struct CapabilityMasks(ulong Bounding, ulong Effective, ulong Inheritable, ulong Permitted, ulong Ambient);

    /// <summary>Masks for <paramref name="caps"/> (null: no capabilities at all).</summary>
    public static CapabilityMasks ComputeMasks(LinuxCapabilities? caps, int lastCap, ICollection<string>? skipped = null)
    {
        caps ??= new LinuxCapabilities();
        return new CapabilityMasks(
            CapabilityMask(caps.Bounding, lastCap, skipped),
            CapabilityMask(caps.Effective, lastCap, skipped),
            CapabilityMask(caps.Inheritable, lastCap, skipped),
            CapabilityMask(caps.Permitted, lastCap, skipped),
            CapabilityMask(caps.Ambient, lastCap, skipped));
    }

    /// <summary>The cwd this process already changed into (see <see cref="ApplyUserAndCapabilities"/>).</summary>
    static string? s_cwdDone;

    /// <summary>
    /// runc's finalizeNamespace: chdir to the cwd if root can (retried as the user on EACCES/EPERM),
    /// drop the bounding set to Capabilities.Bounding, PR_SET_KEEPCAPS, setgroups (unless denied in
    /// the user namespace), setresgid, setresuid, clear KEEPCAPS, capset (effective, permitted,
    /// inheritable), then the ambient set. Null Capabilities means none at all. Capability names the
    /// kernel (or Husk) does not know are skipped, with one warning through <paramref name="warn"/>.
    /// The parent-death signal, which a credential change clears, is restored.
    /// </summary>
    public static void ApplyUserAndCapabilities(Process p, Action<string>? warn = null)
    {
        int lastCap = KernelLastCap;
        var skipped = new List<string>();
        var m = ComputeMasks(p.Capabilities, lastCap, skipped);
        if (skipped.Count > 0)
            warn?.Invoke($"ignoring unknown or unavailable capabilities: [{string.Join(" ", skipped)}]");

        int pdeathSig = 0;
        Native.prctl(PR_GET_PDEATHSIG, (nuint)(&pdeathSig), 0, 0, 0);

        // First try the chdir as root: the container user may lack access to a directory root can enter.
        bool chdirLater = false;
        if (p.Cwd != "")
        {
            if (Native.chdir(p.Cwd) == 0) { VerifyCwd(); s_cwdDone = p.Cwd; }
            else if (Native.Errno is Native.EPERM or Native.EACCES) chdirLater = true;
            else throw ChdirError(p.Cwd, Native.Errno);
        }

        DropBoundingSet(m.Bounding, lastCap);

        Native.Check(Native.prctl(Native.PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");
        SetUser(p.User);
        if (chdirLater) ChangeDirectory(p.Cwd);
        Native.Check(Native.prctl(Native.PR_SET_KEEPCAPS, 0, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)");

        SetCapabilities(m.Effective, m.Permitted, m.Inheritable);
        SetAmbient(m.Ambient, warn);

        if (pdeathSig != 0)
            Native.Check(Native.prctl(Native.PR_SET_PDEATHSIG, (nuint)pdeathSig, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)");
    }

    const int PR_GET_PDEATHSIG = 2;

    /// <summary>PR_CAPBSET_DROP for every capability up to <paramref name="lastCap"/> not in <paramref name="keep"/>.</summary>
    public static void DropBoundingSet(ulong keep, int lastCap)
    {
        for (int cap = 0; cap <= lastCap && cap < 64; cap++)
        {
            if ((keep & (1UL << cap)) != 0) continue;
            int inSet = Native.prctl(Native.PR_CAPBSET_READ, (nuint)cap, 0, 0, 0);
            if (inSet == 0) continue;                                  // already gone
            if (inSet < 0 && Native.Errno == Native.EINVAL) continue;  // the kernel lacks it
            if (Native.prctl(Native.PR_CAPBSET_DROP, (nuint)cap, 0, 0, 0) != 0 && Native.Errno != Native.EINVAL)
                throw new HuskException($"drop {CapabilityNames(1UL << cap).First()} from the bounding set: {Native.StrError(Native.Errno)}");
        }
    }

    /// <summary>
    /// setgroups (unless /proc/self/setgroups says "deny"), setresgid, setresuid — as raw system
    /// calls on the calling thread only. glibc's wrappers would stop every runtime thread to change
    /// its credentials too (a signal round trip each); those threads die at the execve that follows
    /// on this thread, so only this thread's credentials matter.
    /// </summary>
    public static void SetUser(User user)
    {
        const long SYS_setresuid = 117, SYS_setresgid = 119, SYS_setgroups = 116;
        if (SetgroupsAllowed())
        {
            var gids = user.AdditionalGids.ToArray();
            fixed (uint* g = gids)
                if (Native.syscall(SYS_setgroups, gids.Length, (long)g, 0, 0, 0, 0) != 0)
                    throw new HuskException($"setgroups [{string.Join(" ", gids)}]: {Native.StrError(Native.Errno)}");
        }
        if (Native.syscall(SYS_setresgid, user.GID, user.GID, user.GID, 0, 0, 0) != 0)
            throw new HuskException($"setresgid to gid {user.GID}: {Native.StrError(Native.Errno)}");
        if (Native.syscall(SYS_setresuid, user.UID, user.UID, user.UID, 0, 0, 0) != 0)
            throw new HuskException($"setresuid to uid {user.UID}: {Native.StrError(Native.Errno)}");
    }

    static bool SetgroupsAllowed()
    {
        // Kernels before 3.19 have no such file.
        return ProcFs.ReadText("self/setgroups")?.Trim() != "deny";
    }

    /// <summary>capset v3 on this thread. Asking for a permitted capability this process does not hold is an error naming it.</summary>
    public static void SetCapabilities(ulong effective, ulong permitted, ulong inheritable)
    {
        var hdr = new Native.CapHeader { Version = Native._LINUX_CAPABILITY_VERSION_3, Pid = 0 };
        var cur = stackalloc Native.CapData[2];
        Native.Check(Native.capget(&hdr, cur), "capget");
        ulong held = cur[0].Permitted | ((ulong)cur[1].Permitted << 32);
        ulong missing = permitted & ~held;
        if (missing != 0)
            throw new HuskException($"apply capabilities: {string.Join(", ", CapabilityNames(missing))} not in the runtime's permitted set (the host's bounding set lacks it)");

        effective &= permitted;
        var data = stackalloc Native.CapData[2];
        data[0] = new Native.CapData { Effective = (uint)effective, Permitted = (uint)permitted, Inheritable = (uint)inheritable };
        data[1] = new Native.CapData { Effective = (uint)(effective >> 32), Permitted = (uint)(permitted >> 32), Inheritable = (uint)(inheritable >> 32) };
        hdr = new Native.CapHeader { Version = Native._LINUX_CAPABILITY_VERSION_3, Pid = 0 };
        if (Native.capset(&hdr, data) != 0)
            throw new HuskException($"apply capabilities (capset): {Native.StrError(Native.Errno)}");
    }

    /// <summary>Clears the ambient set and raises each listed capability (a failed raise is a warning, as in runc).</summary>
    public static void SetAmbient(ulong ambient, Action<string>? warn)
    {
        if (Native.prctl(Native.PR_CAP_AMBIENT, Native.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        {
            if (Native.Errno == Native.EINVAL && ambient == 0) return;     // kernel without ambient capabilities
            throw new HuskException($"clear ambient capabilities: {Native.StrError(Native.Errno)}");
        }
        for (int cap = 0; cap < 64; cap++)
        {
            if ((ambient & (1UL << cap)) == 0) continue;
            if (Native.prctl(Native.PR_CAP_AMBIENT, Native.PR_CAP_AMBIENT_RAISE, (nuint)cap, 0, 0) != 0)
                warn?.Invoke($"can't raise ambient capability {CapabilityNames(1UL << cap).First()}: {Native.StrError(Native.Errno)}");
        }
    }

    // ------------------------------------------------------------------ session keyring

    /// <summary>
    /// runc's default (unless --no-new-keyring): join a new session keyring "_ses.&lt;id&gt;" so the
    /// container does not share the caller's, then make it searchable by its owner (by others in a
    /// user namespace), as runc's getSessionRingParams/ModKeyringPerm. A kernel without keyrings
    /// (ENOSYS) is not an error, as in runc.
    /// </summary>
    public static void JoinSessionKeyring(string containerId, bool inUserNamespace)
    {
        string name = "_ses." + containerId;
        var b = Encoding.UTF8.GetBytes(name + "\0");
        int key;
        fixed (byte* p = b) key = Native.KeyctlJoinSessionKeyring(p);
        if (key < 0)
        {
            int errno = Native.Errno;
            if (errno == Native.ENOSYS) return;
            throw new HuskException($"unable to join session keyring {Quote(name)}: {Native.StrError(errno)}");
        }
        var buf = stackalloc byte[512];
        long n = Native.KeyctlDescribe(key, buf, 512);
        if (n < 0 || n > 512)
            throw new HuskException($"unable to describe session keyring {Quote(name)}: {(n < 0 ? Native.StrError(Native.Errno) : "description too long")}");
        // "keyring;0;0;3f010000;_ses.id": the 4th field is the permission mask in hex.
        var fields = Encoding.UTF8.GetString(buf, (int)Math.Max(0, n - 1)).Split(';');
        if (fields.Length < 4 || !uint.TryParse(fields[3], System.Globalization.NumberStyles.HexNumber, null, out uint perm))
            throw new HuskException($"unable to parse the permissions of session keyring {Quote(name)}");
        perm |= inUserNamespace ? 0x8u : 0x80000u;   // KEY_OTH_SEARCH : KEY_USR_SEARCH
        if (Native.KeyctlSetPerm(key, perm) != 0)
            throw new HuskException($"unable to mod keyring permissions of {Quote(name)}: {Native.StrError(Native.Errno)}");
    }

    // ------------------------------------------------------------------ small settings

    /// <summary>PR_SET_NO_NEW_PRIVS on this thread (inherited by execve).</summary>
    public static void SetNoNewPrivileges()
        => Native.Check(Native.prctl(Native.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");

    /// <summary>Sets the umask; 0022 when the spec has none (as runc).</summary>
    public static void SetUmask(uint? umask) => Native.umask((umask ?? 0x12) & 0x1ff);   // 0x12 == 0022

    /// <summary>Writes /proc/self/oom_score_adj (nothing when null).</summary>
    public static void ApplyOomScoreAdj(int? score)
    {
        if (score is not int s) return;
        if (s < -1000 || s > 1000)
            throw new HuskException($"oomScoreAdj {s} is out of range [-1000, 1000]");
        ProcFs.Write("self/oom_score_adj", s.ToString(System.Globalization.CultureInfo.InvariantCulture), $"set oom_score_adj to {s}");
    }

    /// <summary>sethostname; nothing when null or empty (as runc).</summary>
    public static void SetHostname(string? name)
    {
        if (string.IsNullOrEmpty(name)) return;
        var b = Encoding.UTF8.GetBytes(name);
        fixed (byte* p = b)
            if (Native.sethostname(p, (nuint)b.Length) != 0)
                throw new HuskException($"sethostname {Quote(name)}: {Native.StrError(Native.Errno)}");
    }

    /// <summary>setdomainname; nothing when null or empty (as runc).</summary>
    public static void SetDomainname(string? name)
    {
        if (string.IsNullOrEmpty(name)) return;
        var b = Encoding.UTF8.GetBytes(name);
        fixed (byte* p = b)
            if (Native.setdomainname(p, (nuint)b.Length) != 0)
                throw new HuskException($"setdomainname {Quote(name)}: {Native.StrError(Native.Errno)}");
    }

    /// <summary>personality(2): domain LINUX or LINUX32; nothing when null. Flags are not supported.</summary>
    public static void ApplyPersonality(LinuxPersonality? personality)
    {
        if (personality is null) return;
        uint domain = personality.Domain switch
        {
            "LINUX" => Native.PER_LINUX,
            "LINUX32" => Native.PER_LINUX32,
            _ => throw new HuskException($"personality domain {Quote(personality.Domain)} is not supported (LINUX or LINUX32)"),
        };
        if (personality.Flags.Count > 0)
            throw new HuskException($"personality flags are not supported: [{string.Join(" ", personality.Flags)}]");
        if (Native.personality(domain) < 0)
            throw new HuskException($"personality {personality.Domain}: {Native.StrError(Native.Errno)}");
    }

    // ------------------------------------------------------------------ sysctl

    /// <summary>
    /// The path under /proc/sys of a sysctl key ("net.ipv4.ip_forward" → "net/ipv4/ip_forward").
    /// Keys with '/', NUL, or empty components (hence no ".." either) are refused.
    /// </summary>
    public static string SysctlPath(string key)
    {
        if (key.Length == 0)
            throw new HuskException("sysctl key is empty");
        if (key.Contains('/') || key.Contains('\0'))
            throw new HuskException($"sysctl key {Quote(key)} is invalid: it must be dot-separated (no '/')");
        foreach (var part in key.Split('.'))
            if (part.Length == 0)
                throw new HuskException($"sysctl key {Quote(key)} is invalid: it has an empty component");
        return key.Replace('.', '/');
    }

    /// <summary>
    /// Writes each key (in ordinal order) to /proc/sys, through the procfs of <see cref="ProcFs.Open"/>
    /// (in the init, the host's, opened before any namespace was entered), checking the file is on procfs.
    /// </summary>
    public static void ApplySysctl(IReadOnlyDictionary<string, string> sysctl)
    {
        foreach (var key in sysctl.Keys.Order(StringComparer.Ordinal))
            ProcFs.Write("sys/" + SysctlPath(key), sysctl[key], $"write sysctl key {key}");
    }

    // ------------------------------------------------------------------ exec

    /// <summary>
    /// The program execve will run, as runc (Go's exec.LookPath): arg0 itself when it contains a
    /// '/'; else the first executable regular file named arg0 in the PATH of <paramref name="env"/>
    /// (the process's environment, not the runtime's). Relative PATH entries are taken relative to
    /// <paramref name="cwd"/> and returned as absolute paths.
    /// </summary>
    public static string ResolveExecutable(string arg0, IReadOnlyList<string> env, string cwd)
    {
        if (arg0.Length == 0)
            throw new HuskException("exec: no command: args[0] is empty");
        if (arg0.Contains('/'))
        {
            // As Go's LookPath: a path is not searched, but it must be an executable file.
            var full = arg0.StartsWith('/') ? arg0 : Path.GetFullPath(arg0, cwd.StartsWith('/') ? cwd : "/");
            if (!IsExecutableFile(full))
                throw new HuskException($"exec: {Quote(arg0)}: no such executable file");
            return arg0;
        }
        string path = "";
        foreach (var e in env)
            if (e.StartsWith("PATH=", StringComparison.Ordinal)) path = e[5..];   // the last one wins, as in getenv of the new image
        foreach (var entry in path.Split(':'))
        {
            string dir = entry.Length == 0 ? "." : entry;
            string candidate = dir.StartsWith('/') ? Path.Combine(dir, arg0)
                : Path.GetFullPath(Path.Combine(dir, arg0), cwd.StartsWith('/') ? cwd : Directory.GetCurrentDirectory());
            if (IsExecutableFile(candidate)) return candidate;
        }
        throw new HuskException($"exec: {Quote(arg0)}: executable file not found in $PATH");
    }

    static bool IsExecutableFile(string path)
    {
        try
        {
            var info = new FileInfo(path);       // follows symlinks for the attributes below
            if (!info.Exists) return false;      // missing, or a directory
            var mode = info.UnixFileMode;
            return (mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>
    /// Marks every fd from <paramref name="first"/> up close-on-exec (close_range with
    /// CLOSE_RANGE_CLOEXEC; a walk of /proc/self/fd on kernels without it).
    /// </summary>
    public static void MarkCloseOnExecFrom(int first)
    {
        if (Native.close_range((uint)first, uint.MaxValue, Native.CLOSE_RANGE_CLOEXEC) == 0) return;
        var fds = new List<int>();
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            if (int.TryParse(Path.GetFileName(entry), out int fd) && fd >= first) fds.Add(fd);
        foreach (int fd in fds)
        {
            int flags = Native.fcntl(fd, Native.F_GETFD, 0);
            if (flags < 0) continue;   // the enumeration's own fd, already closed
            Native.fcntl(fd, Native.F_SETFD, flags | Native.FD_CLOEXEC);
        }
    }

    /// <summary>
    /// Creates the cwd (and its parents, mode 0755) when it does not exist, as runc does before the
    /// root turns read-only. Call after pivot_root: "/" is the container's root, so the path and its
    /// symlinks resolve inside it. Nothing for an empty cwd.
    /// </summary>
    public static void CreateCwd(string cwd)
    {
        if (cwd == "" || Directory.Exists(cwd)) return;
        string path = "";
        foreach (var part in cwd.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            path += "/" + part;
            if (Native.mkdir(path, 0x1ed) != 0 && Native.Errno != Native.EEXIST)
                throw new HuskException($"create cwd ({Quote(cwd)}) set in config.json: mkdir {path}: {Native.StrError(Native.Errno)}");
        }
    }

    /// <summary>chdir with runc's error, then the CVE-2024-21626 check that the cwd is inside the root.</summary>
    public static void ChangeDirectory(string cwd)
    {
        if (Native.chdir(cwd) != 0) throw ChdirError(cwd, Native.Errno);
        VerifyCwd();
        s_cwdDone = cwd;
    }

    static HuskException ChdirError(string cwd, int errno)
        => new($"chdir to cwd ({Quote(cwd)}) set in config.json failed: {Native.StrError(errno)}");

    /// <summary>
    /// Refuses a cwd outside this process's root (reached through a leaked fd, e.g. /proc/self/fd/N):
    /// getcwd then fails with ENOENT or answers "(unreachable)/...".
    /// </summary>
    public static void VerifyCwd()
    {
        var buf = stackalloc byte[4097];
        byte* r = Native.getcwd(buf, 4097);
        if (r == null)
        {
            int errno = Native.Errno;
            if (errno == Native.ERANGE) return;   // longer than PATH_MAX, but reachable
            if (errno == Native.ENOENT)
                throw new HuskException("current working directory is outside of container mount namespace root -- possible container breakout detected");
            throw new HuskException($"getcwd: {Native.StrError(errno)}");
        }
        if (buf[0] != (byte)'/')
            throw new HuskException("current working directory is outside of container mount namespace root -- possible container breakout detected");
    }

    /// <summary>
    /// The environment the program gets: <paramref name="env"/>, plus HOME from the container's
    /// /etc/passwd (or "/") when it has none, as runc does.
    /// </summary>
    public static List<string> ProcessEnvironment(IReadOnlyList<string> env, uint uid, string passwdPath = "/etc/passwd")
    {
        var result = new List<string>(env);
        foreach (var e in env)
            if (e.StartsWith("HOME=", StringComparison.Ordinal)) return result;
        result.Add("HOME=" + (HomeOf(uid, passwdPath) ?? "/"));
        return result;
    }

    static string? HomeOf(uint uid, string passwdPath)
    {
        // At most 1 MiB, non-blocking: a FIFO or device placed at /etc/passwd must not hang init.
        string? passwd;
        try { passwd = SmallFile.ReadTextOrNull(passwdPath, 1 << 20); }
        catch (KernelException) { return null; }
        if (passwd is null) return null;
        foreach (var line in passwd.Split('\n'))
        {
            var f = line.Split(':');
            if (f.Length >= 6 && uint.TryParse(f[2], out uint u) && u == uid && f[5].Length > 0)
                return f[5];
        }
        return null;
    }

    /// <summary>
    /// The last steps of every process that enters a container (the init after `start`, a process of
    /// `exec`), in runc's order: its stdio to the container's user, the seccomp filter before the
    /// capabilities are dropped when no_new_privs is off (loading then needs CAP_SYS_ADMIN), user and
    /// capabilities, no_new_privs, umask, LSM labels, the filter when no_new_privs is on, then the
    /// startContainer hooks and execve. The hooks come from the image and run in the container: they
    /// get no more privilege than the program does. Returns only by throwing.
    /// </summary>
    public static void BecomeProcess(Process p, int preserveFds, Action? installSeccomp, Action? startContainerHooks = null)
    {
        StdioOwnership.Fix(p.User.UID);
        if (installSeccomp is not null && !p.NoNewPrivileges) installSeccomp();
        ApplyUserAndCapabilities(p);
        if (p.NoNewPrivileges) SetNoNewPrivileges();
        SetUmask(p.User.Umask);
        Lsm.ApplyExecLabels(p);
        Exec(p, preserveFds, p.NoNewPrivileges ? installSeccomp : null, startContainerHooks);
    }

    /// <summary>
    /// Marks fds from 3 + <paramref name="preserveFds"/> close-on-exec, changes into the cwd (unless
    /// <see cref="ApplyUserAndCapabilities"/> already did), resolves args[0] and execve's it with the
    /// process's environment (plus HOME, see <see cref="ProcessEnvironment"/>). Returns only by throwing.
    /// <paramref name="installSeccomp"/> and then <paramref name="startContainerHooks"/> run last, right
    /// before execve(2) (see <see cref="ExecVe"/>).
    /// </summary>
    public static void Exec(Process p, int preserveFds, Action? installSeccomp = null, Action? startContainerHooks = null)
    {
        if (p.Args.Count == 0)
            throw new HuskException("args must not be empty");
        MarkCloseOnExecFrom(3 + Math.Max(0, preserveFds));
        if (p.Cwd != "" && s_cwdDone != p.Cwd)
            ChangeDirectory(p.Cwd);
        var env = ProcessEnvironment(p.Env, p.User.UID);
        string path = ResolveExecutable(p.Args[0], env, p.Cwd);
        ExecVe(path, p.Args, env, installSeccomp, startContainerHooks);
    }

    /// <summary>
    /// execve; throws a HuskException naming the program and the errno when it fails.
    /// Once argv and envp are built, <paramref name="installSeccomp"/> runs (so nothing of the runtime's
    /// own setup is filtered), then <paramref name="startContainerHooks"/> (under the filter, as in runc;
    /// a failing hook throws), then the call.
    /// </summary>
    public static void ExecVe(string path, IReadOnlyList<string> argv, IReadOnlyList<string> env,
        Action? installSeccomp = null, Action? startContainerHooks = null)
    {
        using var strings = new CStrings();
        byte* cpath = strings.Utf8(path);
        byte** cargv = strings.Array(argv);
        byte** cenv = strings.Array(env);
        if (installSeccomp is not null)
        {
            // After the filter the runtime itself may be refused the syscalls that throwing needs
            // (mmap, ...): a failed execve is reported with one write and _exit.
            var prefix = Encoding.UTF8.GetBytes($"husk: exec {Quote(path)} failed (denied by the seccomp filter?): errno ");
            byte* msg = stackalloc byte[prefix.Length + 16];
            prefix.CopyTo(new Span<byte>(msg, prefix.Length));
            installSeccomp();
            startContainerHooks?.Invoke();
            Native.execve(cpath, cargv, cenv);
            int err = Native.Errno, len = prefix.Length;
            Span<byte> digits = stackalloc byte[10];
            int nd = 0;
            do { digits[nd++] = (byte)('0' + err % 10); err /= 10; } while (err > 0 && nd < 10);
            while (nd > 0) msg[len++] = digits[--nd];
            msg[len++] = (byte)'\n';
            Native.write(2, msg, len);
            Native._exit(127);
        }
        startContainerHooks?.Invoke();
        Native.execve(cpath, cargv, cenv);
        int errno = Native.Errno;
        throw new HuskException($"exec {Quote(path)}: {Native.StrError(errno)}");
    }

    /// <summary>Go's %q, near enough for messages: the string in double quotes.</summary>
    static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
