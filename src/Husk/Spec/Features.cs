using System.Text.Json.Serialization;

namespace Husk.Spec;

/// <summary>The runtime's features (runtime-spec features.md; `husk features`).</summary>
public sealed class Features
{
    [JsonPropertyName("ociVersionMin")] public string? OCIVersionMin { get; set; }
    [JsonPropertyName("ociVersionMax")] public string? OCIVersionMax { get; set; }
    [JsonPropertyName("hooks")] public List<string> Hooks { get; set => field = value ?? []; } = [];
    [JsonPropertyName("mountOptions")] public List<string> MountOptions { get; set => field = value ?? []; } = [];
    [JsonPropertyName("linux")] public FeaturesLinux? Linux { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string> Annotations { get; set => field = value ?? []; } = [];
    [JsonPropertyName("potentiallyUnsafeConfigAnnotations")] public List<string> PotentiallyUnsafeConfigAnnotations { get; set => field = value ?? []; } = [];

    /// <summary>What Husk supports.</summary>
    public static Features Build() => new()
    {
        OCIVersionMin = "1.0.0",
        OCIVersionMax = "1.2.0",
        Hooks = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        MountOptions = [.. global::Husk.Spec.MountOptions.Names],
        Annotations = new()
        {
            // CDI device injection from cdi.k8s.io/* annotations, and VFIO classification.
            ["org.husk.cdi.versions"] = global::Husk.Cdi.CdiSpecParser.VersionRange,
            ["org.husk.cdi.vfio"] = global::Husk.Cdi.Vfio.AnnotationPrefix + "<N>",
            // As runc: the libseccomp version the runtime uses.
            ["io.github.seccomp.libseccomp.version"] = global::Husk.Seccomp.SeccompSupport.Version,
        },
        Linux = new FeaturesLinux
        {
            Namespaces = [.. SpecValidator.NamespaceTypes],
            Capabilities = [.. Capabilities.All.Keys],
            Cgroup = new FeaturesCgroup { V1 = true, V2 = true, Systemd = false, SystemdUser = false, Rdma = true },
            // What the host's libseccomp (and kernel, through its API level) can load.
            Seccomp = global::Husk.Seccomp.SeccompSupport.Features(),
            Apparmor = new FeaturesEnabled { Enabled = global::Husk.Init.Lsm.AppArmorEnabled() },
            Selinux = new FeaturesEnabled { Enabled = global::Husk.Init.Lsm.SelinuxEnabled() },
            IntelRdt = new FeaturesIntelRdt { Enabled = false },
            MountExtensions = new FeaturesMountExtensions { IDMap = new FeaturesEnabled { Enabled = true } },
        },
    };
}

/// <summary>features.linux (Go type features.Linux).</summary>
public sealed class FeaturesLinux
{
    [JsonPropertyName("namespaces")] public List<string> Namespaces { get; set => field = value ?? []; } = [];
    [JsonPropertyName("capabilities")] public List<string> Capabilities { get; set => field = value ?? []; } = [];
    [JsonPropertyName("cgroup")] public FeaturesCgroup? Cgroup { get; set; }
    [JsonPropertyName("seccomp")] public FeaturesSeccomp? Seccomp { get; set; }
    [JsonPropertyName("apparmor")] public FeaturesEnabled? Apparmor { get; set; }
    [JsonPropertyName("selinux")] public FeaturesEnabled? Selinux { get; set; }
    [JsonPropertyName("intelRdt")] public FeaturesIntelRdt? IntelRdt { get; set; }
    [JsonPropertyName("mountExtensions")] public FeaturesMountExtensions? MountExtensions { get; set; }
    [JsonPropertyName("netDevices")] public FeaturesEnabled? NetDevices { get; set; }
}

/// <summary>features.linux.cgroup.</summary>
public sealed class FeaturesCgroup
{
    [JsonPropertyName("v1")] public bool? V1 { get; set; }
    [JsonPropertyName("v2")] public bool? V2 { get; set; }
    [JsonPropertyName("systemd")] public bool? Systemd { get; set; }
    [JsonPropertyName("systemdUser")] public bool? SystemdUser { get; set; }
    [JsonPropertyName("rdma")] public bool? Rdma { get; set; }
}

/// <summary>features.linux.seccomp.</summary>
public sealed class FeaturesSeccomp
{
    [JsonPropertyName("enabled")] public bool? Enabled { get; set; }
    [JsonPropertyName("actions")] public List<string> Actions { get; set => field = value ?? []; } = [];
    [JsonPropertyName("operators")] public List<string> Operators { get; set => field = value ?? []; } = [];
    [JsonPropertyName("archs")] public List<string> Archs { get; set => field = value ?? []; } = [];
    [JsonPropertyName("knownFlags")] public List<string> KnownFlags { get; set => field = value ?? []; } = [];
    [JsonPropertyName("supportedFlags")] public List<string> SupportedFlags { get; set => field = value ?? []; } = [];
}

/// <summary>An {"enabled": bool} feature (apparmor, selinux, idmap, netDevices).</summary>
public sealed class FeaturesEnabled
{
    [JsonPropertyName("enabled")] public bool? Enabled { get; set; }
}

/// <summary>features.linux.intelRdt.</summary>
public sealed class FeaturesIntelRdt
{
    [JsonPropertyName("enabled")] public bool? Enabled { get; set; }
    [JsonPropertyName("schemata")] public bool? Schemata { get; set; }
}

/// <summary>features.linux.mountExtensions.</summary>
public sealed class FeaturesMountExtensions
{
    [JsonPropertyName("idmap")] public FeaturesEnabled? IDMap { get; set; }
}
