using System.Text;

namespace Husk.Vm;

/// <summary>
/// The guest's initramfs: Husk itself as /init (the same binary, which knows it is the guest's
/// PID 1, <see cref="GuestInit"/>; linked statically, so no library comes along), and the guest
/// kernel's modules. Built once per husk binary and kernel, and
/// kept in <see cref="CacheDirectory"/>: a VM start only reads it.
/// </summary>
public static class Initramfs
{
    public const string CacheDirectory = "/run/husk-vm";
    /// <summary>Where the modules go in the guest; their names sort in load order.</summary>
    public const string ModulesDirectory = "/modules";

    /// <summary>The directories of the guest's root (made in the initramfs, and again in the tmpfs root GuestInit moves to).</summary>
    public static readonly string[] RootDirectories =
        ["dev", "proc", "sys", "run", "tmp", GuestInit.ShareMount[1..], GuestInit.BundleDirectory[1..]];

    /// <summary>The cached image for this husk binary and guest kernel, made when missing.</summary>
    public static string For(GuestAssets assets)
    {
        const string self = "/proc/self/exe";
        var exe = new FileInfo(File.ResolveLinkTarget(self, false)?.FullName ?? self);
        string key = $"{assets.Release}-{exe.Length:x}-{exe.LastWriteTimeUtc.Ticks:x}";
        var path = Path.Combine(CacheDirectory, $"initramfs-{key}.cpio");
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(CacheDirectory);
        var tmp = $"{path}.{Environment.ProcessId}";
        using (var file = File.Create(tmp))
            Write(file, exe.FullName, assets);
        File.Move(tmp, path, overwrite: true);
        // Images of other husk builds are dropped (they live in memory, /run): QEMU reads its image when it starts.
        foreach (var other in Directory.GetFiles(CacheDirectory, "initramfs-*.cpio"))
            if (other != path) File.Delete(other);
        return path;
    }

    static void Write(Stream output, string husk, GuestAssets assets)
    {
        var cpio = new CpioWriter(output);
        foreach (var dir in RootDirectories.Append(ModulesDirectory[1..])) cpio.Directory(dir);
        cpio.File("init", File.ReadAllBytes(husk), 0x1ed);
        for (int i = 0; i < assets.Modules.Count; i++)
            cpio.File($"{ModulesDirectory[1..]}/{i:D2}-{Path.GetFileName(assets.Modules[i])}", File.ReadAllBytes(assets.Modules[i]), 0x1a4);
        cpio.Finish();
    }
}

/// <summary>The cpio "newc" format the kernel unpacks an initramfs from (Documentation/driver-api/early-userspace/buffer-format.rst).</summary>
public sealed class CpioWriter(Stream output)
{
    const int S_IFDIR = 0x4000, S_IFREG = 0x8000;
    uint _ino = 1;

    public void Directory(string name) => Entry(name, S_IFDIR | 0x1ed, ReadOnlySpan<byte>.Empty, nlink: 2);

    public void File(string name, ReadOnlySpan<byte> data, int mode) => Entry(name, S_IFREG | mode, data, nlink: 1);

    /// <summary>The trailer entry that ends the archive.</summary>
    public void Finish() => Entry("TRAILER!!!", 0, ReadOnlySpan<byte>.Empty, nlink: 1, ino: 0);

    void Entry(string name, int mode, ReadOnlySpan<byte> data, int nlink, uint? ino = null)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name + "\0");
        var header = new StringBuilder("070701");
        foreach (var field in new uint[] { ino ?? _ino++, (uint)mode, 0, 0, (uint)nlink, 0, (uint)data.Length, 0, 0, 0, 0, (uint)nameBytes.Length, 0 })
            header.Append(field.ToString("x8"));
        output.Write(Encoding.ASCII.GetBytes(header.ToString()));
        output.Write(nameBytes);
        Pad(110 + nameBytes.Length);
        output.Write(data);
        Pad(data.Length);
    }

    /// <summary>Header plus name, and data, each end on a 4-byte boundary.</summary>
    void Pad(int length)
    {
        Span<byte> zeros = stackalloc byte[3];
        zeros.Clear();
        output.Write(zeros[..((4 - length % 4) % 4)]);
    }
}
