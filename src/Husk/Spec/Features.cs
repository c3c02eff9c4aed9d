using Husk.Spec.Json;

namespace Husk.Spec;

/// <summary>The runtime's features (runtime-spec features.md; `husk features`).</summary>
public sealed class Features
{
    public string? OCIVersionMin { get; set; }
    public string? OCIVersionMax { get; set; }
    public List<string> Hooks { get; set => field = value ?? []; } = [];
    public List<string> MountOptions { get; set => field = value ?? []; } = [];
    public FeaturesLinux? Linux { get; set; }
    public Dictionary<string, string> Annotations { get; set => field = value ?? []; } = [];
    public List<string> PotentiallyUnsafeConfigAnnotations { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<Features> Shape = new(m =>
    [
        m.String("ociVersionMin", f => f.OCIVersionMin, (f, v) => f.OCIVersionMin = v),
        m.String("ociVersionMax", f => f.OCIVersionMax, (f, v) => f.OCIVersionMax = v),
        m.List("hooks", f => f.Hooks, (f, v) => f.Hooks = v, JsonCodecs.String),
        m.List("mountOptions", f => f.MountOptions, (f, v) => f.MountOptions = v, JsonCodecs.String),
        m.Value("linux", f => f.Linux, (f, v) => f.Linux = v, FeaturesLinux.Shape),
        m.Map("annotations", f => f.Annotations, (f, v) => f.Annotations = v, JsonCodecs.String),
        m.List("potentiallyUnsafeConfigAnnotations", f => f.PotentiallyUnsafeConfigAnnotations, (f, v) => f.PotentiallyUnsafeConfigAnnotations = v, JsonCodecs.String),
    ]);

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
            // How containers can be isolated here (io.husk.isolation): "vm" only where its assets are found.
            [global::Husk.Vm.VmIsolation.Annotation] = global::Husk.Vm.GuestAssets.Find().Missing.Count == 0 ? "container,vm" : "container",
            // As runc: the libseccomp version the runtime uses.
            ["io.github.seccomp.libseccomp.version"] = global::Husk.Seccomp.SeccompSupport.Version,
        },
        Linux = new FeaturesLinux
        {
            Namespaces = [.. NamespaceKinds.All.Select(k => k.SpecName)],
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
    public List<string> Namespaces { get; set => field = value ?? []; } = [];
    public List<string> Capabilities { get; set => field = value ?? []; } = [];
    public FeaturesCgroup? Cgroup { get; set; }
    public FeaturesSeccomp? Seccomp { get; set; }
    public FeaturesEnabled? Apparmor { get; set; }
    public FeaturesEnabled? Selinux { get; set; }
    public FeaturesIntelRdt? IntelRdt { get; set; }
    public FeaturesMountExtensions? MountExtensions { get; set; }
    public FeaturesEnabled? NetDevices { get; set; }

    public static readonly JsonShape<FeaturesLinux> Shape = new(m =>
    [
        m.List("namespaces", f => f.Namespaces, (f, v) => f.Namespaces = v, JsonCodecs.String),
        m.List("capabilities", f => f.Capabilities, (f, v) => f.Capabilities = v, JsonCodecs.String),
        m.Value("cgroup", f => f.Cgroup, (f, v) => f.Cgroup = v, FeaturesCgroup.Shape),
        m.Value("seccomp", f => f.Seccomp, (f, v) => f.Seccomp = v, FeaturesSeccomp.Shape),
        m.Value("apparmor", f => f.Apparmor, (f, v) => f.Apparmor = v, FeaturesEnabled.Shape),
        m.Value("selinux", f => f.Selinux, (f, v) => f.Selinux = v, FeaturesEnabled.Shape),
        m.Value("intelRdt", f => f.IntelRdt, (f, v) => f.IntelRdt = v, FeaturesIntelRdt.Shape),
        m.Value("mountExtensions", f => f.MountExtensions, (f, v) => f.MountExtensions = v, FeaturesMountExtensions.Shape),
        m.Value("netDevices", f => f.NetDevices, (f, v) => f.NetDevices = v, FeaturesEnabled.Shape),
    ]);
}

/// <summary>features.linux.cgroup.</summary>
public sealed class FeaturesCgroup
{
    public bool? V1 { get; set; }
    public bool? V2 { get; set; }
    public bool? Systemd { get; set; }
    public bool? SystemdUser { get; set; }
    public bool? Rdma { get; set; }

    public static readonly JsonShape<FeaturesCgroup> Shape = new(m =>
    [
        m.Value("v1", f => f.V1, (f, v) => f.V1 = v, JsonCodecs.NullableBoolean),
        m.Value("v2", f => f.V2, (f, v) => f.V2 = v, JsonCodecs.NullableBoolean),
        m.Value("systemd", f => f.Systemd, (f, v) => f.Systemd = v, JsonCodecs.NullableBoolean),
        m.Value("systemdUser", f => f.SystemdUser, (f, v) => f.SystemdUser = v, JsonCodecs.NullableBoolean),
        m.Value("rdma", f => f.Rdma, (f, v) => f.Rdma = v, JsonCodecs.NullableBoolean),
    ]);
}

/// <summary>features.linux.seccomp.</summary>
public sealed class FeaturesSeccomp
{
    public bool? Enabled { get; set; }
    public List<string> Actions { get; set => field = value ?? []; } = [];
    public List<string> Operators { get; set => field = value ?? []; } = [];
    public List<string> Archs { get; set => field = value ?? []; } = [];
    public List<string> KnownFlags { get; set => field = value ?? []; } = [];
    public List<string> SupportedFlags { get; set => field = value ?? []; } = [];

    public static readonly JsonShape<FeaturesSeccomp> Shape = new(m =>
    [
        m.Value("enabled", f => f.Enabled, (f, v) => f.Enabled = v, JsonCodecs.NullableBoolean),
        m.List("actions", f => f.Actions, (f, v) => f.Actions = v, JsonCodecs.String),
        m.List("operators", f => f.Operators, (f, v) => f.Operators = v, JsonCodecs.String),
        m.List("archs", f => f.Archs, (f, v) => f.Archs = v, JsonCodecs.String),
        m.List("knownFlags", f => f.KnownFlags, (f, v) => f.KnownFlags = v, JsonCodecs.String),
        m.List("supportedFlags", f => f.SupportedFlags, (f, v) => f.SupportedFlags = v, JsonCodecs.String),
    ]);
}

/// <summary>An {"enabled": bool} feature (apparmor, selinux, idmap, netDevices).</summary>
public sealed class FeaturesEnabled
{
    public bool? Enabled { get; set; }

    public static readonly JsonShape<FeaturesEnabled> Shape = new(m =>
    [
        m.Value("enabled", f => f.Enabled, (f, v) => f.Enabled = v, JsonCodecs.NullableBoolean),
    ]);
}

/// <summary>features.linux.intelRdt.</summary>
public sealed class FeaturesIntelRdt
{
    public bool? Enabled { get; set; }
    public bool? Schemata { get; set; }

    public static readonly JsonShape<FeaturesIntelRdt> Shape = new(m =>
    [
        m.Value("enabled", f => f.Enabled, (f, v) => f.Enabled = v, JsonCodecs.NullableBoolean),
        m.Value("schemata", f => f.Schemata, (f, v) => f.Schemata = v, JsonCodecs.NullableBoolean),
    ]);
}

/// <summary>features.linux.mountExtensions.</summary>
public sealed class FeaturesMountExtensions
{
    public FeaturesEnabled? IDMap { get; set; }

    public static readonly JsonShape<FeaturesMountExtensions> Shape = new(m =>
    [
        m.Value("idmap", f => f.IDMap, (f, v) => f.IDMap = v, FeaturesEnabled.Shape),
    ]);
}
