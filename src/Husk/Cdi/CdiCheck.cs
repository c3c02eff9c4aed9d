namespace Husk.Cdi;

/// <summary>What `husk check` says about CDI: the spec directories, the devices found, problems, and host VFIO devices.</summary>
/// <param name="SpecDirs">The directories searched, lowest priority first, with whether each exists.</param>
/// <param name="Devices">Usable devices: qualified name → the spec file defining it.</param>
/// <param name="Problems">One line each: unreadable or invalid spec files, conflicts.</param>
/// <param name="Vfio">The host's /dev/vfio devices as create would annotate them (path, annotation or why not).</param>
public sealed record CdiCheckReport(
    IReadOnlyList<(string Dir, bool Exists)> SpecDirs,
    IReadOnlyList<(string Name, string SpecFile)> Devices,
    IReadOnlyList<string> Problems,
    IReadOnlyList<string> Vfio)
{
    /// <summary>The `husk check` lines (names "cdi.*").</summary>
    public IEnumerable<CheckResult> Results()
    {
        yield return new("cdi.specdirs", CheckResult.Ok,
            $"CDI spec versions {CdiSpecParser.VersionRange}; directories (later override earlier): " +
            string.Join(", ", SpecDirs.Select(d => d.Exists ? d.Dir : $"{d.Dir} (missing)")));
        if (Devices.Count == 0) yield return new("cdi.devices", CheckResult.Ok, "no CDI devices defined");
        foreach (var (name, file) in Devices) yield return new("cdi.device", CheckResult.Ok, $"{name} ({file})");
        foreach (var p in Problems) yield return new("cdi.spec", CheckResult.Warn, p);
        foreach (var v in Vfio) yield return new("cdi.vfio", CheckResult.Ok, v);
    }

    /// <summary>Plain text lines (one per result).</summary>
    public IEnumerable<string> Lines() => Results().Select(r => $"{r.Name} {r.Status} {r.Detail}");
}

/// <summary>The CDI part of `husk check`.</summary>
public static class CdiCheck
{
    /// <summary>For `husk check`'s list of areas: ("cdi", CdiCheck.Results).</summary>
    public static IEnumerable<CheckResult> Results() => Run().Results();

    /// <param name="specDirs">null: <see cref="CdiConfig.SpecDirs"/>.</param>
    /// <param name="sysfsRoot">null: <see cref="CdiConfig.SysfsRoot"/>.</param>
    /// <param name="devVfio">The host's VFIO device directory; null: /dev/vfio.</param>
    public static CdiCheckReport Run(IReadOnlyList<string>? specDirs = null, string? sysfsRoot = null, string? devVfio = null)
    {
        var registry = CdiRegistry.Load(specDirs ?? CdiConfig.SpecDirs());
        var devices = registry.Devices.Values
            .OrderBy(d => d.QualifiedName, StringComparer.Ordinal)
            .Select(d => (d.QualifiedName, d.Spec.Path)).ToList();
        var problems = registry.Errors.Select(e => e.Message)
            .Concat(registry.Conflicts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => c.Value)).ToList();
        return new CdiCheckReport(registry.SpecDirs.Select(d => (d, Directory.Exists(d))).ToList(), devices, problems,
            HostVfio(sysfsRoot ?? CdiConfig.SysfsRoot(), devVfio ?? "/dev/vfio"));
    }

    /// <summary>The host's VFIO groups and iommufd devices, and what create would annotate them as if all were passed in.</summary>
    static List<string> HostVfio(string sysfsRoot, string devVfio)
    {
        var paths = new List<string>();
        try
        {
            if (Directory.Exists(devVfio))
            {
                paths.AddRange(Directory.GetFileSystemEntries(devVfio).Select(p => "/dev/vfio/" + Path.GetFileName(p)).Where(p => p != "/dev/vfio/vfio" && p != "/dev/vfio/devices"));
                var iommufd = Path.Combine(devVfio, "devices");
                if (Directory.Exists(iommufd)) paths.AddRange(Directory.GetFileSystemEntries(iommufd).Select(p => "/dev/vfio/devices/" + Path.GetFileName(p)));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [$"{devVfio}: {e.Message}"];
        }
        if (paths.Count == 0) return [$"no VFIO devices in {devVfio} (sysfs root {sysfsRoot})"];
        var plan = Cdi.Vfio.Plan(paths, sysfsRoot).ToDictionary(a => a.DevicePath);
        return paths.Order(StringComparer.Ordinal)
            .Select(p => plan.TryGetValue(p, out var a) ? $"{p}: {a.Key}={a.Value}" : $"{p}: no known device kind, not annotated")
            .ToList();
    }
}
