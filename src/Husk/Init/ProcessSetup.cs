using System.Text;
using Husk.Linux;
using Husk.Spec;
using SpecCaps = Husk.Spec.Capabilities;

namespace Husk.Init;

/// <summary>
/// The last steps of the container's init, in runc's order (libcontainer/init_linux.go
/// finalizeNamespace, standard_init_linux.go): rlimits, hostname, sysctl while still root;
/// then bounding set, user and groups, capabilities, no_new_privs, umask, LSM labels, seccomp,
/// startContainer hooks, and execve. The steps that call the kernel are <see cref="ProcessSteps"/>
/// (through an <see cref="IKernel"/>); this class holds what needs no kernel and the entry points the
/// init uses, on <see cref="LinuxKernel"/>.
/// </summary>
/// <remarks>
/// A typical sequence: ApplyRlimits, ApplyOomScoreAdj, SetHostname, SetDomainname, ApplySysctl,
/// ApplyPersonality, <see cref="ResolveExecutable"/> (to fail early), then <see cref="BecomeProcess"/>:
/// MarkCloseOnExecFrom(3 + preserveFds), ApplyUserAndCapabilities, SetNoNewPrivileges (when asked),
/// SetUmask, seccomp, Exec.
/// </remarks>
public static unsafe class ProcessSetup
{
    // ------------------------------------------------------------------ on this process (the init's entry points)

    static ProcessSteps OnLinux => new(LinuxKernel.Instance);

    /// <inheritdoc cref="ProcessSteps.ApplyRlimits"/>
    public static void ApplyRlimits(IEnumerable<POSIXRlimit> rlimits) => OnLinux.ApplyRlimits(rlimits);

    /// <inheritdoc cref="ProcessSteps.SetHostname"/>
    public static void SetHostname(string? name) => OnLinux.SetHostname(name);

    /// <inheritdoc cref="ProcessSteps.SetDomainname"/>
    public static void SetDomainname(string? name) => OnLinux.SetDomainname(name);

    /// <inheritdoc cref="ProcessSteps.ApplySysctl"/>
    public static void ApplySysctl(IReadOnlyDictionary<string, string> sysctl) => OnLinux.ApplySysctl(sysctl);

    /// <inheritdoc cref="ProcessSteps.ApplyPersonality"/>
    public static void ApplyPersonality(LinuxPersonality? personality) => OnLinux.ApplyPersonality(personality);

    /// <inheritdoc cref="ProcessSteps.CreateCwd"/>
    public static void CreateCwd(string cwd) => OnLinux.CreateCwd(cwd);

    /// <inheritdoc cref="ProcessSteps.BecomeProcess"/>
    public static void BecomeProcess(Process p, int preserveFds, Action? installSeccomp, Action? startContainerHooks = null)
        => OnLinux.BecomeProcess(p, preserveFds, installSeccomp, startContainerHooks);

    // ------------------------------------------------------------------ capabilities

    /// <summary>The five capability masks of a process's spec.</summary>
    public readonly record struct CapabilityMasks(ulong Bounding, ulong Effective, ulong Inheritable, ulong Permitted, ulong Ambient);

    /// <summary>Masks for <paramref name="caps"/> (null: no capabilities at all).</summary>
    public static CapabilityMasks ComputeMasks(LinuxCapabilities? caps, int lastCap, ICollection<string>? skipped = null)
    {
        caps ??= new LinuxCapabilities();
        return new CapabilityMasks(
            SpecCaps.Mask(caps.Bounding, lastCap, skipped),
            SpecCaps.Mask(caps.Effective, lastCap, skipped),
            SpecCaps.Mask(caps.Inheritable, lastCap, skipped),
            SpecCaps.Mask(caps.Permitted, lastCap, skipped),
            SpecCaps.Mask(caps.Ambient, lastCap, skipped));
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
            throw new HuskException($"unable to join session keyring {ProcessSteps.Quote(name)}: {Native.StrError(errno)}");
        }
        var buf = stackalloc byte[512];
        long n = Native.KeyctlDescribe(key, buf, 512);
        if (n < 0 || n > 512)
            throw new HuskException($"unable to describe session keyring {ProcessSteps.Quote(name)}: {(n < 0 ? Native.StrError(Native.Errno) : "description too long")}");
        // "keyring;0;0;3f010000;_ses.id": the 4th field is the permission mask in hex.
        var fields = Encoding.UTF8.GetString(buf, (int)Math.Max(0, n - 1)).Split(';');
        if (fields.Length < 4 || !uint.TryParse(fields[3], System.Globalization.NumberStyles.HexNumber, null, out uint perm))
            throw new HuskException($"unable to parse the permissions of session keyring {ProcessSteps.Quote(name)}");
        perm |= inUserNamespace ? 0x8u : 0x80000u;   // KEY_OTH_SEARCH : KEY_USR_SEARCH
        if (Native.KeyctlSetPerm(key, perm) != 0)
            throw new HuskException($"unable to mod keyring permissions of {ProcessSteps.Quote(name)}: {Native.StrError(Native.Errno)}");
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
            throw new HuskException($"sysctl key {ProcessSteps.Quote(key)} is invalid: it must be dot-separated (no '/')");
        foreach (var part in key.Split('.'))
            if (part.Length == 0)
                throw new HuskException($"sysctl key {ProcessSteps.Quote(key)} is invalid: it has an empty component");
        return key.Replace('.', '/');
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
                throw new HuskException($"exec: {ProcessSteps.Quote(arg0)}: no such executable file");
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
        throw new HuskException($"exec: {ProcessSteps.Quote(arg0)}: executable file not found in $PATH");
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
    /// The environment the program gets: <paramref name="env"/>, plus HOME from the container's
    /// /etc/passwd (or "/") when it has none, as runc does.
    /// </summary>
    public static List<string> ProcessEnvironment(IReadOnlyList<string> env, uint uid, string passwdPath = "/etc/passwd")
        => EnvironmentWithHome(env, () => HomeOf(uid, ReadPasswd(passwdPath)));

    /// <summary><paramref name="env"/>, plus HOME=<paramref name="home"/>() (or "/") when it has none.</summary>
    public static List<string> EnvironmentWithHome(IReadOnlyList<string> env, Func<string?> home)
    {
        var result = new List<string>(env);
        foreach (var e in env)
            if (e.StartsWith("HOME=", StringComparison.Ordinal)) return result;
        result.Add("HOME=" + (home() ?? "/"));
        return result;
    }

    static string? ReadPasswd(string passwdPath)
    {
        // At most 1 MiB, non-blocking: a FIFO or device placed at /etc/passwd must not hang init.
        try { return SmallFile.ReadTextOrNull(passwdPath, 1 << 20); }
        catch (KernelException) { return null; }
    }

    /// <summary>The home directory of <paramref name="uid"/> in an /etc/passwd text; null when none.</summary>
    public static string? HomeOf(uint uid, string? passwd)
    {
        if (passwd is null) return null;
        foreach (var line in passwd.Split('\n'))
        {
            var f = line.Split(':');
            if (f.Length >= 6 && uint.TryParse(f[2], out uint u) && u == uid && f[5].Length > 0)
                return f[5];
        }
        return null;
    }

}
