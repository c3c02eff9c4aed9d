using Husk.Spec;

namespace Husk.Cgroups;

/// <summary>One device cgroup rule. <see cref="Major"/>/<see cref="Minor"/> -1 mean "*"; <see cref="Type"/> 'a' means any.</summary>
public sealed record DeviceRule(char Type, long Major, long Minor, string Access, bool Allow)
{
    /// <summary>The line written to devices.allow / devices.deny: "c 1:3 rwm", "a *:* rwm".</summary>
    public string CgroupString => $"{Type} {(Major < 0 ? "*" : Major.ToString())}:{(Minor < 0 ? "*" : Minor.ToString())} {Access}";

    public bool MatchesEverything => Type == 'a' && Major < 0 && Minor < 0 && Access.Contains('r') && Access.Contains('w') && Access.Contains('m');

    public override string ToString() => (Allow ? "allow " : "deny ") + CgroupString;
}

/// <summary>
/// The device rules a container gets, as runc 1.1.5 builds them (specconv.CreateCgroupConfig):
/// deny everything, then the spec's linux.resources.devices in order, then the devices every
/// container may use (mknod of any node, /dev/null, random, full, tty, zero, urandom, pts/*,
/// ptmx, tun). Later rules win. A linux.devices node is no allow rule: only linux.resources.devices
/// grants access to it; and a default device it names by path is left out (the spec's node takes
/// its place, runc's createDevices). Pure.
/// </summary>
public static class DeviceRules
{
    /// <summary>runc's AllowedDevices, in its order, with the node path each belongs to (null: none).</summary>
    static readonly (string? Path, DeviceRule Rule)[] DefaultAllowed =
    [
        (null, new('c', -1, -1, "m", true)),
        (null, new('b', -1, -1, "m", true)),
        ("/dev/null", new('c', 1, 3, "rwm", true)),
        ("/dev/random", new('c', 1, 8, "rwm", true)),
        ("/dev/full", new('c', 1, 7, "rwm", true)),
        ("/dev/tty", new('c', 5, 0, "rwm", true)),
        ("/dev/zero", new('c', 1, 5, "rwm", true)),
        ("/dev/urandom", new('c', 1, 9, "rwm", true)),
        (null, new('c', 136, -1, "rwm", true)), // /dev/pts/*
        (null, new('c', 5, 2, "rwm", true)),    // /dev/ptmx
        (null, new('c', 10, 200, "rwm", true)), // /dev/net/tun
    ];

    /// <summary>
    /// A spec rule as a <see cref="DeviceRule"/> (absent type = "a", absent major/minor = "*", absent
    /// access = "rwm"); null when its access names none of r, w and m. As runc's device emulator, the
    /// access is the set of r, w and m it contains, in that order, and other letters are ignored
    /// ("rwa" is "rw", "mr" is "rm").
    /// </summary>
    public static DeviceRule? From(LinuxDeviceCgroup d)
    {
        char type = string.IsNullOrEmpty(d.Type) ? 'a' : d.Type[0];
        string access = "rwm";
        if (!string.IsNullOrEmpty(d.Access))
        {
            access = string.Concat("rwm".Where(d.Access.Contains));
            if (access.Length == 0) return null;
        }
        return new DeviceRule(type, d.Major ?? -1, d.Minor ?? -1, access, d.Allow);
    }

    public static List<DeviceRule> Effective(LinuxResources? resources, IReadOnlyList<LinuxDevice>? devices)
    {
        var rules = new List<DeviceRule> { new('a', -1, -1, "rwm", false) };
        foreach (var d in resources?.Devices ?? [])
            if (From(d) is { } rule) rules.Add(rule);
        foreach (var (path, rule) in DefaultAllowed)
            if (path == null || devices == null || !devices.Any(d => d.Path == path)) rules.Add(rule);
        return rules;
    }
}
