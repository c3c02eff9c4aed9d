using Husk.Linux;
using Husk.Spec;

namespace Husk.Seccomp;

/// <summary>
/// What the host's libseccomp (and, through its API level, the kernel) supports: for
/// `husk features`, `husk check`, and to refuse a flag the library lacks with a clear error.
/// API levels (seccomp_api_get): 2 TSYNC; 3 LOG flag, SCMP_ACT_LOG, SCMP_ACT_KILL_PROCESS;
/// 4 SPEC_ALLOW (SSB); 5 SCMP_ACT_NOTIFY; 6 TSYNC together with notify. WAIT_KILLABLE_RECV
/// needs libseccomp 2.6.
/// </summary>
public static unsafe class SeccompSupport
{
    static readonly Lazy<(bool Available, string Version, uint Api, string? Error)> s_probe = new(Probe);

    /// <summary>libseccomp can be used (always in bin/husk, which links it; under the .NET runtime, when libseccomp.so.2 loads).</summary>
    public static bool Available => s_probe.Value.Available;

    /// <summary>"2.5.4", or "" when the library is missing.</summary>
    public static string Version => s_probe.Value.Version;

    /// <summary>seccomp_api_get(): what the library and the kernel support together.</summary>
    public static uint ApiLevel => s_probe.Value.Api;

    /// <summary>Why the library is unusable (null when it is).</summary>
    public static string? Error => s_probe.Value.Error;

    static (bool, string, uint, string?) Probe()
    {
        try
        {
            var v = Native.seccomp_version();
            string version = v == null ? "" : $"{v->Major}.{v->Minor}.{v->Micro}";
            return (true, version, Native.seccomp_api_get(), null);
        }
        catch (DllNotFoundException) { return (false, "", 0, $"{Native.LibSeccomp} is not installed (Debian: libseccomp2)"); }
        catch (EntryPointNotFoundException e) { return (false, "", 0, $"{Native.LibSeccomp} is too old: {e.Message}"); }
    }

    static bool VersionAtLeast(int major, int minor)
    {
        var parts = Version.Split('.');
        if (parts.Length < 2 || !int.TryParse(parts[0], out int ma) || !int.TryParse(parts[1], out int mi)) return false;
        return ma > major || (ma == major && mi >= minor);
    }

    /// <summary>Whether an SCMP_ACT_* name can be used with this library and kernel.</summary>
    public static bool ActionSupported(string action) => Available && action switch
    {
        "SCMP_ACT_LOG" or "SCMP_ACT_KILL_PROCESS" => ApiLevel >= 3,
        "SCMP_ACT_NOTIFY" => ApiLevel >= 5,
        _ => SpecValidator.SeccompActions.Contains(action),
    };

    /// <summary>Whether a SECCOMP_FILTER_FLAG_* name can be set through this library.</summary>
    public static bool FlagSupported(string flag) => Available && flag switch
    {
        "SECCOMP_FILTER_FLAG_TSYNC" => ApiLevel >= 2,
        "SECCOMP_FILTER_FLAG_LOG" => ApiLevel >= 3,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => ApiLevel >= 4,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => VersionAtLeast(2, 6) && ApiLevel >= 7,
        _ => false,
    };

    /// <summary>The features.linux.seccomp section: what this host can actually load.</summary>
    public static FeaturesSeccomp Features() => new()
    {
        Enabled = Available,
        Actions = Available ? [.. SpecValidator.SeccompActions.Where(ActionSupported)] : [],
        Operators = Available ? [.. SpecValidator.SeccompOperators] : [],
        Archs = Available ? [.. SpecValidator.SeccompArchitectures] : [],
        KnownFlags = [.. SpecValidator.SeccompFlags],
        SupportedFlags = [.. SpecValidator.SeccompFlags.Where(FlagSupported)],
    };

    /// <summary>One line for `husk check`.</summary>
    public static string Describe() => Available
        ? $"libseccomp {Version}, API level {ApiLevel}; actions: {string.Join(" ", SpecValidator.SeccompActions.Where(ActionSupported))}; flags: {string.Join(" ", SpecValidator.SeccompFlags.Where(FlagSupported))}"
        : $"unavailable: {Error}";
}
