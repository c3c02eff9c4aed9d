using System.Globalization;

namespace Husk.Cdi;

/// <summary>
/// Reads CDI spec files (JSON or YAML, versions 0.3.0 to 0.8.0) into <see cref="CdiSpec"/> and
/// validates them as the CDI project does: known version, the features the file uses allowed by
/// that version, kind and device names, unique device names, at least one device, every device
/// with some edits, valid env, device nodes, hooks, mounts and intelRdt. Unknown fields are
/// errors (CDI reads strictly). Every error is one line: "FILE: /json/pointer: what".
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
        var root = DocReader.Read(bytes, source, json);
        var r = new Mapper(source);
        var spec = r.Spec(root);
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

    // ---- the hand-written mapper (no reflection) ----

    sealed class Mapper(string source)
    {
        HuskException Error(string path, string what) => new($"{source}: {Pointer.Or(path)}: {what}");

        static string Describe(DocNode n) => n switch
        {
            DocMap => "an object",
            DocSeq => "a list",
            DocScalar { Kind: ScalarKind.String } => "a string",
            DocScalar { Kind: ScalarKind.Number } => "a number",
            DocScalar { Kind: ScalarKind.Bool } => "a boolean",
            DocScalar s => $"\"{s.Text}\"",
            _ => "something else",
        };

        static bool IsNull(DocNode? n) => n is null or DocScalar { IsNull: true };

        /// <summary>The fields of an object (null / absent = none); unknown names are errors.</summary>
        Dictionary<string, DocNode> Fields(DocNode? n, string path, params string[] known)
        {
            var result = new Dictionary<string, DocNode>(StringComparer.Ordinal);
            if (IsNull(n)) return result;
            if (n is not DocMap map) throw Error(path, $"expected an object, got {Describe(n!)}");
            foreach (var (k, v) in map.Entries)
            {
                if (Array.IndexOf(known, k) < 0)
                    throw Error($"{path}/{ErrorText.EscapePointer(k)}", $"unknown field \"{k}\" (known: {string.Join(", ", known)})");
                result[k] = v;
            }
            return result;
        }

        static DocNode? Get(Dictionary<string, DocNode> f, string name) => f.TryGetValue(name, out var v) ? v : null;

        string? Str(DocNode? n, string path) => n switch
        {
            null or DocScalar { IsNull: true } => null,
            DocScalar { Kind: ScalarKind.String or ScalarKind.Plain } s => s.Text,
            _ => throw Error(path, $"expected a string, got {Describe(n)}"),
        };

        long? Int(DocNode? n, string path, long min, long max)
        {
            if (IsNull(n)) return null;
            if (n is DocScalar { Kind: ScalarKind.Number or ScalarKind.Plain, Text: { } text } && ParseInt(text, n is DocScalar { Kind: ScalarKind.Plain }) is { } v)
            {
                if (v < min || v > max) throw Error(path, $"{v} is out of range ({min} to {max})");
                return v;
            }
            throw Error(path, $"expected an integer, got {Describe(n!)}");
        }

        // JSON: decimal. YAML plain scalars also 0x.., 0o.. and YAML 1.1 octal 0.. (as Go's yaml reads them).
        static long? ParseInt(string text, bool yaml)
        {
            var s = text.Replace("_", yaml ? "" : "_");
            bool neg = s.StartsWith('-');
            if (neg || s.StartsWith('+')) s = s[1..];
            long value;
            if (yaml && s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            { if (!long.TryParse(s[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)) return null; }
            else if (yaml && s.StartsWith("0o", StringComparison.OrdinalIgnoreCase)) { if (!TryOctal(s[2..], out value)) return null; }
            else if (yaml && s.Length > 1 && s[0] == '0') { if (!TryOctal(s[1..], out value)) return null; }
            else if (s.Length == 0 || !s.All(char.IsAsciiDigit) || !long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value)) return null;
            return neg ? -value : value;
        }

        static bool TryOctal(string s, out long value)
        {
            value = 0;
            if (s.Length == 0 || s.Length > 21) return false;
            foreach (var c in s)
            {
                if (c is < '0' or > '7') return false;
                value = value * 8 + (c - '0');
            }
            return true;
        }

        bool? Bool(DocNode? n, string path)
        {
            if (IsNull(n)) return null;
            if (n is DocScalar { Kind: ScalarKind.Bool or ScalarKind.Plain, Text: { } t })
            {
                if (t is "true" or "True" or "TRUE" || (n is DocScalar { Kind: ScalarKind.Plain } && t is "yes" or "Yes" or "YES" or "on" or "On" or "ON")) return true;
                if (t is "false" or "False" or "FALSE" || (n is DocScalar { Kind: ScalarKind.Plain } && t is "no" or "No" or "NO" or "off" or "Off" or "OFF")) return false;
            }
            throw Error(path, $"expected true or false, got {Describe(n!)}");
        }

        List<T> List<T>(DocNode? n, string path, Func<DocNode, string, T> item)
        {
            var result = new List<T>();
            if (IsNull(n)) return result;
            if (n is not DocSeq seq) throw Error(path, $"expected a list, got {Describe(n!)}");
            for (int i = 0; i < seq.Items.Count; i++) result.Add(item(seq.Items[i], $"{path}/{i}"));
            return result;
        }

        List<string> StrList(DocNode? n, string path) => List(n, path, (x, p) => Str(x, p) ?? "");

        Dictionary<string, string> StrMap(DocNode? n, string path)
        {
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            if (IsNull(n)) return result;
            if (n is not DocMap map) throw Error(path, $"expected an object, got {Describe(n!)}");
            foreach (var (k, v) in map.Entries) result[k] = Str(v, $"{path}/{ErrorText.EscapePointer(k)}") ?? "";
            return result;
        }

        public CdiSpec Spec(DocNode root)
        {
            if (root is not DocMap) throw Error("", $"expected a CDI spec object, got {Describe(root)}");
            var f = Fields(root, "", "cdiVersion", "kind", "annotations", "devices", "containerEdits");
            return new CdiSpec
            {
                Version = Str(Get(f, "cdiVersion"), "/cdiVersion") ?? "",
                Kind = Str(Get(f, "kind"), "/kind") ?? "",
                Annotations = StrMap(Get(f, "annotations"), "/annotations"),
                Devices = List(Get(f, "devices"), "/devices", Device),
                ContainerEdits = Edits(Get(f, "containerEdits"), "/containerEdits"),
            };
        }

        CdiDevice Device(DocNode n, string p)
        {
            var f = Fields(n, p, "name", "annotations", "containerEdits");
            return new CdiDevice
            {
                Name = Str(Get(f, "name"), $"{p}/name") ?? "",
                Annotations = StrMap(Get(f, "annotations"), $"{p}/annotations"),
                ContainerEdits = Edits(Get(f, "containerEdits"), $"{p}/containerEdits"),
            };
        }

        ContainerEdits Edits(DocNode? n, string p)
        {
            var f = Fields(n, p, "env", "deviceNodes", "hooks", "mounts", "intelRdt", "additionalGids");
            var rdt = Get(f, "intelRdt");
            return new ContainerEdits
            {
                Env = StrList(Get(f, "env"), $"{p}/env"),
                DeviceNodes = List(Get(f, "deviceNodes"), $"{p}/deviceNodes", DeviceNode),
                Hooks = List(Get(f, "hooks"), $"{p}/hooks", Hook),
                Mounts = List(Get(f, "mounts"), $"{p}/mounts", Mount),
                IntelRdt = IsNull(rdt) ? null : IntelRdt(rdt!, $"{p}/intelRdt"),
                AdditionalGIDs = List(Get(f, "additionalGids"), $"{p}/additionalGids", (x, ip) => (uint)(Int(x, ip, 0, uint.MaxValue) ?? 0)),
            };
        }

        CdiDeviceNode DeviceNode(DocNode n, string p)
        {
            var f = Fields(n, p, "path", "hostPath", "type", "major", "minor", "fileMode", "permissions", "uid", "gid");
            return new CdiDeviceNode
            {
                Path = Str(Get(f, "path"), $"{p}/path") ?? "",
                HostPath = Str(Get(f, "hostPath"), $"{p}/hostPath"),
                Type = Str(Get(f, "type"), $"{p}/type"),
                Major = Int(Get(f, "major"), $"{p}/major", long.MinValue, long.MaxValue) ?? 0,
                Minor = Int(Get(f, "minor"), $"{p}/minor", long.MinValue, long.MaxValue) ?? 0,
                FileMode = (uint?)Int(Get(f, "fileMode"), $"{p}/fileMode", 0, uint.MaxValue),
                Permissions = Str(Get(f, "permissions"), $"{p}/permissions"),
                UID = (uint?)Int(Get(f, "uid"), $"{p}/uid", 0, uint.MaxValue),
                GID = (uint?)Int(Get(f, "gid"), $"{p}/gid", 0, uint.MaxValue),
            };
        }

        CdiMount Mount(DocNode n, string p)
        {
            var f = Fields(n, p, "hostPath", "containerPath", "options", "type");
            return new CdiMount
            {
                HostPath = Str(Get(f, "hostPath"), $"{p}/hostPath") ?? "",
                ContainerPath = Str(Get(f, "containerPath"), $"{p}/containerPath") ?? "",
                Options = StrList(Get(f, "options"), $"{p}/options"),
                Type = Str(Get(f, "type"), $"{p}/type"),
            };
        }

        CdiHook Hook(DocNode n, string p)
        {
            var f = Fields(n, p, "hookName", "path", "args", "env", "timeout");
            return new CdiHook
            {
                HookName = Str(Get(f, "hookName"), $"{p}/hookName") ?? "",
                Path = Str(Get(f, "path"), $"{p}/path") ?? "",
                Args = StrList(Get(f, "args"), $"{p}/args"),
                Env = StrList(Get(f, "env"), $"{p}/env"),
                Timeout = (int?)Int(Get(f, "timeout"), $"{p}/timeout", int.MinValue, int.MaxValue),
            };
        }

        CdiIntelRdt IntelRdt(DocNode n, string p)
        {
            var f = Fields(n, p, "closID", "l3CacheSchema", "memBwSchema", "enableCMT", "enableMBM");
            return new CdiIntelRdt
            {
                ClosID = Str(Get(f, "closID"), $"{p}/closID"),
                L3CacheSchema = Str(Get(f, "l3CacheSchema"), $"{p}/l3CacheSchema"),
                MemBwSchema = Str(Get(f, "memBwSchema"), $"{p}/memBwSchema"),
                EnableCMT = Bool(Get(f, "enableCMT"), $"{p}/enableCMT") ?? false,
                EnableMBM = Bool(Get(f, "enableMBM"), $"{p}/enableMBM") ?? false,
            };
        }
    }
}
