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
/// The device rules a container gets, as runc builds them: deny everything, then the spec's
/// linux.resources.devices in order, then every linux.devices node (rwm), then the devices every
/// container may use (/dev/null, zero, full, random, urandom, tty, ptmx, pts/*, tun, and mknod of
/// any node). Later rules win. Pure.
/// </summary>
public static class DeviceRules
{
    public static readonly IReadOnlyList<DeviceRule> DefaultAllowed =
    [
        new('c', -1, -1, "m", true),
        new('b', -1, -1, "m", true),
        new('c', 1, 3, "rwm", true),   // /dev/null
        new('c', 1, 8, "rwm", true),   // /dev/random
        new('c', 1, 7, "rwm", true),   // /dev/full
        new('c', 5, 0, "rwm", true),   // /dev/tty
        new('c', 1, 5, "rwm", true),   // /dev/zero
        new('c', 1, 9, "rwm", true),   // /dev/urandom
        new('c', 136, -1, "rwm", true), // /dev/pts/*
        new('c', 5, 2, "rwm", true),   // /dev/ptmx
        new('c', 10, 200, "rwm", true), // /dev/net/tun
    ];

    /// <summary>A spec rule as a <see cref="DeviceRule"/> (absent type = "a", absent major/minor = "*", absent access = "rwm").</summary>
    public static DeviceRule From(LinuxDeviceCgroup d)
    {
        char type = string.IsNullOrEmpty(d.Type) ? 'a' : d.Type[0];
        string access = string.IsNullOrEmpty(d.Access) ? "rwm" : d.Access;
        return new DeviceRule(type, d.Major ?? -1, d.Minor ?? -1, access, d.Allow);
    }

    public static List<DeviceRule> Effective(LinuxResources? resources, IReadOnlyList<LinuxDevice>? devices)
    {
        var rules = new List<DeviceRule> { new('a', -1, -1, "rwm", false) };
        if (resources != null) rules.AddRange(resources.Devices.Select(From));
        foreach (var d in devices ?? [])
        {
            char t = d.Type switch { "b" => 'b', "c" or "u" => 'c', _ => '\0' };
            if (t != '\0') rules.Add(new DeviceRule(t, d.Major, d.Minor, "rwm", true));
        }
        rules.AddRange(DefaultAllowed);
        return rules;
    }
}
