using OciSpec = Husk.Spec.Spec;

namespace Husk.Rootfs;

/// <summary>A device node to create in the container's /dev.</summary>
/// <param name="Path">Cleaned container path, under /dev.</param>
/// <param name="Type">'c' (and 'u'), 'b' or 'p'.</param>
/// <param name="Mode">Permission bits (no file type bits).</param>
public sealed record DeviceNode(string Path, char Type, long Major, long Minor, uint Mode, uint Uid, uint Gid)
{
    /// <summary>The S_IF* file type bits for mknod.</summary>
    public uint FileTypeBits => Type switch
    {
        'b' => Linux.Native.S_IFBLK,
        'p' => Linux.Native.S_IFIFO,
        _ => Linux.Native.S_IFCHR,
    };
}

/// <summary>
/// What to do to the container's /dev: pure decisions from the spec, applied by
/// <see cref="RootfsBuilder"/>. When the spec bind-mounts /dev from the host, Husk leaves it
/// alone (as runc); otherwise it creates the default devices, the spec's devices, the standard
/// symlinks and /dev/ptmx.
/// </summary>
/// <param name="Setup">False when /dev is a bind mount from the host: nothing to create.</param>
/// <param name="Devices">Nodes to create, in order (defaults first, replaced by a spec entry of the same path).</param>
/// <param name="Symlinks">(link path, target) pairs to create; an existing link is left alone.</param>
/// <param name="Ptmx">True when /dev/ptmx must become a symlink to pts/ptmx (the spec mounts /dev/pts).</param>
public sealed record DevPlan(bool Setup, IReadOnlyList<DeviceNode> Devices,
    IReadOnlyList<(string Link, string Target)> Symlinks, bool Ptmx)
{
    const uint Mode0666 = 0x1b6;

    /// <summary>The devices every container gets (runc's AllowedDevices with a path).</summary>
    public static readonly IReadOnlyList<DeviceNode> DefaultDevices =
    [
        new("/dev/null", 'c', 1, 3, Mode0666, 0, 0),
        new("/dev/zero", 'c', 1, 5, Mode0666, 0, 0),
        new("/dev/full", 'c', 1, 7, Mode0666, 0, 0),
        new("/dev/random", 'c', 1, 8, Mode0666, 0, 0),
        new("/dev/urandom", 'c', 1, 9, Mode0666, 0, 0),
        new("/dev/tty", 'c', 5, 0, Mode0666, 0, 0),
    ];

    /// <summary>True when the spec mounts a bind of the host's (or any) /dev: then /dev is not ours to populate.</summary>
    public static bool DevIsBindMounted(OciSpec spec) =>
        spec.Mounts.Any(m => ContainerPath.Clean(m.Destination) == "/dev" && MountEntry.From(m).IsBind);

    /// <summary>The standard /dev symlinks; /dev/core only where the host has /proc/kcore.</summary>
    public static IReadOnlyList<(string Link, string Target)> StandardSymlinks(bool hostHasKcore)
    {
        var links = new List<(string, string)>
        {
            ("/dev/fd", "/proc/self/fd"),
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
        };
        if (hostHasKcore) links.Add(("/dev/core", "/proc/kcore"));
        return links;
    }

    /// <summary>Validates one linux.devices entry and turns it into a node; throws a one-line <see cref="HuskException"/>.</summary>
    public static DeviceNode ToNode(Spec.LinuxDevice d)
    {
        if (string.IsNullOrEmpty(d.Path)) throw new HuskException("linux.devices: a device has no path");
        var path = ContainerPath.Clean(d.Path);
        // Lexically under /dev (".." cannot climb out: Clean resolves it first), and not /dev itself.
        if (!d.Path.StartsWith('/') || !ContainerPath.IsWithin(path, "/dev") || path == "/dev")
            throw new HuskException($"linux.devices: device path {d.Path} is not under /dev");
        if (d.Type is not ("c" or "b" or "u" or "p"))
            throw new HuskException($"linux.devices: device {d.Path} has invalid type \"{d.Type}\" (want c, b, u or p)");
        if (d.Type != "p" && (d.Major < 0 || d.Minor < 0 || d.Major > 0xfffff || d.Minor > 0xfffff))
            throw new HuskException($"linux.devices: device {d.Path} has invalid number {d.Major}:{d.Minor}");
        uint mode = (d.FileMode ?? Mode0666) & 0xfff; // permission bits only; the type comes from Type
        // A fifo has no device number: major and minor are not required, and ignored when given (runtime spec).
        bool fifo = d.Type == "p";
        return new DeviceNode(path, d.Type[0], fifo ? 0 : d.Major, fifo ? 0 : d.Minor, mode, d.UID ?? 0, d.GID ?? 0);
    }

    /// <summary>Decides the /dev plan for <paramref name="spec"/>. Throws on an invalid device entry.</summary>
    public static DevPlan For(OciSpec spec, bool hostHasKcore)
    {
        var specDevices = (spec.Linux?.Devices ?? []).Select(ToNode).ToList();
        if (DevIsBindMounted(spec))
            return new DevPlan(false, [], [], false);

        var byPath = new Dictionary<string, DeviceNode>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var n in DefaultDevices.Concat(specDevices))
        {
            if (!byPath.ContainsKey(n.Path)) order.Add(n.Path);
            byPath[n.Path] = n; // a spec entry replaces the default of the same path
        }
        bool ptmx = spec.Mounts.Any(m => ContainerPath.Clean(m.Destination) == "/dev/pts");
        return new DevPlan(true, order.Select(p => byPath[p]).ToList(), StandardSymlinks(hostHasKcore), ptmx);
    }
}
