namespace Husk.Spec;

/// <summary>What a mount option does.</summary>
public enum MountOptionKind
{
    /// <summary>A mount(2) flag: Set bits are or-ed in, Clear bits are removed from the flags.</summary>
    Flag,
    /// <summary>A propagation type (mount(2) with MS_PRIVATE/... after the mount); Set holds MS_* (| MS_REC for r*).</summary>
    Propagation,
    /// <summary>A recursive attribute for mount_setattr(2) (rro, rnosuid, ...): Set/Clear hold MOUNT_ATTR_* bits.</summary>
    RecursiveAttr,
    /// <summary>An option Husk handles itself and never passes to the kernel (tmpcopyup, idmap, ridmap).</summary>
    Extension,
}

/// <summary>One known mount option.</summary>
/// <param name="Name">The option as written in config.json.</param>
/// <param name="Kind">Flag, propagation, recursive attribute or extension.</param>
/// <param name="Set">Bits to set (MS_* for Flag/Propagation, MOUNT_ATTR_* for RecursiveAttr).</param>
/// <param name="Clear">Bits to clear (same units as Set).</param>
public sealed record MountOption(string Name, MountOptionKind Kind, ulong Set, ulong Clear)
{
    /// <summary>True for mount_setattr(2) recursive attributes (rro, rnosuid, ...).</summary>
    public bool Recursive => Kind == MountOptionKind.RecursiveAttr;
    /// <summary>True for propagation options (private, rshared, ...).</summary>
    public bool Propagation => Kind == MountOptionKind.Propagation;
}

/// <summary>The result of <see cref="MountOptions.ParseOptions"/>.</summary>
/// <param name="Flags">mount(2) flags to mount with (MS_*).</param>
/// <param name="ClearedFlags">MS_* flags an option explicitly cleared (rw, suid, dev, ...); matters for bind remounts.</param>
/// <param name="PropagationFlags">Propagation flags, in order (each MS_PRIVATE/MS_SHARED/... possibly | MS_REC).</param>
/// <param name="Data">Unknown options, comma-joined, for mount(2)'s data argument ("mode=755,size=65536k").</param>
/// <param name="AttrSet">MOUNT_ATTR_* bits to set recursively with mount_setattr(2).</param>
/// <param name="AttrClear">MOUNT_ATTR_* bits to clear recursively with mount_setattr(2).</param>
/// <param name="Extensions">Extension options present (tmpcopyup, idmap, ridmap).</param>
public sealed record ParsedMountOptions(
    ulong Flags, ulong ClearedFlags, IReadOnlyList<ulong> PropagationFlags, string Data,
    ulong AttrSet, ulong AttrClear, IReadOnlyList<string> Extensions)
{
    /// <summary>All propagation flags or-ed together.</summary>
    public ulong Propagation { get { ulong p = 0; foreach (var f in PropagationFlags) p |= f; return p; } }
    public bool HasExtension(string name) => Extensions.Contains(name);
}

/// <summary>The one table of mount options Husk understands (as runc's specconv), and their parsing.</summary>
public static class MountOptions
{
    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_SYNCHRONOUS = 16,
        MS_REMOUNT = 32, MS_MANDLOCK = 64, MS_DIRSYNC = 128, MS_NOSYMFOLLOW = 256, MS_NOATIME = 1024,
        MS_NODIRATIME = 2048, MS_BIND = 4096, MS_MOVE = 8192, MS_REC = 16384, MS_SILENT = 32768,
        MS_POSIXACL = 1 << 16, MS_UNBINDABLE = 1 << 17, MS_PRIVATE = 1 << 18, MS_SLAVE = 1 << 19,
        MS_SHARED = 1 << 20, MS_RELATIME = 1 << 21, MS_I_VERSION = 1 << 23, MS_STRICTATIME = 1 << 24,
        MS_LAZYTIME = 1 << 25;

    public const ulong MOUNT_ATTR_RDONLY = 0x1, MOUNT_ATTR_NOSUID = 0x2, MOUNT_ATTR_NODEV = 0x4,
        MOUNT_ATTR_NOEXEC = 0x8, MOUNT_ATTR__ATIME = 0x70, MOUNT_ATTR_RELATIME = 0x0, MOUNT_ATTR_NOATIME = 0x10,
        MOUNT_ATTR_STRICTATIME = 0x20, MOUNT_ATTR_NODIRATIME = 0x80, MOUNT_ATTR_IDMAP = 0x100000,
        MOUNT_ATTR_NOSYMFOLLOW = 0x200000;

    private static MountOption F(string n, ulong set, ulong clear = 0) => new(n, MountOptionKind.Flag, set, clear);
    private static MountOption P(string n, ulong set) => new(n, MountOptionKind.Propagation, set, 0);
    private static MountOption R(string n, ulong set, ulong clear) => new(n, MountOptionKind.RecursiveAttr, set, clear);
    private static MountOption E(string n) => new(n, MountOptionKind.Extension, 0, 0);

    /// <summary>Every known option, by name.</summary>
    public static readonly IReadOnlyDictionary<string, MountOption> Table = new MountOption[]
    {
        F("defaults", 0),
        F("ro", MS_RDONLY), F("rw", 0, MS_RDONLY),
        F("suid", 0, MS_NOSUID), F("nosuid", MS_NOSUID),
        F("dev", 0, MS_NODEV), F("nodev", MS_NODEV),
        F("exec", 0, MS_NOEXEC), F("noexec", MS_NOEXEC),
        F("sync", MS_SYNCHRONOUS), F("async", 0, MS_SYNCHRONOUS),
        F("dirsync", MS_DIRSYNC),
        F("remount", MS_REMOUNT),
        F("mand", MS_MANDLOCK), F("nomand", 0, MS_MANDLOCK),
        F("atime", 0, MS_NOATIME), F("noatime", MS_NOATIME),
        F("diratime", 0, MS_NODIRATIME), F("nodiratime", MS_NODIRATIME),
        F("relatime", MS_RELATIME), F("norelatime", 0, MS_RELATIME),
        F("strictatime", MS_STRICTATIME), F("nostrictatime", 0, MS_STRICTATIME),
        F("lazytime", MS_LAZYTIME), F("nolazytime", 0, MS_LAZYTIME),
        F("iversion", MS_I_VERSION), F("noiversion", 0, MS_I_VERSION),
        F("silent", MS_SILENT), F("loud", 0, MS_SILENT),
        F("symfollow", 0, MS_NOSYMFOLLOW), F("nosymfollow", MS_NOSYMFOLLOW),
        F("bind", MS_BIND), F("rbind", MS_BIND | MS_REC),
        P("private", MS_PRIVATE), P("rprivate", MS_PRIVATE | MS_REC),
        P("shared", MS_SHARED), P("rshared", MS_SHARED | MS_REC),
        P("slave", MS_SLAVE), P("rslave", MS_SLAVE | MS_REC),
        P("unbindable", MS_UNBINDABLE), P("runbindable", MS_UNBINDABLE | MS_REC),
        R("rro", MOUNT_ATTR_RDONLY, 0), R("rrw", 0, MOUNT_ATTR_RDONLY),
        R("rnosuid", MOUNT_ATTR_NOSUID, 0), R("rsuid", 0, MOUNT_ATTR_NOSUID),
        R("rnodev", MOUNT_ATTR_NODEV, 0), R("rdev", 0, MOUNT_ATTR_NODEV),
        R("rnoexec", MOUNT_ATTR_NOEXEC, 0), R("rexec", 0, MOUNT_ATTR_NOEXEC),
        R("rnodiratime", MOUNT_ATTR_NODIRATIME, 0), R("rdiratime", 0, MOUNT_ATTR_NODIRATIME),
        // Access-time settings must also clear MOUNT_ATTR__ATIME (mount_setattr(2)).
        R("rrelatime", MOUNT_ATTR_RELATIME, MOUNT_ATTR__ATIME), R("rnorelatime", 0, MOUNT_ATTR__ATIME),
        R("rnoatime", MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME), R("ratime", 0, MOUNT_ATTR__ATIME),
        R("rstrictatime", MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME), R("rnostrictatime", 0, MOUNT_ATTR__ATIME),
        R("rnosymfollow", MOUNT_ATTR_NOSYMFOLLOW, 0), R("rsymfollow", 0, MOUNT_ATTR_NOSYMFOLLOW),
        E("tmpcopyup"), E("idmap"), E("ridmap"),
    }.ToDictionary(o => o.Name, StringComparer.Ordinal);

    /// <summary>The names of every known option, in table order (features.json "mountOptions").</summary>
    public static IEnumerable<string> Names => Table.Keys;

    /// <summary>True when <paramref name="option"/> is in the table.</summary>
    public static bool IsKnown(string option) => Table.ContainsKey(option);

    /// <summary>
    /// Splits fstab-style options into mount(2) flags, propagation flags, recursive
    /// mount_setattr(2) attributes, extensions and the data string (unknown options, comma-joined,
    /// in order). Options apply in order, so a later "rw" undoes an earlier "ro". Null or empty
    /// input gives zero flags and empty data.
    /// </summary>
    public static ParsedMountOptions ParseOptions(IEnumerable<string>? options)
    {
        ulong flags = 0, cleared = 0, attrSet = 0, attrClr = 0;
        var prop = new List<ulong>();
        var data = new List<string>();
        var ext = new List<string>();
        foreach (var o in options ?? [])
        {
            if (string.IsNullOrEmpty(o)) continue;
            if (!Table.TryGetValue(o, out var opt)) { data.Add(o); continue; }
            switch (opt.Kind)
            {
                case MountOptionKind.Flag:
                    flags = (flags & ~opt.Clear) | opt.Set;
                    cleared = (cleared | opt.Clear) & ~opt.Set;
                    break;
                case MountOptionKind.Propagation:
                    prop.Add(opt.Set);
                    break;
                case MountOptionKind.RecursiveAttr:
                    if (opt.Clear == MOUNT_ATTR__ATIME)
                    {   // access-time group: one setting replaces the other, and __ATIME is always cleared
                        attrSet = (attrSet & ~MOUNT_ATTR__ATIME) | opt.Set;
                        attrClr |= MOUNT_ATTR__ATIME;
                    }
                    else
                    {
                        attrSet = (attrSet & ~opt.Clear) | opt.Set;
                        attrClr = (attrClr & ~opt.Set) | opt.Clear;
                    }
                    break;
                case MountOptionKind.Extension:
                    if (!ext.Contains(o)) ext.Add(o);
                    break;
            }
        }
        return new ParsedMountOptions(flags, cleared, prop, string.Join(',', data), attrSet, attrClr, ext);
    }
}
