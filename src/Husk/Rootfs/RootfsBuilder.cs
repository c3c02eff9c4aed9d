using Husk.Linux;
using static Husk.Linux.Native;
using OciSpec = Husk.Spec.Spec;
using MountOptionsTable = Husk.Spec.MountOptions;

namespace Husk.Rootfs;

/// <summary>
/// The init's entry points to <see cref="RootfsSetup"/> on <see cref="LinuxKernel"/>, and the rules
/// that need no kernel.
/// </summary>
public static class RootfsBuilder
{
    static RootfsSetup OnLinux => new(LinuxKernel.Instance);

    /// <inheritdoc cref="RootfsSetup.Prepare"/>
    public static void Prepare(OciSpec spec, string rootfsPath, RootfsOptions options, Action beforePivot)
        => OnLinux.Prepare(spec, rootfsPath, options, beforePivot);

    /// <inheritdoc cref="RootfsSetup.ApplyReadonlyPaths"/>
    public static void ApplyReadonlyPaths(IEnumerable<string> paths) => OnLinux.ApplyReadonlyPaths(paths);

    /// <inheritdoc cref="RootfsSetup.ApplyMaskedPaths"/>
    public static void ApplyMaskedPaths(IEnumerable<string> paths) => OnLinux.ApplyMaskedPaths(paths);

    /// <inheritdoc cref="RootfsSetup.ApplyRootPropagation"/>
    public static void ApplyRootPropagation(OciSpec spec) => OnLinux.ApplyRootPropagation(spec);

    /// <summary>The MS_* flags of a linux.rootfsPropagation value; null when unset. Throws on an unknown value.</summary>
    public static ulong? ParsePropagation(string? name)
    {
        if (string.IsNullOrEmpty(name)) return null;
        if (MountOptionsTable.Table.TryGetValue(name, out var o) && o.Propagation) return o.Set;
        throw new HuskException($"linux.rootfsPropagation: invalid value \"{name}\" (want shared, rshared, slave, rslave, private, rprivate, unbindable or runbindable)");
    }

    /// <summary>The current mount flags a remount with <paramref name="wanted"/> must keep so as not to drop a locked one.</summary>
    internal static ulong LockedFlags(ulong current, ulong wanted)
    {
        ulong keep = current & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
        const ulong atime = MS_NOATIME | MS_RELATIME | MS_STRICTATIME | MS_NODIRATIME;
        if ((wanted & atime) == 0) keep |= current & atime;
        return keep;
    }
}
