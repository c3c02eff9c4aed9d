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
        Write($"/proc/{pid}/uid_map", FormatMappings(linux.UIDMappings), "/linux/uidMappings");
        Write($"/proc/{pid}/gid_map", FormatMappings(linux.GIDMappings), "/linux/gidMappings");
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
