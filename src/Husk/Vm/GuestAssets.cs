namespace Husk.Vm;

/// <summary>
/// What VM isolation needs from the host, found once: the guest kernel and its modules (put in
/// <see cref="Directory"/> by scripts/vm-assets.sh from Debian's cloud kernel package), QEMU, virtiofsd,
/// and the accelerator (KVM when /dev/kvm can be opened, else TCG emulation). Nothing here is
/// assumed: every path is checked, and <see cref="Missing"/> says what is not there.
/// </summary>
public sealed class GuestAssets
{
    public const string DirectoryEnv = "HUSK_VM_DIR", DefaultDirectory = "/var/lib/husk/vm";

    public required string Directory { get; init; }
    public string? Kernel { get; init; }
    public string? Release { get; init; }
    /// <summary>Module files in load order.</summary>
    public IReadOnlyList<string> Modules { get; init; } = [];
    public string? Qemu { get; init; }
    public string? Virtiofsd { get; init; }
    public bool Kvm { get; init; }

    public string Accelerator => Kvm ? "kvm" : "tcg";

    /// <summary>One line per missing part (empty when VM isolation can run).</summary>
    public IReadOnlyList<string> Missing
    {
        get
        {
            var missing = new List<string>();
            if (Kernel is null || Release is null || Modules.Count == 0)
                missing.Add($"no guest kernel in {Directory} (scripts/vm-assets.sh puts it there)");
            if (Qemu is null) missing.Add("no qemu-system-x86_64 (Debian: qemu-system-x86)");
            if (Virtiofsd is null) missing.Add("no virtiofsd (Debian: qemu-system-common)");
            return missing;
        }
    }

    /// <summary>Throws one line naming everything missing.</summary>
    public GuestAssets Require()
    {
        if (Missing is { Count: > 0 } missing)
            throw new HuskException($"VM isolation is not available on this host: {string.Join("; ", missing)}");
        return this;
    }

    public static GuestAssets Find()
    {
        var dir = Environment.GetEnvironmentVariable(DirectoryEnv) is { Length: > 0 } d ? d : DefaultDirectory;
        string? release = ReadLine(Path.Combine(dir, "release"));
        var modules = new List<string>();
        foreach (var name in ReadLines(Path.Combine(dir, "modules", "order")))
        {
            var file = Path.Combine(dir, "modules", name + ".ko");
            if (!File.Exists(file)) { modules.Clear(); break; }
            modules.Add(file);
        }
        var kernel = Path.Combine(dir, "vmlinuz");
        return new GuestAssets
        {
            Directory = dir,
            Kernel = File.Exists(kernel) ? kernel : null,
            Release = release,
            Modules = modules,
            Qemu = FirstExisting("/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"),
            Virtiofsd = FirstExisting("/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "/usr/local/libexec/virtiofsd"),
            Kvm = KvmUsable(),
        };
    }

    /// <summary>Whether /dev/kvm exists and this process may open it (a node without access is TCG too).</summary>
    static bool KvmUsable()
    {
        int fd = Linux.Native.open("/dev/kvm", Linux.Native.O_RDWR | Linux.Native.O_CLOEXEC, 0);
        if (fd < 0) return false;
        Linux.Native.close(fd);
        return true;
    }

    static string? FirstExisting(params string[] paths) => paths.FirstOrDefault(File.Exists);

    static string? ReadLine(string path) => ReadLines(path).FirstOrDefault();

    static IEnumerable<string> ReadLines(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }
}
