namespace Husk.Cdi;

/// <summary>
/// Where CDI spec files and sysfs are. Spec directories, lowest priority first: the global flag
/// <c>--cdi-spec-dirs</c> (set through <see cref="Configure"/>, as <see cref="Log.Configure"/>),
/// else the environment variable HUSK_CDI_SPEC_DIRS, else /etc/cdi then /var/run/cdi; both are
/// colon-separated lists. The sysfs root is HUSK_SYSFS_ROOT or /sys.
/// </summary>
public static class CdiConfig
{
    public const string SpecDirsEnv = "HUSK_CDI_SPEC_DIRS";
    public const string SysfsRootEnv = "HUSK_SYSFS_ROOT";
    public static readonly IReadOnlyList<string> DefaultSpecDirs = ["/etc/cdi", "/var/run/cdi"];

    static string? _flag;

    /// <summary>Records the value of <c>--cdi-spec-dirs</c> (null when not given).</summary>
    public static void Configure(string? specDirsFlag) => _flag = specDirsFlag;

    /// <summary>The spec directories in effect, lowest priority first.</summary>
    public static IReadOnlyList<string> SpecDirs() =>
        Split(_flag) ?? Split(Environment.GetEnvironmentVariable(SpecDirsEnv)) ?? DefaultSpecDirs;

    /// <summary>The sysfs root in effect.</summary>
    public static string SysfsRoot() =>
        Environment.GetEnvironmentVariable(SysfsRootEnv) is { Length: > 0 } root ? root : "/sys";

    /// <summary>A colon-separated list (empty entries dropped); null when <paramref name="value"/> is null or empty.</summary>
    public static IReadOnlyList<string>? Split(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        var dirs = value.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var d in dirs)
            if (!d.StartsWith('/')) throw new HuskException($"CDI spec directory \"{d}\" is not an absolute path (in \"{value}\")");
        return dirs.Length == 0 ? null : dirs;
    }
}
