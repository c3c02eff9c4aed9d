namespace Husk.Spec;

/// <summary>
/// The spec `husk spec` writes: runc 1.1.5's example spec, with the differences listed in
/// compat/DEVIATIONS.md (ociVersion, hostname "husk", /sys/devices/virtual/powercap masked).
/// </summary>
public static class DefaultSpec
{
    /// <summary>The runtime-spec version Husk writes and implements.</summary>
    public const string OCIVersion = "1.2.0";

    /// <summary>
    /// Builds the default spec. With <paramref name="rootless"/> it is `runc spec --rootless`:
    /// a user namespace mapping container root to <paramref name="uid"/>/<paramref name="gid"/>,
    /// no network namespace, /sys bind-mounted from the host, no gid=5 on devpts, no device cgroup rules.
    /// A cgroup namespace only with <paramref name="cgroupNamespace"/>: runc adds one on a pure cgroup v2
    /// host only (not on v1 or hybrid ones, where a config adding its own then stays valid).
    /// </summary>
    public static Spec Create(bool rootless, uint uid = 0, uint gid = 0, bool cgroupNamespace = false)
    {
        string[] caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
        var spec = new Spec
        {
            OCIVersion = OCIVersion,
            Process = new Process
            {
                Terminal = true,
                User = new User { UID = 0, GID = 0 },
                Args = ["sh"],
                Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                Cwd = "/",
                Capabilities = new LinuxCapabilities
                {
                    Bounding = [.. caps],
                    Effective = [.. caps],
                    Permitted = [.. caps],
                    Ambient = [.. caps],
                },
                Rlimits = [new POSIXRlimit { Type = "RLIMIT_NOFILE", Hard = 1024, Soft = 1024 }],
                NoNewPrivileges = true,
            },
            Root = new Root { Path = "rootfs", Readonly = true },
            Hostname = "husk",
            Mounts =
            [
                new Mount { Destination = "/proc", Type = "proc", Source = "proc" },
                new Mount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
                new Mount { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
                new Mount { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
                new Mount { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
                new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
                new Mount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] },
            ],
            Linux = new Linux
            {
                Resources = new LinuxResources { Devices = [new LinuxDeviceCgroup { Allow = false, Access = "rwm" }] },
                Namespaces =
                [
                    new LinuxNamespace { Type = "pid" },
                    new LinuxNamespace { Type = "network" },
                    new LinuxNamespace { Type = "ipc" },
                    new LinuxNamespace { Type = "uts" },
                    new LinuxNamespace { Type = "mount" },
                ],
                MaskedPaths =
                [
                    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                    "/sys/devices/virtual/powercap", "/proc/scsi",
                ],
                ReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            },
        };
        if (cgroupNamespace) spec.Linux.Namespaces.Add(new LinuxNamespace { Type = "cgroup" });
        if (rootless) MakeRootless(spec, uid, gid);
        return spec;
    }

    /// <summary>What `runc spec --rootless` changes (runc specconv.ToRootless).</summary>
    private static void MakeRootless(Spec spec, uint uid, uint gid)
    {
        var linux = spec.Linux!;
        linux.Namespaces.RemoveAll(n => n.Kind is NamespaceKind.Network or NamespaceKind.User);
        linux.Namespaces.Add(new LinuxNamespace { Type = "user" });
        linux.UIDMappings = [new LinuxIDMapping { ContainerID = 0, HostID = uid, Size = 1 }];
        linux.GIDMappings = [new LinuxIDMapping { ContainerID = 0, HostID = gid, Size = 1 }];
        for (int i = 0; i < spec.Mounts.Count; i++)
        {
            var m = spec.Mounts[i];
            if (m.Destination == "/sys")
                spec.Mounts[i] = new Mount { Destination = "/sys", Type = "none", Source = "/sys", Options = ["rbind", "nosuid", "noexec", "nodev", "ro"] };
            else
                m.Options.RemoveAll(o => o.StartsWith("gid=", StringComparison.Ordinal) || o.StartsWith("uid=", StringComparison.Ordinal));
        }
        linux.Resources = null;
    }
}
