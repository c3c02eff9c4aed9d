using Husk.Spec;
using static Husk.Spec.MountOptions;

namespace Husk.Rootfs;

/// <summary>
/// One spec mount, decoded for mount(2): what the kernel calls get. Pure, so the decisions
/// (bind or not, which flags need the second remount pass, what is delayed) are unit-tested.
/// </summary>
public sealed record MountEntry(
    string Destination, string Type, string Source, ulong Flags, ulong ClearedFlags,
    IReadOnlyList<ulong> Propagation, string Data, ulong AttrSet, ulong AttrClear, bool TmpCopyUp)
{
    /// <summary>Flags that only the remount of a bind mount applies (mount(2) ignores them on MS_BIND).</summary>
    const ulong RemountableFlags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME
        | MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW;

    /// <summary>Decodes a spec mount; "bind"/"rbind" in options or type "bind" make it a bind mount.</summary>
    public static MountEntry From(Mount m)
    {
        var o = ParseOptions(m.Options);
        string type = m.Type ?? "";
        ulong flags = o.Flags;
        if (type == "bind") flags |= MS_BIND; // type "bind" without the option: a plain (non-recursive) bind
        return new MountEntry(ContainerPath.Clean(m.Destination), type, m.Source ?? "", flags, o.ClearedFlags,
            o.PropagationFlags, o.Data, o.AttrSet, o.AttrClear, o.HasExtension("tmpcopyup"));
    }

    public bool IsBind => (Flags & MS_BIND) != 0;

    /// <summary>
    /// linux.mountLabel for this mount, as runc applies it: file systems Husk mounts get it as
    /// their "context=" mount option; binds keep their source's labels, proc, sysfs and cgroup
    /// theirs; mqueue gets none here (its root is labelled after the mount, <see cref="LabelsRootAfterMount"/>).
    /// Pure: the caller passes a label only where SELinux is enabled.
    /// </summary>
    public MountEntry WithMountLabel(string? label)
    {
        if (string.IsNullOrEmpty(label) || IsBind || Type is "proc" or "sysfs" or "cgroup" or "cgroup2" or "mqueue") return this;
        string context = $"context=\"{label}\"";
        return this with { Data = Data.Length == 0 ? context : $"{Data},{context}" };
    }

    /// <summary>An mqueue mount takes linux.mountLabel as the label of its root, not as a mount option (runc).</summary>
    public bool LabelsRootAfterMount => !IsBind && Type == "mqueue";

    /// <summary>A bind mount with ro/nosuid/... needs MS_REMOUNT|MS_BIND afterwards (the first mount ignores them), on kernels without mount_setattr.</summary>
    public bool NeedsBindRemount => IsBind && (Flags & RemountableFlags) != 0;

    /// <summary>
    /// Flags for the first mount(2). Read-only is delayed for tmpfs and /dev, which Husk still
    /// writes to (chmod, device nodes); they are remounted read-only afterwards, as runc does.
    /// </summary>
    public ulong InitialFlags => IsBind
        ? Flags & (MS_BIND | MS_REC)
        : (DelayReadonly ? Flags & ~MS_RDONLY : Flags) & ~(MS_BIND | MS_REC);

    public bool DelayReadonly => !IsBind && (Type == "tmpfs" || Destination == "/dev");

    /// <summary>The flags of the MS_REMOUNT pass (without MS_REMOUNT itself), for binds and delayed read-only.</summary>
    public ulong RemountFlags => (Flags & ~(MS_REC | MS_REMOUNT)) | (IsBind ? MS_BIND : 0);

    public bool Readonly => (Flags & MS_RDONLY) != 0;

    /// <summary>The per-mount flags and their mount_setattr(2) attributes.</summary>
    static readonly (ulong Flag, ulong Attr)[] s_bindAttributes =
    [
        (MS_RDONLY, MOUNT_ATTR_RDONLY), (MS_NOSUID, MOUNT_ATTR_NOSUID), (MS_NODEV, MOUNT_ATTR_NODEV),
        (MS_NOEXEC, MOUNT_ATTR_NOEXEC), (MS_NODIRATIME, MOUNT_ATTR_NODIRATIME), (MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
    ];

    /// <summary>
    /// A bind mount's own options as mount_setattr(2) attributes of its top mount: what the options
    /// set ("ro", "nosuid", ...) is set, what they clear ("rw", "suid", ...) is cleared, the source's
    /// other flags are kept (runc's rule since 1.2). An atime option replaces the atime mode, as a
    /// remount does: noatime, else strictatime, else relatime. Superblock flags (sync, ...) do not
    /// apply to a bind mount.
    /// </summary>
    public (ulong Set, ulong Clear) BindAttributes
    {
        get
        {
            ulong set = 0, clear = 0;
            foreach (var (flag, attr) in s_bindAttributes)
            {
                if ((Flags & flag) != 0) set |= attr;
                else if ((ClearedFlags & flag) != 0) clear |= attr;
            }
            const ulong atime = MS_NOATIME | MS_RELATIME | MS_STRICTATIME;
            if (((Flags | ClearedFlags) & atime) != 0)
            {
                clear |= MOUNT_ATTR__ATIME;
                set |= (Flags & MS_NOATIME) != 0 ? MOUNT_ATTR_NOATIME
                    : (Flags & MS_STRICTATIME) != 0 ? MOUNT_ATTR_STRICTATIME : MOUNT_ATTR_RELATIME;
            }
            return (set, clear);
        }
    }

    /// <summary>"mode=" in the data: then Husk keeps the tmpfs mode it asked for.</summary>
    public bool HasModeOption => Data.Split(',').Any(d => d.StartsWith("mode=", StringComparison.Ordinal));

    /// <summary>The lxcfs-style files a bind mount may cover inside /proc (runc's list).</summary>
    public static readonly IReadOnlyList<string> AllowedProcMounts =
    [
        "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime",
        "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
        "/proc/sys/crypto/fips_enabled",
    ];

    /// <summary>
    /// Refuses a mount whose resolved destination is inside /proc (it could hide what masked
    /// paths and LSMs protect, CVE-2019-16884), except /proc itself when the source is procfs and
    /// the lxcfs files. <paramref name="resolvedDest"/> is the container path after symlinks.
    /// </summary>
    public static string? CheckProcMount(string resolvedDest, bool sourceIsProcfs)
    {
        var dest = ContainerPath.Clean(resolvedDest);
        if (!ContainerPath.IsWithin(dest, "/proc")) return null;
        if (dest == "/proc") return sourceIsProcfs ? null : $"{dest} cannot be mounted because it is not of type proc";
        return AllowedProcMounts.Contains(dest) ? null : $"{dest} cannot be mounted because it is inside /proc";
    }
}
