using System.Text;
using Husk.Linux;
using Husk.Spec;
using LinuxConfig = Husk.Spec.Linux;

namespace Husk.Container;

/// <summary>Writes a new user namespace's uid/gid maps from the parent side, as the kernel requires.</summary>
public static class UserNamespace
{
    public static string FormatMappings(IEnumerable<LinuxIDMapping> mappings)
    {
        var sb = new StringBuilder();
        foreach (var m in mappings) sb.Append($"{m.ContainerID} {m.HostID} {m.Size}\n");
        return sb.ToString();
    }

    public static void WriteMappings(int pid, LinuxConfig linux)
    {
        if (Native.geteuid() == 0)
        {
            Write($"/proc/{pid}/uid_map", FormatMappings(linux.UIDMappings), "/linux/uidMappings");
            Write($"/proc/{pid}/gid_map", FormatMappings(linux.GIDMappings), "/linux/gidMappings");
            return;
        }
        // Rootless (user_namespaces(7)): an unprivileged parent may map only its own uid and gid,
        // one id each, and gid_map only once setgroups is denied. Anything else goes through the
        // setuid helpers newuidmap/newgidmap (shadow-utils, /etc/subuid and /etc/subgid), as runc.
        if (MapsOnly(linux.UIDMappings, Native.geteuid()))
            Write($"/proc/{pid}/uid_map", FormatMappings(linux.UIDMappings), "/linux/uidMappings");
        else if (linux.UIDMappings.Count > 0)
            RunHelper("newuidmap", pid, linux.UIDMappings, "/linux/uidMappings");
        if (MapsOnly(linux.GIDMappings, Native.getegid()))
        {
            Write($"/proc/{pid}/setgroups", "deny", "/linux/gidMappings");
            Write($"/proc/{pid}/gid_map", FormatMappings(linux.GIDMappings), "/linux/gidMappings");
        }
        else if (linux.GIDMappings.Count > 0)
            RunHelper("newgidmap", pid, linux.GIDMappings, "/linux/gidMappings");
    }

    /// <summary>The mappings are one range of size 1 onto <paramref name="id"/>: what an unprivileged process may write itself.</summary>
    public static bool MapsOnly(IReadOnlyList<LinuxIDMapping> maps, uint id) => maps.Count == 1 && maps[0].Size == 1 && maps[0].HostID == id;

    /// <summary>newuidmap/newgidmap PID ID HOSTID SIZE...; a failure names the field and the helper's exit.</summary>
    static unsafe void RunHelper(string helper, int pid, IEnumerable<LinuxIDMapping> maps, string field)
    {
        string? path = new[] { "/usr/bin", "/bin", "/usr/sbin", "/sbin" }.Select(d => Path.Combine(d, helper)).FirstOrDefault(File.Exists);
        if (path == null)
            throw new HuskException($"{field}: mapping more than the caller's own id needs {helper} (Debian: uidmap), which is not installed");
        var argv = new List<string> { helper, pid.ToString() };
        foreach (var m in maps) argv.AddRange([m.ContainerID.ToString(), m.HostID.ToString(), m.Size.ToString()]);
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>().Select(e => $"{e.Key}={e.Value}").ToList();
        int child = Spawner.Spawn(path, argv, env);
        int status;
        while (Native.waitpid(child, &status, 0) < 0)
            if (Native.Errno != Native.EINTR) throw new KernelException($"{field}: wait for {helper}", Native.Errno);
        if (!Native.WIFEXITED(status) || Native.WEXITSTATUS(status) != 0)
            throw new HuskException($"{field}: {helper} {string.Join(' ', argv.Skip(1))} failed (exit {Native.WEXITSTATUS(status)}): are the ranges in /etc/sub{(helper == "newuidmap" ? "uid" : "gid")} for this user?");
    }

    /// <summary>One write(2) of the whole map, as the kernel requires; errors name the field and the errno only.</summary>
    static unsafe void Write(string path, string text, string field)
    {
        if (text.Length == 0) return;
        var bytes = Encoding.ASCII.GetBytes(text);
        int fd = Native.open(path, Native.O_WRONLY | Native.O_CLOEXEC, 0);
        if (fd < 0) throw new KernelException($"{field}: cannot open {path}", Native.Errno);
        try
        {
            nint n;
            fixed (byte* p = bytes) n = Native.write(fd, p, bytes.Length);
            if (n < 0)
            {
                int errno = Native.Errno;
                string hint = errno == Native.EINVAL ? " (ranges overlap, or are too many or too large)"
                    : errno == Native.EPERM ? " (host ids the runtime may not map)" : "";
                throw new HuskException($"{field}: cannot write {path}: {Native.StrError(errno)}{hint}");
            }
        }
        finally { Native.close(fd); }
    }
}
