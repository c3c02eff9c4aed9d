using System.Text;
using Husk.Linux;
using Husk.Spec;
using static Husk.Linux.KernelCalls;

namespace Husk.Init;

/// <summary>
/// The kernel-facing steps of one process's setup (<see cref="ProcessSetup"/> describes the order),
/// made through <paramref name="kernel"/>: <see cref="LinuxKernel"/> in the init, a recording double in
/// unit tests. One instance serves one init sequence: it remembers the cwd it already entered.
/// Capabilities, no_new_privs and seccomp are per-thread: call everything from the process's MAIN
/// thread, the one that will execve.
/// </summary>
public sealed unsafe class ProcessSteps(IKernel kernel)
{
    /// <summary>The cwd this process already changed into (see <see cref="ApplyUserAndCapabilities"/>), so <see cref="Exec"/> does not again.</summary>
    string? _cwdDone;
    int _lastCap = -1;

    // ------------------------------------------------------------------ rlimits

    /// <summary>
    /// Sets each limit on this process (prlimit on self). Call while still root, before
    /// <see cref="ApplyUserAndCapabilities"/>: raising a hard limit needs CAP_SYS_RESOURCE.
    /// </summary>
    public void ApplyRlimits(IEnumerable<POSIXRlimit> rlimits)
    {
        foreach (var r in rlimits)
        {
            int resource = r.Resource ?? throw new HuskException($"unknown rlimit type {Quote(r.Type)}");
            if (r.Soft > r.Hard)
                throw new HuskException($"error setting rlimit type {r.Type}: soft limit {r.Soft} is above hard limit {r.Hard}");
            int rc = kernel.Prlimit(resource, r.Soft, r.Hard);
            if (rc < 0)
                throw new HuskException($"error setting rlimit type {r.Type}: {Native.StrError(-rc)}");
        }
    }

    // ------------------------------------------------------------------ capabilities

    /// <summary>The kernel's highest capability number (/proc/sys/kernel/cap_last_cap).</summary>
    public int KernelLastCap
    {
        get
        {
            if (_lastCap >= 0) return _lastCap;
            int last = Capabilities.Last;
            try
            {
                if (int.TryParse(kernel.ReadProc("sys/kernel/cap_last_cap")?.Trim(), out int n) && n > 0 && n < 64)
                    last = n;
            }
            catch (KernelException) { }
            return _lastCap = last;
        }
    }

    /// <summary>
    /// runc's finalizeNamespace: chdir to the cwd if root can (retried as the user on EACCES/EPERM),
    /// drop the bounding set to Capabilities.Bounding, PR_SET_KEEPCAPS, setgroups (unless denied in
    /// the user namespace), setresgid, setresuid, clear KEEPCAPS, capset (effective, permitted,
    /// inheritable), then the ambient set. Null Capabilities means none at all. Capability names the
    /// kernel (or Husk) does not know are skipped, with one warning through <paramref name="warn"/>.
    /// The parent-death signal, which a credential change clears, is restored.
    /// </summary>
    public void ApplyUserAndCapabilities(Process p, Action<string>? warn = null)
    {
        int lastCap = KernelLastCap;
        var skipped = new List<string>();
        var m = ProcessSetup.ComputeMasks(p.Capabilities, lastCap, skipped);
        if (skipped.Count > 0)
            warn?.Invoke($"ignoring unknown or unavailable capabilities: [{string.Join(" ", skipped)}]");

        int pdeathSig = 0;
        kernel.Prctl(PR_GET_PDEATHSIG, (nuint)(&pdeathSig));

        // First try the chdir as root: the container user may lack access to a directory root can enter.
        bool chdirLater = false;
        if (p.Cwd != "")
        {
            int rc = kernel.Chdir(p.Cwd);
            if (rc == 0) { VerifyCwd(); _cwdDone = p.Cwd; }
            else if (-rc is Native.EPERM or Native.EACCES) chdirLater = true;
            else throw ChdirError(p.Cwd, -rc);
        }

        DropBoundingSet(m.Bounding, lastCap);

        Ok(kernel.Prctl(Native.PR_SET_KEEPCAPS, 1), "prctl(PR_SET_KEEPCAPS)");
        SetUser(p.User);
        if (chdirLater) ChangeDirectory(p.Cwd);
        Ok(kernel.Prctl(Native.PR_SET_KEEPCAPS, 0), "prctl(PR_SET_KEEPCAPS)");

        SetCapabilities(m.Effective, m.Permitted, m.Inheritable);
        SetAmbient(m.Ambient, warn);

        if (pdeathSig != 0)
            Ok(kernel.Prctl(Native.PR_SET_PDEATHSIG, (nuint)pdeathSig), "prctl(PR_SET_PDEATHSIG)");
    }

    const int PR_GET_PDEATHSIG = 2;

    /// <summary>PR_CAPBSET_DROP for every capability up to <paramref name="lastCap"/> not in <paramref name="keep"/>.</summary>
    public void DropBoundingSet(ulong keep, int lastCap)
    {
        for (int cap = 0; cap <= lastCap && cap < 64; cap++)
        {
            if ((keep & (1UL << cap)) != 0) continue;
            int inSet = kernel.Prctl(Native.PR_CAPBSET_READ, (nuint)cap);
            if (inSet == 0) continue;                   // already gone
            if (inSet == -Native.EINVAL) continue;      // the kernel lacks it
            int rc = kernel.Prctl(Native.PR_CAPBSET_DROP, (nuint)cap);
            if (rc < 0 && rc != -Native.EINVAL)
                throw new HuskException($"drop {Husk.Spec.Capabilities.Names(1UL << cap).First()} from the bounding set: {Native.StrError(-rc)}");
        }
    }

    /// <summary>
    /// setgroups (unless /proc/self/setgroups says "deny"), setresgid, setresuid — on the calling
    /// thread only (<see cref="IKernel.SetGroups"/>): those are the credentials execve passes on.
    /// </summary>
    public void SetUser(User user)
    {
        // Kernels before 3.19 have no such file.
        if (kernel.ReadProc("self/setgroups")?.Trim() != "deny")
        {
            var gids = user.AdditionalGids.ToArray();
            int rc = kernel.SetGroups(gids);
            if (rc < 0)
                throw new HuskException($"setgroups [{string.Join(" ", gids)}]: {Native.StrError(-rc)}");
        }
        int g = kernel.SetResGid(user.GID);
        if (g < 0)
            throw new HuskException($"setresgid to gid {user.GID}: {Native.StrError(-g)}");
        int u = kernel.SetResUid(user.UID);
        if (u < 0)
            throw new HuskException($"setresuid to uid {user.UID}: {Native.StrError(-u)}");
    }

    /// <summary>capset v3 on this thread. Asking for a permitted capability this process does not hold is an error naming it.</summary>
    public void SetCapabilities(ulong effective, ulong permitted, ulong inheritable)
    {
        Ok(kernel.CapGetPermitted(out ulong held), "capget");
        ulong missing = permitted & ~held;
        if (missing != 0)
            throw new HuskException($"apply capabilities: {string.Join(", ", Husk.Spec.Capabilities.Names(missing))} not in the runtime's permitted set (the host's bounding set lacks it)");
        int rc = kernel.CapSet(effective & permitted, permitted, inheritable);
        if (rc < 0)
            throw new HuskException($"apply capabilities (capset): {Native.StrError(-rc)}");
    }

    /// <summary>Clears the ambient set and raises each listed capability (a failed raise is a warning, as in runc).</summary>
    public void SetAmbient(ulong ambient, Action<string>? warn)
    {
        int rc = kernel.Prctl(Native.PR_CAP_AMBIENT, Native.PR_CAP_AMBIENT_CLEAR_ALL);
        if (rc < 0)
        {
            if (rc == -Native.EINVAL && ambient == 0) return;     // kernel without ambient capabilities
            throw new HuskException($"clear ambient capabilities: {Native.StrError(-rc)}");
        }
        for (int cap = 0; cap < 64; cap++)
        {
            if ((ambient & (1UL << cap)) == 0) continue;
            int raise = kernel.Prctl(Native.PR_CAP_AMBIENT, Native.PR_CAP_AMBIENT_RAISE, (nuint)cap);
            if (raise < 0)
                warn?.Invoke($"can't raise ambient capability {Husk.Spec.Capabilities.Names(1UL << cap).First()}: {Native.StrError(-raise)}");
        }
    }

    // ------------------------------------------------------------------ small settings

    /// <summary>PR_SET_NO_NEW_PRIVS on this thread (inherited by execve).</summary>
    public void SetNoNewPrivileges()
        => Ok(kernel.Prctl(Native.PR_SET_NO_NEW_PRIVS, 1), "prctl(PR_SET_NO_NEW_PRIVS)");

    /// <summary>Sets the umask; 0022 when the spec has none (as runc).</summary>
    public void SetUmask(uint? umask) => kernel.Umask((umask ?? 0x12) & 0x1ff);   // 0x12 == 0022

    /// <summary>Writes /proc/self/oom_score_adj (nothing when null).</summary>
    public void ApplyOomScoreAdj(int? score)
    {
        if (score is not int s) return;
        if (s < -1000 || s > 1000)
            throw new HuskException($"oomScoreAdj {s} is out of range [-1000, 1000]");
        WriteProc("self/oom_score_adj", s.ToString(System.Globalization.CultureInfo.InvariantCulture), $"set oom_score_adj to {s}");
    }

    /// <summary>sethostname; nothing when null or empty (as runc).</summary>
    public void SetHostname(string? name)
    {
        if (string.IsNullOrEmpty(name)) return;
        int rc = kernel.SetHostname(name);
        if (rc < 0) throw new HuskException($"sethostname {Quote(name)}: {Native.StrError(-rc)}");
    }

    /// <summary>setdomainname; nothing when null or empty (as runc).</summary>
    public void SetDomainname(string? name)
    {
        if (string.IsNullOrEmpty(name)) return;
        int rc = kernel.SetDomainname(name);
        if (rc < 0) throw new HuskException($"setdomainname {Quote(name)}: {Native.StrError(-rc)}");
    }

    /// <summary>personality(2): domain LINUX or LINUX32; nothing when null. Flags are not supported.</summary>
    public void ApplyPersonality(LinuxPersonality? personality)
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
        int rc = kernel.Personality(domain);
        if (rc < 0)
            throw new HuskException($"personality {personality.Domain}: {Native.StrError(-rc)}");
    }

    /// <summary>
    /// Writes each key (in ordinal order) to /proc/sys, through the procfs of <see cref="ProcFs.Open"/>
    /// (in the init, the host's, opened before any namespace was entered), checking the file is on procfs.
    /// </summary>
    public void ApplySysctl(IReadOnlyDictionary<string, string> sysctl)
    {
        foreach (var key in sysctl.Keys.Order(StringComparer.Ordinal))
            WriteProc("sys/" + ProcessSetup.SysctlPath(key), sysctl[key], $"write sysctl key {key}");
    }

    /// <summary>A /proc write whose error is one line naming <paramref name="what"/>.</summary>
    void WriteProc(string path, string value, string what)
    {
        int rc = kernel.WriteProc(path, value);
        if (rc < 0) throw new HuskException($"{what}: {Native.StrError(-rc)}");
    }

    // ------------------------------------------------------------------ cwd

    /// <summary>
    /// Creates the cwd (and its parents, mode 0755) when it does not exist, as runc does before the
    /// root turns read-only. Call after pivot_root: "/" is the container's root, so the path and its
    /// symlinks resolve inside it. Nothing for an empty cwd.
    /// </summary>
    public void CreateCwd(string cwd)
    {
        if (cwd == "" || (kernel.StatxAt(Native.AT_FDCWD, cwd, 0, out var st) == 0 && (st.Mode & Native.S_IFMT) == Native.S_IFDIR)) return;
        string path = "";
        foreach (var part in cwd.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            path += "/" + part;
            int rc = kernel.MkdirAt(Native.AT_FDCWD, path, 0x1ed);
            if (rc < 0 && rc != -Native.EEXIST)
                throw new HuskException($"create cwd ({Quote(cwd)}) set in config.json: mkdir {path}: {Native.StrError(-rc)}");
        }
    }

    /// <summary>chdir with runc's error, then the CVE-2024-21626 check that the cwd is inside the root.</summary>
    public void ChangeDirectory(string cwd)
    {
        int rc = kernel.Chdir(cwd);
        if (rc < 0) throw ChdirError(cwd, -rc);
        VerifyCwd();
        _cwdDone = cwd;
    }

    static HuskException ChdirError(string cwd, int errno)
        => new($"chdir to cwd ({Quote(cwd)}) set in config.json failed: {Native.StrError(errno)}");

    /// <summary>
    /// Refuses a cwd outside this process's root (reached through a leaked fd, e.g. /proc/self/fd/N):
    /// getcwd then fails with ENOENT or answers "(unreachable)/...".
    /// </summary>
    public void VerifyCwd()
    {
        int rc = kernel.GetCwd(out string cwd);
        if (rc < 0)
        {
            if (rc == -Native.ERANGE) return;   // longer than PATH_MAX, but reachable
            if (rc == -Native.ENOENT)
                throw new HuskException("current working directory is outside of container mount namespace root -- possible container breakout detected");
            throw new HuskException($"getcwd: {Native.StrError(-rc)}");
        }
        if (!cwd.StartsWith('/'))
            throw new HuskException("current working directory is outside of container mount namespace root -- possible container breakout detected");
    }

    // ------------------------------------------------------------------ exec

    /// <summary>
    /// Marks every fd from <paramref name="first"/> up close-on-exec (close_range with
    /// CLOSE_RANGE_CLOEXEC; a walk of /proc/self/fd on kernels without it).
    /// </summary>
    public void MarkCloseOnExecFrom(int first)
    {
        if (kernel.CloseRange((uint)first, uint.MaxValue, Native.CLOSE_RANGE_CLOEXEC) == 0) return;
        var fds = new List<int>();
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            if (int.TryParse(Path.GetFileName(entry), out int fd) && fd >= first) fds.Add(fd);
        foreach (int fd in fds)
        {
            int flags = kernel.Fcntl(fd, Native.F_GETFD, 0);
            if (flags < 0) continue;   // the enumeration's own fd, already closed
            kernel.Fcntl(fd, Native.F_SETFD, flags | Native.FD_CLOEXEC);
        }
    }

    /// <summary>
    /// The last steps of every process that enters a container (the init after `start`, a process of
    /// `exec`), in runc's order: its stdio to the container's user, the seccomp filter before the
    /// capabilities are dropped when no_new_privs is off (loading then needs CAP_SYS_ADMIN), user and
    /// capabilities, no_new_privs, umask, LSM labels, the filter when no_new_privs is on, then the
    /// startContainer hooks and execve. The hooks come from the image and run in the container: they
    /// get no more privilege than the program does. Returns only by throwing.
    /// </summary>
    public void BecomeProcess(Process p, int preserveFds, Action? installSeccomp, Action? startContainerHooks = null)
    {
        StdioOwnership.Fix(kernel, p.User.UID);
        if (installSeccomp is not null && !p.NoNewPrivileges) installSeccomp();
        ApplyUserAndCapabilities(p);
        if (p.NoNewPrivileges) SetNoNewPrivileges();
        SetUmask(p.User.Umask);
        Lsm.ApplyExecLabels(kernel, p);
        Exec(p, preserveFds, p.NoNewPrivileges ? installSeccomp : null, startContainerHooks);
    }

    /// <summary>
    /// Marks fds from 3 + <paramref name="preserveFds"/> close-on-exec, changes into the cwd (unless
    /// <see cref="ApplyUserAndCapabilities"/> already did), resolves args[0] and execve's it with the
    /// process's environment (plus HOME, see <see cref="ProcessSetup.ProcessEnvironment"/>). Returns only by
    /// throwing. <paramref name="installSeccomp"/> and then <paramref name="startContainerHooks"/> run last,
    /// right before execve(2) (see <see cref="ExecVe"/>).
    /// </summary>
    public void Exec(Process p, int preserveFds, Action? installSeccomp = null, Action? startContainerHooks = null)
    {
        if (p.Args.Count == 0)
            throw new HuskException("args must not be empty");
        MarkCloseOnExecFrom(3 + Math.Max(0, preserveFds));
        if (p.Cwd != "" && _cwdDone != p.Cwd)
            ChangeDirectory(p.Cwd);
        var env = ProcessSetup.ProcessEnvironment(p.Env, p.User.UID);
        string path = ProcessSetup.ResolveExecutable(p.Args[0], env, p.Cwd);
        ExecVe(path, p.Args, env, installSeccomp, startContainerHooks);
    }

    /// <summary>
    /// execve; throws a HuskException naming the program and the errno when it fails.
    /// Once argv and envp are built, <paramref name="installSeccomp"/> runs (so nothing of the runtime's
    /// own setup is filtered), then <paramref name="startContainerHooks"/> (under the filter, as in runc;
    /// a failing hook throws), then the call.
    /// </summary>
    public void ExecVe(string path, IReadOnlyList<string> argv, IReadOnlyList<string> env,
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
            var prefix = Encoding.UTF8.GetBytes($"{FilteredExecFailure}{Quote(path)}{FilteredExecFailureAfterPath}");
            byte* msg = stackalloc byte[prefix.Length + 16];
            prefix.CopyTo(new Span<byte>(msg, prefix.Length));
            installSeccomp();
            startContainerHooks?.Invoke();
            int err = -kernel.ExecVe(cpath, cargv, cenv), len = prefix.Length;
            Span<byte> digits = stackalloc byte[10];
            int nd = 0;
            do { digits[nd++] = (byte)('0' + err % 10); err /= 10; } while (err > 0 && nd < 10);
            while (nd > 0) msg[len++] = digits[--nd];
            msg[len++] = (byte)'\n';
            kernel.Write(2, msg, len);
            kernel.Exit(127);
        }
        startContainerHooks?.Invoke();
        int errno = -kernel.ExecVe(cpath, cargv, cenv);
        throw new HuskException($"exec {Quote(path)}: {Native.StrError(errno)}");
    }

    /// <summary>The one line a failed execve under the seccomp filter writes to stderr, around the quoted path and before the errno (an init plan's too).</summary>
    public const string FilteredExecFailure = "husk: exec ", FilteredExecFailureAfterPath = " failed (denied by the seccomp filter?): errno ";

    /// <summary>Go's %q, near enough for messages: the string in double quotes.</summary>
    internal static string Quote(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
