using OciSpec = Husk.Spec.Spec;

namespace Husk.Cdi;

/// <summary>
/// The one call <c>create</c> makes, right after loading config.json and before validating it:
/// resolves the CDI devices requested by <c>cdi.k8s.io/*</c> annotations and applies their edits
/// (and their specs' edits, once per spec), then adds the VFIO annotations. Spec directories are
/// read only when some device is requested, sysfs only when linux.devices has a /dev/vfio/
/// entry. Failures are one-line <see cref="HuskException"/>s and change nothing on the host.
/// </summary>
public static class DeviceInjector
{
    /// <summary>The key prefix of CDI device requests.</summary>
    public const string AnnotationPrefix = "cdi.k8s.io/";

    /// <param name="specDirs">Spec directories; null: <see cref="CdiConfig.SpecDirs"/>.</param>
    /// <param name="sysfsRoot">Sysfs root; null: <see cref="CdiConfig.SysfsRoot"/>.</param>
    /// <param name="host">Host device lookups; null: the real host.</param>
    public static void Apply(OciSpec spec, IReadOnlyList<string>? specDirs = null, string? sysfsRoot = null, IHostDevices? host = null)
    {
        var requested = RequestedDevices(spec.Annotations);
        if (requested.Count > 0)
        {
            var registry = CdiRegistry.Load(specDirs ?? CdiConfig.SpecDirs());
            Inject(spec, registry, requested, host);
        }
        if (spec.Linux?.Devices is { Count: > 0 } devices && devices.Any(d => d.Path.StartsWith("/dev/vfio/", StringComparison.Ordinal)))
            Vfio.Annotate(spec, sysfsRoot ?? CdiConfig.SysfsRoot());
    }

    /// <summary>
    /// The fully-qualified device names requested by <c>cdi.k8s.io/*</c> annotations (keys in
    /// ordinal order, values comma-separated, duplicates once). Throws on a name that is not
    /// vendor.com/class=name.
    /// </summary>
    public static IReadOnlyList<string> RequestedDevices(IReadOnlyDictionary<string, string>? annotations)
    {
        var result = new List<string>();
        if (annotations is null) return result;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in annotations.Keys.Where(k => k.StartsWith(AnnotationPrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            foreach (var part in (annotations[key] ?? "").Split(','))
            {
                var name = part.Trim();
                if (name.Length == 0) continue;
                if (QualifiedName.TryParse(name, out var error) is null)
                    throw new HuskException($"/annotations/{ErrorText.EscapePointer(key)}: {error}");
                if (seen.Add(name)) result.Add(name);
            }
        }
        return result;
    }

    /// <summary>Applies the edits of <paramref name="devices"/> from <paramref name="registry"/>; all-or-nothing on unknown devices.</summary>
    public static void Inject(OciSpec spec, CdiRegistry registry, IReadOnlyList<string> devices, IHostDevices? host = null)
    {
        var resolved = new List<CdiResolvedDevice>();
        var unknown = new List<string>();
        foreach (var name in devices)
        {
            if (registry.Devices.TryGetValue(name, out var dev)) resolved.Add(dev);
            else unknown.Add(name);
        }
        if (unknown.Count == 1) registry.Resolve(unknown[0]); // throws the detailed message
        if (unknown.Count > 1)
        {
            var conflicts = unknown.Where(registry.Conflicts.ContainsKey).Select(n => registry.Conflicts[n]);
            var missing = unknown.Where(n => !registry.Conflicts.ContainsKey(n)).ToList();
            var parts = conflicts.ToList();
            if (missing.Count > 0)
                parts.Insert(0, $"unknown CDI devices {string.Join(", ", missing.Select(n => $"\"{n}\""))} (searched {(registry.SpecDirs.Count == 0 ? "no directories" : string.Join(", ", registry.SpecDirs))})");
            throw new HuskException(string.Join("; ", parts));
        }

        var edits = new ContainerEdits();
        var specsSeen = new HashSet<CdiSpecFile>(ReferenceEqualityComparer.Instance);
        foreach (var dev in resolved)
        {
            if (specsSeen.Add(dev.Spec)) edits.Append(dev.Spec.Spec.ContainerEdits);
            edits.Append(dev.Device.ContainerEdits);
            Log.Debug($"cdi: injecting {dev.QualifiedName} from {dev.Spec.Path}");
        }
        try
        {
            ContainerEditor.Apply(spec, edits, host);
        }
        catch (HuskException e)
        {
            throw new HuskException($"injecting CDI devices {string.Join(", ", devices)}: {e.Message}", e);
        }
    }
}
