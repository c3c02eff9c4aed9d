using System.Globalization;
using OciSpec = Husk.Spec.Spec;

namespace Husk.Cdi;

/// <summary>A PCI function behind a VFIO device, as sysfs describes it.</summary>
/// <param name="Address">The PCI address "dddd:bb:dd.f".</param>
/// <param name="Vendor">"0x10de".</param>
/// <param name="Class">"0x030200".</param>
public sealed record PciFunction(string Address, string Vendor, string Class);

/// <summary>One annotation to add: <c>Key</c> = <c>Value</c> for the VFIO device at <c>DevicePath</c>.</summary>
public sealed record VfioAnnotation(string DevicePath, string Key, string Value);

/// <summary>
/// VFIO device classification, as Kata Containers does for GPUs passed through with VFIO: for
/// every linux.devices entry under /dev/vfio/ (a legacy group /dev/vfio/&lt;group&gt;, or an
/// iommufd device /dev/vfio/devices/vfio&lt;N&gt;; the container /dev/vfio/vfio is skipped) the
/// PCI functions behind it are read from sysfs (/sys/kernel/iommu_groups/&lt;group&gt;/devices/*,
/// or /sys/class/vfio-dev/vfio&lt;N&gt;/device), classified by vendor and class (0x10de with a
/// 0x030xxx display class → "nvidia.com/gpu"), the devices of each kind numbered in PCI bus
/// order, and each annotated <c>cdi.k8s.io/vfio&lt;N&gt;</c> = <c>&lt;kind&gt;=&lt;index&gt;</c> (N the group
/// or vfio device number). Unknown kinds and unreadable sysfs entries are skipped with a debug
/// log line: classification never fails a create. The annotations map is created when absent.
/// </summary>
public static class Vfio
{
    public const string AnnotationPrefix = "cdi.k8s.io/vfio";
    const string DevVfio = "/dev/vfio/";

    /// <summary>Known kinds: (vendor id, class prefix, kind).</summary>
    public static readonly IReadOnlyList<(string Vendor, string ClassPrefix, string Kind)> Kinds =
    [
        ("0x10de", "0x030", "nvidia.com/gpu"), // NVIDIA display controllers: VGA 0x0300xx, 3D 0x0302xx
    ];

    /// <summary>The kind of a PCI function, or null when Husk does not know it.</summary>
    public static string? Classify(string vendor, string cls)
    {
        vendor = vendor.Trim().ToLowerInvariant();
        cls = cls.Trim().ToLowerInvariant();
        foreach (var (v, prefix, kind) in Kinds)
            if (vendor == v && cls.StartsWith(prefix, StringComparison.Ordinal)) return kind;
        return null;
    }

    /// <summary>Adds the VFIO annotations for <paramref name="spec"/>'s devices; returns what it added.</summary>
    public static IReadOnlyList<VfioAnnotation> Annotate(OciSpec spec, string sysfsRoot)
    {
        var devices = spec.Linux?.Devices;
        if (devices is null || devices.Count == 0) return [];
        var plan = Plan(devices.Select(d => d.Path), sysfsRoot);
        if (plan.Count == 0) return plan;
        // The model's setter already turns null into an empty map; this is the line Kata lacked.
        spec.Annotations ??= [];
        foreach (var a in plan)
        {
            spec.Annotations[a.Key] = a.Value;
            Log.Debug($"vfio: annotated {a.Key}={a.Value} for {a.DevicePath}");
        }
        return plan;
    }

    /// <summary>The annotations for the given container device paths (pure: reads only sysfs under <paramref name="sysfsRoot"/>).</summary>
    public static IReadOnlyList<VfioAnnotation> Plan(IEnumerable<string> devicePaths, string sysfsRoot)
    {
        var found = new List<(string Path, string Number, string Kind, string Address)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in devicePaths)
        {
            if (string.IsNullOrEmpty(raw)) continue;
            var path = Rootfs.ContainerPath.Clean(raw);
            if (!path.StartsWith(DevVfio, StringComparison.Ordinal) || !seen.Add(path)) continue;
            var rest = path[DevVfio.Length..];
            if (rest == "vfio") continue; // the legacy container device, no PCI function behind it

            string number;
            IReadOnlyList<PciFunction> functions;
            if (IsNumber(rest))
            {
                number = rest;
                functions = GroupFunctions(sysfsRoot, rest);
            }
            else if (rest.StartsWith("devices/vfio", StringComparison.Ordinal) && IsNumber(rest["devices/vfio".Length..]))
            {
                number = rest["devices/vfio".Length..];
                functions = IommufdFunctions(sysfsRoot, number);
            }
            else
            {
                Log.Debug($"vfio: {path}: not a VFIO group or iommufd device, skipped");
                continue;
            }
            if (functions.Count == 0)
            {
                Log.Debug($"vfio: {path}: no PCI functions found under {sysfsRoot}, skipped");
                continue;
            }
            var classified = functions
                .Select(f => (f, Kind: Classify(f.Vendor, f.Class)))
                .Where(x => x.Kind != null)
                .OrderBy(x => x.f.Address, PciAddressComparer.Instance)
                .FirstOrDefault();
            if (classified.Kind is null)
            {
                Log.Debug($"vfio: {path}: unknown device kind ({string.Join(", ", functions.Select(f => $"{f.Address} vendor {f.Vendor} class {f.Class}"))}), skipped");
                continue;
            }
            found.Add((path, number, classified.Kind, classified.f.Address));
        }

        var result = new List<VfioAnnotation>();
        foreach (var kind in found.GroupBy(f => f.Kind))
        {
            int index = 0;
            foreach (var d in kind.OrderBy(f => f.Address, PciAddressComparer.Instance).ThenBy(f => f.Path, StringComparer.Ordinal))
                result.Add(new VfioAnnotation(d.Path, AnnotationPrefix + d.Number, $"{kind.Key}={index++}"));
        }
        return result;
    }

    /// <summary>The PCI functions of IOMMU group <paramref name="group"/>: /sys/kernel/iommu_groups/GROUP/devices/*.</summary>
    public static IReadOnlyList<PciFunction> GroupFunctions(string sysfsRoot, string group)
    {
        var dir = Path.Combine(sysfsRoot, "kernel/iommu_groups", group, "devices");
        var result = new List<PciFunction>();
        try
        {
            if (!Directory.Exists(dir)) return result;
            foreach (var entry in Directory.GetFileSystemEntries(dir))
                if (ReadFunction(entry, Path.GetFileName(entry)) is { } f) result.Add(f);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Debug($"vfio: {dir}: {e.Message}");
        }
        return result;
    }

    /// <summary>The PCI function of iommufd device vfio<paramref name="number"/>: /sys/class/vfio-dev/vfioN/device.</summary>
    public static IReadOnlyList<PciFunction> IommufdFunctions(string sysfsRoot, string number)
    {
        var dev = Path.Combine(sysfsRoot, "class/vfio-dev", "vfio" + number, "device");
        try
        {
            if (!Directory.Exists(dev)) return [];
            // "device" links to the PCI function's directory, named by its address.
            string? address = null;
            if (new DirectoryInfo(dev).ResolveLinkTarget(returnFinalTarget: true) is { } target) address = target.Name;
            address ??= SlotFromUevent(dev) ?? "";
            return ReadFunction(dev, address) is { } f ? [f] : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Debug($"vfio: {dev}: {e.Message}");
            return [];
        }
    }

    static PciFunction? ReadFunction(string dir, string address)
    {
        var vendor = ReadId(Path.Combine(dir, "vendor"));
        var cls = ReadId(Path.Combine(dir, "class"));
        if (vendor is null || cls is null)
        {
            Log.Debug($"vfio: {dir}: no vendor or class, skipped");
            return null;
        }
        return new PciFunction(address, vendor, cls);
    }

    static string? ReadId(string file)
    {
        try { return File.Exists(file) ? File.ReadAllText(file).Trim().ToLowerInvariant() : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    static string? SlotFromUevent(string dir)
    {
        try
        {
            var uevent = Path.Combine(dir, "uevent");
            if (!File.Exists(uevent)) return null;
            foreach (var line in File.ReadLines(uevent))
                if (line.StartsWith("PCI_SLOT_NAME=", StringComparison.Ordinal)) return line["PCI_SLOT_NAME=".Length..].Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return null;
    }

    static bool IsNumber(string s) => s.Length is > 0 and < 10 && s.All(char.IsAsciiDigit);

    /// <summary>Orders PCI addresses "dddd:bb:dd.f" numerically (domain, bus, device, function); others after, by text.</summary>
    public sealed class PciAddressComparer : IComparer<string>
    {
        public static readonly PciAddressComparer Instance = new();

        public int Compare(string? x, string? y)
        {
            var a = Parse(x ?? "");
            var b = Parse(y ?? "");
            if (a is { } pa && b is { } pb)
            {
                int c = pa.CompareTo(pb);
                return c != 0 ? c : StringComparer.Ordinal.Compare(x, y);
            }
            if (a is not null) return -1;
            if (b is not null) return 1;
            return StringComparer.Ordinal.Compare(x, y);
        }

        static (long, long, long, long)? Parse(string s)
        {
            var parts = s.Split(':');
            if (parts.Length == 2) parts = ["0", .. parts]; // "bb:dd.f" without a domain
            if (parts.Length != 3) return null;
            var devFn = parts[2].Split('.');
            if (devFn.Length != 2) return null;
            if (!Hex(parts[0], out var dom) || !Hex(parts[1], out var bus) || !Hex(devFn[0], out var dev) || !Hex(devFn[1], out var fn)) return null;
            return (dom, bus, dev, fn);
        }

        static bool Hex(string s, out long v) => long.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v);
    }
}
