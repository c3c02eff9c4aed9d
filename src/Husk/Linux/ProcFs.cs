namespace Husk.Linux;

/// <summary>
/// What Husk reads from /proc about a process, and the procfs through which the init writes
/// sysctls and LSM attributes and reads what its security depends on (<see cref="Open"/>).
/// </summary>
public static class ProcFs
{
    /// <summary>The fd of the host's /proc that native/nsexec.c opened in `husk init`.</summary>
    const string ProcFdEnv = "_HUSK_PROCFD";

    static int s_root = -1;

    /// <summary>
    /// In `husk init`, the host's /proc opened by nsexec.c before any namespace was entered: the
    /// container's /proc is the container's to shape (a tmpfs of symlinks, another procfs file
    /// bind-mounted over a sysctl, CVE-2025-52881). Elsewhere, this process's own /proc.
    /// </summary>
    static int Root
    {
        get
        {
            if (s_root >= 0) return s_root;
            if (int.TryParse(Environment.GetEnvironmentVariable(ProcFdEnv), out int fd) && fd > 2) return s_root = fd;
            return s_root = Native.Check(Native.open("/proc", Native.O_PATH | Native.O_DIRECTORY | Native.O_CLOEXEC, 0), "open /proc");
        }
    }

    /// <summary>
    /// Opens /proc/<paramref name="path"/> ("sys/net/ipv4/ip_forward", "self/setgroups",
    /// "thread-self/attr/exec") beneath <see cref="Root"/> following no symlink and crossing no mount
    /// (openat2 RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV|RESOLVE_BENEATH; "self" and
    /// "thread-self" are read as links first), and checks that the file is on procfs. -1 (errno set)
    /// when it cannot be opened. Kernels without openat2 (before 5.6) get openat with O_NOFOLLOW.
    /// </summary>
    public static int Open(string path, int flags)
    {
        path = WithoutSelfLink(path);
        const ulong resolve = Native.RESOLVE_NO_SYMLINKS | Native.RESOLVE_NO_MAGICLINKS | Native.RESOLVE_NO_XDEV | Native.RESOLVE_BENEATH;
        flags |= Native.O_CLOEXEC | Native.O_NOFOLLOW;
        int fd = Native.openat2(Root, path, (ulong)flags, 0, resolve);
        if (fd < 0 && Native.Errno == Native.ENOSYS) fd = Native.openat(Root, path, flags, 0);
        if (fd < 0) return -1;
        if (Native.FsType(fd) != Native.PROC_SUPER_MAGIC)
        {
            Native.close(fd);
            throw new HuskException($"/proc/{path} is not on procfs (possible attack on /proc)");
        }
        return fd;
    }

    /// <summary>Writes <paramref name="value"/> to /proc/<paramref name="path"/> (see <see cref="Open"/>); false, with the errno, when it fails.</summary>
    public static bool TryWrite(string path, string value, out int errno)
    {
        errno = 0;
        int fd = Open(path, Native.O_WRONLY);
        if (fd < 0) { errno = Native.Errno; return false; }
        try { Native.WriteAll(fd, System.Text.Encoding.UTF8.GetBytes(value), $"/proc/{path}"); return true; }
        catch (KernelException e) { errno = e.Errno; return false; }
        finally { Native.close(fd); }
    }

    /// <summary>The text of /proc/<paramref name="path"/>, at most <paramref name="maxBytes"/> of it (see <see cref="Open"/>); null when it cannot be opened or read.</summary>
    public static string? ReadText(string path, int maxBytes = 4096)
    {
        int fd = Open(path, Native.O_RDONLY);
        if (fd < 0) return null;
        try { return System.Text.Encoding.UTF8.GetString(SmallFile.ReadFd(fd, maxBytes, $"/proc/{path}")); }
        catch (KernelException) { return null; }
        finally { Native.close(fd); }
    }

    /// <summary>
    /// Opens the file behind <paramref name="fd"/> anew with <paramref name="flags"/> (an O_PATH fd made
    /// readable or writable), through /proc/PID/fd/N of <see cref="Root"/>: the last component is a
    /// magic link, which <see cref="Open"/> refuses to follow. -1 (errno set) on failure.
    /// </summary>
    public static int Reopen(int fd, int flags) =>
        Native.openat(Root, WithoutSelfLink($"self/fd/{fd}"), flags | Native.O_CLOEXEC, 0);

    /// <summary>"self/x" → "PID/x", "thread-self/x" → "PID/task/TID/x", as <see cref="Root"/> names this process.</summary>
    static string WithoutSelfLink(string path)
    {
        foreach (var link in (ReadOnlySpan<string>)["thread-self", "self"])
        {
            if (!path.StartsWith(link + "/", StringComparison.Ordinal)) continue;
            string target = Native.ReadLinkAt(Root, link) ?? throw new KernelException($"readlink /proc/{link}", Native.Errno);
            return target + path[link.Length..];
        }
        return path;
    }

    /// <summary>State letter and start time (clock ticks since boot) from /proc/PID/stat; null if the process is gone.</summary>
    public static (char State, ulong StartTime)? Stat(int pid)
    {
        if (pid <= 0) return null;
        string? text;
        try { text = SmallFile.ReadTextOrNull($"/proc/{pid}/stat"); }
        catch (KernelException) { return null; }
        return text is null ? null : ParseStat(text);
    }

    /// <summary>Parses a stat line; the command name (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.</summary>
    public static (char State, ulong StartTime)? ParseStat(string text)
    {
        int close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length) return null;
        var fields = text[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state); start time is field 22.
        if (fields.Length < 20 || fields[0].Length != 1 || !ulong.TryParse(fields[19], out var start)) return null;
        return (fields[0][0], start);
    }

    /// <summary>True when <paramref name="pid"/> is alive (not a zombie) and is the process that started at <paramref name="startTime"/>.</summary>
    public static bool IsAlive(int pid, ulong startTime)
    {
        var st = Stat(pid);
        return st is { } s && s.State is not ('Z' or 'X' or 'x') && (startTime == 0 || s.StartTime == startTime);
    }
}
