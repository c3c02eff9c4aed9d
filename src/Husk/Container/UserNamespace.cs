using System.Text;
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

    static void Write(string path, string text, string field)
    {
        if (text.Length == 0) return;
        try { File.WriteAllText(path, text); }
        catch (IOException e) { throw new HuskException($"{field}: cannot write {path}: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new HuskException($"{field}: cannot write {path}: {e.Message}"); }
    }
}
