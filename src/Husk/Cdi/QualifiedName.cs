namespace Husk.Cdi;

/// <summary>
/// CDI names: a kind "vendor/class" and a fully-qualified device name "vendor/class=name".
/// Vendor and class start with a letter, end with a letter or digit, and hold letters, digits,
/// '_', '-' and '.' between; a device name starts and ends with a letter or digit and may also
/// hold ':' (CDI pkg/parser). The spec's length limits apply too: at most 253 characters for
/// the vendor (a DNS-subdomain-like prefix) and 63 for the class.
/// </summary>
public static class QualifiedName
{
    public const int MaxVendorLength = 253;
    public const int MaxClassLength = 63;

    /// <summary>Splits "vendor/class" at the first '/'; ("", kind) when that is impossible.</summary>
    public static (string Vendor, string Class) SplitKind(string kind)
    {
        int slash = kind.IndexOf('/');
        if (slash <= 0 || slash == kind.Length - 1) return ("", kind);
        return (kind[..slash], kind[(slash + 1)..]);
    }

    /// <summary>Parses "vendor/class=name"; null and a reason when it is not a valid qualified name.</summary>
    public static (string Vendor, string Class, string Name)? TryParse(string device, out string? error)
    {
        error = null;
        int eq = device.IndexOf('=');
        if (device.Length == 0 || device[0] == '/' || eq <= 0 || eq == device.Length - 1)
        {
            error = $"unqualified device \"{device}\": want vendor.com/class=name";
            return null;
        }
        var (vendor, cls) = SplitKind(device[..eq]);
        if (vendor.Length == 0)
        {
            error = $"unqualified device \"{device}\": missing vendor (want vendor.com/class=name)";
            return null;
        }
        var name = device[(eq + 1)..];
        error = ValidateVendor(vendor) ?? ValidateClass(cls) ?? ValidateDeviceName(name);
        if (error != null)
        {
            error = $"invalid device \"{device}\": {error}";
            return null;
        }
        return (vendor, cls, name);
    }

    /// <summary>Null when <paramref name="kind"/> is a valid "vendor/class", else why not.</summary>
    public static string? ValidateKind(string kind)
    {
        if (kind.Length == 0) return "kind is empty (want vendor.com/class)";
        var (vendor, cls) = SplitKind(kind);
        if (vendor.Length == 0) return $"kind \"{kind}\" is not vendor.com/class";
        return ValidateVendor(vendor) ?? ValidateClass(cls);
    }

    public static string? ValidateVendor(string vendor) =>
        vendor.Length > MaxVendorLength ? $"vendor \"{vendor}\" is longer than {MaxVendorLength} characters"
        : ValidateVendorOrClass(vendor, "vendor");

    public static string? ValidateClass(string cls) =>
        cls.Length > MaxClassLength ? $"class \"{cls}\" is longer than {MaxClassLength} characters"
        : ValidateVendorOrClass(cls, "class");

    static string? ValidateVendorOrClass(string s, string what)
    {
        if (s.Length == 0) return $"empty {what}";
        if (!IsLetter(s[0])) return $"{what} \"{s}\" must start with a letter";
        for (int i = 1; i < s.Length - 1; i++)
            if (!IsAlphaNumeric(s[i]) && s[i] is not ('_' or '-' or '.'))
                return $"invalid character '{s[i]}' in {what} \"{s}\"";
        if (!IsAlphaNumeric(s[^1])) return $"{what} \"{s}\" must end with a letter or digit";
        return null;
    }

    /// <summary>Null when <paramref name="name"/> is a valid device name, else why not.</summary>
    public static string? ValidateDeviceName(string name)
    {
        if (name.Length == 0) return "empty device name";
        if (!IsAlphaNumeric(name[0])) return $"device name \"{name}\" must start with a letter or digit";
        for (int i = 1; i < name.Length - 1; i++)
            if (!IsAlphaNumeric(name[i]) && name[i] is not ('_' or '-' or '.' or ':'))
                return $"invalid character '{name[i]}' in device name \"{name}\"";
        if (!IsAlphaNumeric(name[^1])) return $"device name \"{name}\" must end with a letter or digit";
        return null;
    }

    static bool IsLetter(char c) => c is >= 'a' and <= 'z' or >= 'A' and <= 'Z';
    static bool IsAlphaNumeric(char c) => IsLetter(c) || c is >= '0' and <= '9';
}
