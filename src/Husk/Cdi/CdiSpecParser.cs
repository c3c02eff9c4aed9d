using Husk.Spec;
using Husk.Spec.Json;

namespace Husk.Cdi;

/// <summary>
/// Reads CDI spec files (JSON or YAML, versions 0.3.0 to 0.8.0) into <see cref="CdiSpec"/> through
/// its member tables, as config.json is read into the OCI model, and validates them as the CDI
/// project does: known version, the features the file uses allowed by that version, kind and device
/// names, unique device names, at least one device, every device with some edits, valid env, device
/// nodes, hooks, mounts and intelRdt. Unknown fields are errors (CDI reads strictly). Every error is
/// one line: "FILE: /json/pointer: what".
/// </summary>
public static class CdiSpecParser
{
    /// <summary>The CDI spec versions Husk reads, oldest first.</summary>
    public static readonly IReadOnlyList<string> SupportedVersions = ["0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0"];

    /// <summary>"0.3.0-0.8.0".</summary>
    public static string VersionRange => $"{SupportedVersions[0]}-{SupportedVersions[^1]}";

    public static readonly IReadOnlyList<string> HookNames =
        ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

    /// <summary>Reads and validates a spec file; JSON when it ends in ".json", YAML otherwise.</summary>
    public static CdiSpec Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new HuskException($"{path}: no such file"); }
        catch (DirectoryNotFoundException) { throw new HuskException($"{path}: no such file or directory"); }
        catch (UnauthorizedAccessException) { throw new HuskException($"{path}: permission denied"); }
        catch (IOException e) { throw new HuskException($"{path}: cannot read: {ErrorText.OneLine(e.Message)}"); }
        return Parse(bytes, path, path.EndsWith(".json", StringComparison.Ordinal));
    }

    /// <summary>Parses and validates spec text; <paramref name="json"/> picks the format.</summary>
    public static CdiSpec Parse(string text, string source, bool json) => Parse(System.Text.Encoding.UTF8.GetBytes(text), source, json);

    public static CdiSpec Parse(byte[] bytes, string source, bool json)
    {
        var spec = json ? SpecJson.Deserialize(bytes, CdiSpec.Shape, source) : YamlAsJson.Read(bytes, CdiSpec.Shape, source);
        Validate(spec, source);
        return spec;
    }

    // ---- validation ----

    /// <summary>Throws a one-line <see cref="HuskException"/> when <paramref name="spec"/> is not a valid CDI spec.</summary>
    public static void Validate(CdiSpec spec, string source)
    {
        string Fail(string pointer, string what) => throw new HuskException($"{source}: {pointer}: {what}");

        var version = NormalizeVersion(spec.Version);
        if (spec.Version.Length == 0) Fail("/cdiVersion", "missing (want one of " + string.Join(", ", SupportedVersions) + ")");
        int vi = IndexOfVersion(version);
        if (vi < 0)
            Fail("/cdiVersion", $"unsupported CDI version \"{spec.Version}\" (Husk reads {string.Join(", ", SupportedVersions)})");
        if (RequiredVersion(spec) is { } need && IndexOfVersion(need.Version) > vi)
            Fail(need.Pointer, $"{need.Feature} needs cdiVersion {need.Version} or later, the file says {spec.Version}");

        if (QualifiedName.ValidateKind(spec.Kind) is { } kindError) Fail("/kind", kindError);
        ValidateAnnotations(spec.Annotations, "/annotations", Fail);
        ValidateEdits(spec.ContainerEdits, "/containerEdits", Fail);

        if (spec.Devices.Count == 0) Fail("/devices", "a CDI spec needs at least one device");
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < spec.Devices.Count; i++)
        {
            var d = spec.Devices[i];
            var p = $"/devices/{i}";
            if (QualifiedName.ValidateDeviceName(d.Name) is { } nameError) Fail($"{p}/name", nameError);
            if (names.TryGetValue(d.Name, out int first)) Fail($"{p}/name", $"device \"{d.Name}\" is defined twice in this file (also /devices/{first})");
            names[d.Name] = i;
            ValidateAnnotations(d.Annotations, $"{p}/annotations", Fail);
            if (d.ContainerEdits.IsEmpty) Fail($"{p}/containerEdits", $"device \"{d.Name}\" has no edits (env, deviceNodes, mounts, hooks, additionalGids or intelRdt)");
            ValidateEdits(d.ContainerEdits, $"{p}/containerEdits", Fail);
        }
    }

    static void ValidateEdits(ContainerEdits e, string p, Func<string, string, string> fail)
    {
        for (int i = 0; i < e.Env.Count; i++)
            if (e.Env[i].IndexOf('=') <= 0) fail($"{p}/env/{i}", $"invalid environment variable \"{e.Env[i]}\" (want NAME=VALUE)");
        for (int i = 0; i < e.DeviceNodes.Count; i++)
        {
            var d = e.DeviceNodes[i];
            var dp = $"{p}/deviceNodes/{i}";
            if (d.Path.Length == 0) fail($"{dp}/path", "a device node needs a path");
            if (!d.Path.StartsWith('/')) fail($"{dp}/path", $"device path \"{d.Path}\" is not absolute");
            if (d.HostPath is { Length: > 0 } hp && !hp.StartsWith('/')) fail($"{dp}/hostPath", $"host path \"{hp}\" is not absolute");
            if (d.Type is { Length: > 0 } t && t is not ("b" or "c" or "u" or "p")) fail($"{dp}/type", $"invalid device type \"{t}\" (want b, c, u or p)");
            if (d.Major < 0 || d.Minor < 0) fail(dp, $"invalid (negative) device number {d.Major}:{d.Minor}");
            if (d.Permissions is { Length: > 0 } perm && perm != "none" && perm.Trim("rwm".ToCharArray()).Length != 0)
                fail($"{dp}/permissions", $"invalid permissions \"{perm}\" (want a combination of r, w and m, or \"none\")");
        }
        for (int i = 0; i < e.Hooks.Count; i++)
        {
            var h = e.Hooks[i];
            var hp = $"{p}/hooks/{i}";
            if (!HookNames.Contains(h.HookName)) fail($"{hp}/hookName", $"invalid hook name \"{h.HookName}\" (want one of {string.Join(", ", HookNames)})");
            if (h.Path.Length == 0) fail($"{hp}/path", $"hook \"{h.HookName}\" has no path");
            if (!h.Path.StartsWith('/')) fail($"{hp}/path", $"hook path \"{h.Path}\" is not absolute");
            for (int j = 0; j < h.Env.Count; j++)
                if (h.Env[j].IndexOf('=') <= 0) fail($"{hp}/env/{j}", $"invalid environment variable \"{h.Env[j]}\" (want NAME=VALUE)");
            if (h.Timeout is <= 0) fail($"{hp}/timeout", $"must be greater than zero, got {h.Timeout}");
        }
        for (int i = 0; i < e.Mounts.Count; i++)
        {
            var m = e.Mounts[i];
            var mp = $"{p}/mounts/{i}";
            if (m.HostPath.Length == 0) fail($"{mp}/hostPath", "a mount needs a hostPath");
            if (m.ContainerPath.Length == 0) fail($"{mp}/containerPath", "a mount needs a containerPath");
        }
        if (e.IntelRdt?.ClosID is { } clos && clos != "/" &&
            (clos.Length >= 4096 || clos is "." or ".." || clos.IndexOfAny(['/', '\n']) >= 0))
            fail($"{p}/intelRdt/closID", $"invalid closID \"{clos}\"");
    }

    // Kubernetes-style annotation keys: [prefix/]name, name <= 63 of [A-Za-z0-9_.-] with
    // alphanumeric ends, prefix a DNS subdomain <= 253; all annotations together <= 256 KiB.
    static void ValidateAnnotations(Dictionary<string, string> annotations, string p, Func<string, string, string> fail)
    {
        long total = 0;
        foreach (var (key, value) in annotations)
        {
            total += key.Length + value.Length;
            var kp = $"{p}/{ErrorText.EscapePointer(key)}";
            int slash = key.LastIndexOf('/');
            var prefix = slash >= 0 ? key[..slash] : "";
            var name = slash >= 0 ? key[(slash + 1)..] : key;
            if (slash >= 0 && !IsDnsSubdomain(prefix)) fail(kp, $"invalid annotation key prefix \"{prefix}\" (want a DNS subdomain)");
            if (name.Length is 0 or > 63 || !char.IsAsciiLetterOrDigit(name[0]) || !char.IsAsciiLetterOrDigit(name[^1]) ||
                name.Any(c => !char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_' or '.')))
                fail(kp, $"invalid annotation key \"{key}\"");
        }
        if (total > 256 * 1024) fail(p, "annotations are larger than 256 KiB");
    }

    static bool IsDnsSubdomain(string s) =>
        s.Length is > 0 and <= 253 && s.Split('.').All(l =>
            l.Length is > 0 and <= 63 && char.IsAsciiLetterOrDigit(l[0]) && char.IsAsciiLetterOrDigit(l[^1]) &&
            l.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'));

    // ---- versions ----

    static string NormalizeVersion(string v) => v.StartsWith('v') ? v[1..] : v;

    static int IndexOfVersion(string v)
    {
        v = NormalizeVersion(v);
        for (int i = 0; i < SupportedVersions.Count; i++) if (SupportedVersions[i] == v) return i;
        return -1;
    }

    /// <summary>The newest feature the spec uses that older versions lack (CDI's MinimumRequiredVersion), or null.</summary>
    internal static (string Version, string Feature, string Pointer)? RequiredVersion(CdiSpec spec)
    {
        (string, string, string)? best = null;
        void Need(string version, string feature, string pointer)
        {
            if (best is null || IndexOfVersion(version) > IndexOfVersion(best.Value.Item1)) best = (version, feature, pointer);
        }
        var all = new List<(ContainerEdits Edits, string Pointer)> { (spec.ContainerEdits, "/containerEdits") };
        for (int i = 0; i < spec.Devices.Count; i++) all.Add((spec.Devices[i].ContainerEdits, $"/devices/{i}/containerEdits"));

        foreach (var (e, p) in all)
        {
            if (e.IntelRdt is not null) Need("0.7.0", "intelRdt", $"{p}/intelRdt");
            if (e.AdditionalGIDs.Count > 0) Need("0.7.0", "additionalGids", $"{p}/additionalGids");
            for (int i = 0; i < e.DeviceNodes.Count; i++)
                if (!string.IsNullOrEmpty(e.DeviceNodes[i].HostPath)) Need("0.5.0", "a device node hostPath", $"{p}/deviceNodes/{i}/hostPath");
            for (int i = 0; i < e.Mounts.Count; i++)
                if (!string.IsNullOrEmpty(e.Mounts[i].Type)) Need("0.4.0", "a mount type", $"{p}/mounts/{i}/type");
        }
        if (spec.Annotations.Count > 0) Need("0.6.0", "spec annotations", "/annotations");
        for (int i = 0; i < spec.Devices.Count; i++)
        {
            var d = spec.Devices[i];
            if (d.Annotations.Count > 0) Need("0.6.0", "device annotations", $"/devices/{i}/annotations");
            if (d.Name.Length > 0 && char.IsAsciiDigit(d.Name[0])) Need("0.5.0", "a device name starting with a digit", $"/devices/{i}/name");
        }
        var (vendor, cls) = QualifiedName.SplitKind(spec.Kind);
        if (vendor.Length > 0 && cls.Contains('.')) Need("0.6.0", "a '.' in the kind's class", "/kind");
        return best;
    }
}
