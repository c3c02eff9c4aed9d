using System.Runtime.InteropServices;
using System.Text;
using Husk.Container;
using Husk.Linux;
using Husk.Spec;

namespace Husk.Seccomp;

/// <summary>
/// Filters compiled by libseccomp, kept between husk processes for init plans: one file of classic
/// BPF per profile in <see cref="Dir"/>. Building a profile like podman's or containerd's default costs
/// libseccomp more than the rest of `create` together (bench/analysis.md, update 8), and every
/// container of a node has the same one. An entry holds its key, all the program depends on (the
/// linux.seccomp section, the filter attributes this host gives it, libseccomp's version and API
/// level, this boot of the kernel), and is used only for exactly that key: its file name, a hash of the key, only
/// finds it (a profile crafted to collide with another's name gets a miss, never the other's
/// program). Only root reads or writes it, only a directory of root's that no one else can write is
/// trusted, a damaged entry is built again, and no more than
/// <see cref="MaxEntries"/> are written. Never a reason for `create` to fail: any error is a miss.
/// </summary>
public static class SeccompCache
{
    public const string Dir = "/run/husk-cache/seccomp";
    public const int MaxEntries = 256;
    /// <summary>BPF_MAXINSNS: no program the kernel takes is longer.</summary>
    const int MaxInstructions = 4096;
    const int InstructionSize = 8;
    /// <summary>Different at every boot: a kernel or library upgraded and booted never meets an older entry.</summary>
    const string BootIdFile = "/proc/sys/kernel/random/boot_id";

    /// <summary>This boot's id; null where it cannot be read (then nothing is cached).</summary>
    public static string? BootId()
    {
        try { return SmallFile.ReadTextOrNull(BootIdFile)?.Trim() is { Length: > 0 } id ? id : null; }
        catch (HuskException) { return null; }
    }

    /// <summary>What the program of <paramref name="seccomp"/> (decoded as <paramref name="plan"/>) depends on, with this library and kernel. Pure.</summary>
    public static byte[] Key(LinuxSeccomp seccomp, SeccompPlan plan, string libseccompVersion, uint apiLevel, string bootId)
    {
        var head = new StringBuilder("husk seccomp cache 1\n")
            .Append(libseccompVersion).Append('\n').Append(apiLevel).Append('\n').Append(bootId).Append('\n');
        foreach (var (attribute, value) in plan.Attributes) head.Append(attribute).Append('=').Append(value).Append(' ');
        head.Append('\n');
        return [.. Encoding.UTF8.GetBytes(head.ToString()), .. LinuxSeccomp.Shape.WriteDocument(seccomp)];
    }

    /// <summary>The entry's file name: FNV-1a (64 bits) of the key, in hex. Pure.</summary>
    public static string Name(ReadOnlySpan<byte> key)
    {
        ulong hash = 14695981039346656037;
        foreach (byte b in key) hash = (hash ^ b) * 1099511628211;
        return hash.ToString("x16");
    }

    /// <summary>The program stored for <paramref name="key"/> in <paramref name="dir"/>; null when there is none for exactly this key, or it cannot be trusted.</summary>
    public static Native.SockFilter[]? Read(string dir, byte[] key)
    {
        int d = Native.open(dir, Native.O_PATH | Native.O_DIRECTORY | Native.O_NOFOLLOW | Native.O_CLOEXEC, 0);
        if (d < 0) return null;
        try
        {
            var st = Native.FStatx(d, dir);
            if (st.Uid != 0 || (st.Mode & 0x12) != 0) return null;   // root's, writable by no one else
            int f = Native.openat(d, Name(key), Native.O_RDONLY | Native.O_NOFOLLOW | Native.O_NONBLOCK | Native.O_CLOEXEC, 0);
            if (f < 0) return null;
            byte[] entry;
            try { entry = SmallFile.ReadFd(f, key.Length + MaxInstructions * InstructionSize + 1, "a cached seccomp filter"); }
            finally { Native.close(f); }
            var program = entry.AsSpan(Math.Min(key.Length, entry.Length));
            if (!entry.AsSpan().StartsWith(key) || program.Length == 0 || program.Length % InstructionSize != 0
                || program.Length > MaxInstructions * InstructionSize)
                return null;
            return MemoryMarshal.Cast<byte, Native.SockFilter>(program).ToArray();
        }
        catch (HuskException) { return null; }
        finally { Native.close(d); }
    }

    /// <summary>Stores <paramref name="program"/> for <paramref name="key"/> (the directory made 0700 where missing); nothing where that fails or the directory is full.</summary>
    public static void Write(string dir, byte[] key, Native.SockFilter[] program)
    {
        try
        {
            StateStore.MakePrivateDirectory(dir);
            if (Directory.GetFiles(dir).Length >= MaxEntries) return;
            SmallFile.WriteAtomically(Path.Combine(dir, Name(key)), [.. key, .. MemoryMarshal.AsBytes(program.AsSpan())]);
        }
        catch (Exception e) when (e is HuskException or IOException or UnauthorizedAccessException) { }
    }
}
