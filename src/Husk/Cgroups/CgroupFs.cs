using System.Text;
using Husk.Linux;

namespace Husk.Cgroups;

/// <summary>
/// File-level helpers over cgroupfs shared by the v1 and v2 managers. Every failure becomes a
/// one-line <see cref="HuskException"/> naming the file and the errno text.
/// </summary>
internal static unsafe class CgroupFs
{
    const int ENOTEMPTY = 39, ENODEV = 19, SIGKILL = 9;
    internal const string Procs = "cgroup.procs";

    /// <summary>The content of a cgroup file, or null when it (or its directory) does not exist.</summary>
    public static string? TryRead(string path)
    {
        try { return SmallFile.ReadTextOrNull(path); }
        // A cgroup removed while we read it reads as gone.
        catch (KernelException e) when (e.Errno is ENODEV or Native.ENOENT) { return null; }
        catch (KernelException e) { throw new HuskException($"cgroup: cannot read {path}: {Native.StrError(e.Errno)}"); }
    }

    /// <summary>Writes <paramref name="value"/> to a cgroup file in one write(2).</summary>
    public static void Write(string path, string value)
    {
        if (!TryWrite(path, value, out int errno))
            throw new HuskException($"cgroup: cannot write \"{value}\" to {path}: {Native.StrError(errno)}");
    }

    public static bool TryWrite(string path, string value, out int errno)
    {
        errno = 0;
        int fd = Native.open(path, Native.O_WRONLY | Native.O_CLOEXEC, 0);
        if (fd < 0) { errno = Native.Errno; return false; }
        try
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            while (true)
            {
                nint n;
                fixed (byte* p = bytes) n = Native.write(fd, p, bytes.Length);
                if (n >= 0) return true;
                errno = Native.Errno;
                if (errno != Native.EINTR) return false;
            }
        }
        finally { Native.close(fd); }
    }

    /// <summary>Creates <paramref name="dir"/>; returns false when it already existed.</summary>
    public static bool Mkdir(string dir)
    {
        if (Native.mkdir(dir, 0x1ed /* 0755 */) == 0) return true;
        int e = Native.Errno;
        if (e == Native.EEXIST) return false;
        throw new HuskException($"cgroup: cannot create {dir}: {Native.StrError(e)}");
    }

    /// <summary>
    /// Removes <paramref name="dir"/> and its sub-cgroups (deepest first). Missing is fine; EBUSY is
    /// retried for about a second. Returns the errno of the failure, 0 on success.
    /// </summary>
    public static int RemoveTree(string dir, bool retryBusy = true)
    {
        // Most container cgroups have no children: try the directory itself before listing it.
        int rc = Rmdir(dir, retryBusy: false);
        if (rc == 0 || rc != ENOTEMPTY && !retryBusy) return rc;
        int first = 0;
        foreach (var sub in SubDirectories(dir))
        {
            int e = RemoveTree(sub, retryBusy);
            if (first == 0) first = e;
        }
        rc = Rmdir(dir, retryBusy);
        return rc != 0 ? rc : first;
    }

    /// <summary>rmdir with EBUSY retried when asked; 0 on success or when already gone, else the errno.</summary>
    public static int Rmdir(string dir, bool retryBusy)
    {
        var deadline = Environment.TickCount64 + 1000;
        while (true)
        {
            if (Native.rmdir(dir) == 0) return 0;
            int e = Native.Errno;
            if (e == Native.ENOENT) return 0;
            if (e == Native.EINTR) continue;
            if (e == Native.EBUSY && retryBusy && Environment.TickCount64 < deadline)
            {
                Thread.Sleep(10);
                continue;
            }
            return e;
        }
    }

    public static bool IsNotEmpty(int errno) => errno == ENOTEMPTY || errno == Native.EBUSY;

    static IEnumerable<string> SubDirectories(string dir)
    {
        try { return Directory.GetDirectories(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    /// <summary>The pids in cgroup.procs of <paramref name="dir"/> (and of its sub-cgroups when <paramref name="recursive"/>).</summary>
    public static void CollectPids(string dir, bool recursive, ISet<int> into)
    {
        var text = TryRead(Path.Combine(dir, Procs));
        if (text == null) return;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (int.TryParse(line, out int pid)) into.Add(pid);
        if (recursive)
            foreach (var sub in SubDirectories(dir)) CollectPids(sub, true, into);
    }

    public static List<int> Pids(IEnumerable<string> dirs, bool recursive)
    {
        var set = new HashSet<int>();
        foreach (var d in dirs) CollectPids(d, recursive, set);
        var list = set.ToList();
        list.Sort();
        return list;
    }

    /// <summary>SIGKILLs every pid; ones already gone (ESRCH) are fine.</summary>
    public static void KillAll(IEnumerable<int> pids)
    {
        foreach (var pid in pids)
            if (pid > 0) Native.kill(pid, SIGKILL);
    }

    /// <summary>
    /// Kills what is left in <paramref name="dirs"/> (and below) until their cgroup.procs are empty,
    /// for at most <paramref name="timeoutMs"/>. Returns the pids still there at the end.
    /// </summary>
    public static List<int> KillAndWait(IReadOnlyList<string> dirs, int timeoutMs)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            var pids = Pids(dirs, recursive: true);
            if (pids.Count == 0 || Environment.TickCount64 >= deadline) return pids;
            KillAll(pids);
            Thread.Sleep(5);
        }
    }

    /// <summary>Waits until <paramref name="check"/> holds, polling, for at most <paramref name="timeoutMs"/>.</summary>
    public static bool WaitFor(Func<bool> check, int timeoutMs, Action? eachTry = null)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            eachTry?.Invoke();
            if (check()) return true;
            if (Environment.TickCount64 >= deadline) return false;
            Thread.Sleep(2);
        }
    }

    // ---- v2 freezer (cgroup.freeze / cgroup.events), also used for the unified dir on hybrid hosts ----

    public static bool HasV2Freezer(string dir) => File.Exists(Path.Combine(dir, "cgroup.freeze"));

    public static void FreezeV2(string dir, bool frozen)
    {
        Write(Path.Combine(dir, "cgroup.freeze"), frozen ? "1" : "0");
        if (!WaitFor(() => IsFrozenV2(dir) == frozen, 2000))
        {
            if (frozen) TryWrite(Path.Combine(dir, "cgroup.freeze"), "0", out _);
            throw new HuskException($"cgroup: cannot {(frozen ? "freeze" : "thaw")} {dir}: timed out waiting for cgroup.events to say frozen {(frozen ? 1 : 0)}");
        }
    }

    public static bool IsFrozenV2(string dir)
    {
        var events = TryRead(Path.Combine(dir, "cgroup.events"));
        if (events == null) return false;
        foreach (var line in events.Split('\n'))
            if (line.Trim() == "frozen 1") return true;
        return false;
    }
}
