namespace Husk.Cdi;

/// <summary>What `husk check` says about CDI: the spec directories, the devices found, and problems.</summary>
/// <param name="SpecDirs">The directories searched, lowest priority first, with whether each exists.</param>
/// <param name="Devices">Usable devices: qualified name → the spec file defining it.</param>
/// <param name="Problems">One line each: unreadable or invalid spec files, conflicts.</param>
public sealed record CdiCheckReport(
    IReadOnlyList<(string Dir, bool Exists)> SpecDirs,
    IReadOnlyList<(string Name, string SpecFile)> Devices,
    IReadOnlyList<string> Problems)
{
    /// <summary>Human-readable lines, e.g. for a "cdi" section of `husk check`.</summary>
    public IEnumerable<string> Lines()
    {
        yield return $"CDI spec versions {CdiSpecParser.VersionRange}; spec directories (later override earlier): " +
                     string.Join(", ", SpecDirs.Select(d => d.Exists ? d.Dir : $"{d.Dir} (missing)"));
        if (Devices.Count == 0) yield return "no CDI devices";
        foreach (var (name, file) in Devices) yield return $"CDI device {name} ({file})";
        foreach (var p in Problems) yield return $"problem: {p}";
    }
}

/// <summary>The CDI part of `husk check`.</summary>
public static class CdiCheck
{
    /// <param name="specDirs">null: <see cref="CdiConfig.SpecDirs"/>.</param>
    public static CdiCheckReport Run(IReadOnlyList<string>? specDirs = null)
    {
        var registry = CdiRegistry.Load(specDirs ?? CdiConfig.SpecDirs());
        var devices = registry.Devices.Values
            .OrderBy(d => d.QualifiedName, StringComparer.Ordinal)
            .Select(d => (d.QualifiedName, d.Spec.Path)).ToList();
        var problems = registry.Errors.Select(e => e.Message)
            .Concat(registry.Conflicts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => c.Value)).ToList();
        return new CdiCheckReport(registry.SpecDirs.Select(d => (d, Directory.Exists(d))).ToList(), devices, problems);
    }
}
