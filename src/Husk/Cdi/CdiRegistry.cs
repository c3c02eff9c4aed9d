namespace Husk.Cdi;

/// <summary>A device found in a spec file, with where it came from.</summary>
public sealed record CdiResolvedDevice(string QualifiedName, CdiDevice Device, CdiSpecFile Spec);

/// <summary>A loaded spec file: its path, the priority of its directory (its index) and its content.</summary>
public sealed record CdiSpecFile(string Path, int Priority, CdiSpec Spec);

/// <summary>A spec file that could not be used, and why (one line).</summary>
public sealed record CdiSpecError(string Path, string Message);

/// <summary>
/// The CDI devices visible in a list of spec directories, as CDI's cache sees them: every
/// ".json" and ".yaml" file directly in each directory (subdirectories are skipped, a missing
/// directory is empty), files in name order. A directory's priority is its index: a device
/// defined in a later directory overrides the same device in an earlier one; the same device
/// defined twice in one directory (two files of equal priority) is a conflict and the device
/// cannot be used. A file that fails to load is recorded and skipped, as CDI does.
/// </summary>
public sealed class CdiRegistry
{
    readonly Dictionary<string, CdiResolvedDevice> _devices = new(StringComparer.Ordinal);
    readonly Dictionary<string, string> _conflicts = new(StringComparer.Ordinal);
    readonly List<CdiSpecFile> _specs = [];
    readonly List<CdiSpecError> _errors = [];

    public IReadOnlyList<string> SpecDirs { get; }
    public IReadOnlyList<CdiSpecFile> Specs => _specs;
    public IReadOnlyList<CdiSpecError> Errors => _errors;
    /// <summary>Qualified name → one-line description of the conflict (same device twice in one directory).</summary>
    public IReadOnlyDictionary<string, string> Conflicts => _conflicts;
    /// <summary>Usable devices by qualified name.</summary>
    public IReadOnlyDictionary<string, CdiResolvedDevice> Devices => _devices;

    CdiRegistry(IReadOnlyList<string> dirs) => SpecDirs = dirs;

    /// <summary>Scans <paramref name="dirs"/> (lowest priority first).</summary>
    public static CdiRegistry Load(IReadOnlyList<string> dirs)
    {
        var reg = new CdiRegistry(dirs.Select(d => Path.TrimEndingDirectorySeparator(Path.GetFullPath(d))).ToList());
        for (int priority = 0; priority < reg.SpecDirs.Count; priority++)
        {
            foreach (var path in SpecFiles(reg.SpecDirs[priority], reg._errors))
            {
                CdiSpec spec;
                try { spec = CdiSpecParser.Load(path); }
                catch (HuskException e)
                {
                    reg._errors.Add(new CdiSpecError(path, e.Message));
                    Log.Debug($"cdi: skipping {e.Message}");
                    continue;
                }
                reg.Add(new CdiSpecFile(path, priority, spec));
            }
        }
        foreach (var name in reg._conflicts.Keys) reg._devices.Remove(name);
        return reg;
    }

    /// <summary>Builds a registry from already-parsed specs (tests, tools); priority as given.</summary>
    public static CdiRegistry FromSpecs(IEnumerable<CdiSpecFile> specs, IReadOnlyList<string>? dirs = null)
    {
        var reg = new CdiRegistry(dirs ?? []);
        foreach (var s in specs) reg.Add(s);
        foreach (var name in reg._conflicts.Keys) reg._devices.Remove(name);
        return reg;
    }

    void Add(CdiSpecFile file)
    {
        _specs.Add(file);
        foreach (var d in file.Spec.Devices)
        {
            var qualified = $"{file.Spec.Kind}={d.Name}";
            var dev = new CdiResolvedDevice(qualified, d, file);
            if (_devices.TryGetValue(qualified, out var old))
            {
                if (old.Spec.Priority > file.Priority) continue;
                if (old.Spec.Priority == file.Priority)
                {
                    // Keep the first description of a conflict; later duplicates add their file.
                    _conflicts[qualified] = _conflicts.TryGetValue(qualified, out var msg)
                        ? $"{msg}, {file.Path}"
                        : $"CDI device \"{qualified}\" is defined in two spec files of the same directory: {old.Spec.Path}, {file.Path}";
                    continue;
                }
            }
            _devices[qualified] = dev;
            // A higher-priority definition also settles a conflict among lower ones.
            if (_conflicts.TryGetValue(qualified, out _) && old != null && old.Spec.Priority < file.Priority) _conflicts.Remove(qualified);
        }
    }

    static IEnumerable<string> SpecFiles(string dir, List<CdiSpecError> errors)
    {
        string[] files;
        try
        {
            if (!Directory.Exists(dir)) return [];
            files = Directory.GetFiles(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add(new CdiSpecError(dir, $"{dir}: cannot list: {ErrorText.OneLine(e.Message)}"));
            return [];
        }
        Array.Sort(files, StringComparer.Ordinal);
        return files.Where(f => f.EndsWith(".json", StringComparison.Ordinal) || f.EndsWith(".yaml", StringComparison.Ordinal));
    }

    /// <summary>
    /// The device named <paramref name="qualifiedName"/>; throws a one-line <see cref="HuskException"/>
    /// naming the device, the directories searched and any spec files of that kind (or unreadable
    /// ones) that might have defined it.
    /// </summary>
    public CdiResolvedDevice Resolve(string qualifiedName)
    {
        if (_devices.TryGetValue(qualifiedName, out var dev)) return dev;
        if (_conflicts.TryGetValue(qualifiedName, out var conflict)) throw new HuskException(conflict);
        throw new HuskException(DescribeUnknown(qualifiedName));
    }

    internal string DescribeUnknown(string qualifiedName)
    {
        var dirs = SpecDirs.Count == 0 ? "no directories" : string.Join(", ", SpecDirs);
        var msg = $"unknown CDI device \"{qualifiedName}\" (searched {dirs})";
        int eq = qualifiedName.IndexOf('=');
        var kind = eq > 0 ? qualifiedName[..eq] : qualifiedName;
        var sameKind = _specs.Where(s => s.Spec.Kind == kind).ToList();
        if (sameKind.Count > 0)
        {
            var names = sameKind.SelectMany(s => s.Spec.Devices.Select(d => d.Name)).Distinct().Order(StringComparer.Ordinal).ToList();
            msg += $"; kind {kind} has devices {string.Join(", ", names)}";
        }
        else msg += $"; no spec file defines kind {kind}";
        if (_errors.Count > 0) msg += $"; unusable spec files: {string.Join("; ", _errors.Select(e => e.Message))}";
        return msg;
    }
}
