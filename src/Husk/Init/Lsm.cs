using Husk.Linux;

namespace Husk.Init;

/// <summary>
/// AppArmor profiles and SELinux labels (process.apparmorProfile, process.selinuxLabel,
/// linux.mountLabel). Applied where the host has the LSM: the label is set for the next execve
/// through /proc/thread-self/attr of the host's procfs (<see cref="ProcFs.Open"/>). A spec that asks for one on a host without the LSM fails at
/// create with one line (runc fails too for SELinux; Husk treats AppArmor the same way rather than
/// running the container unconfined without a word).
/// </summary>
public static class Lsm
{
    /// <summary>AppArmor is enabled: /sys/module/apparmor/parameters/enabled is "Y".</summary>
    public static bool AppArmorEnabled(string sysRoot = "/sys")
    {
        try { return File.ReadAllText(Path.Combine(sysRoot, "module/apparmor/parameters/enabled")).Trim() == "Y"; }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>SELinux is enabled: selinuxfs is mounted (/sys/fs/selinux/enforce exists).</summary>
    public static bool SelinuxEnabled(string sysRoot = "/sys") => File.Exists(Path.Combine(sysRoot, "fs/selinux/enforce"));

    /// <summary>Throws the one-line error for labels the host cannot apply (pure).</summary>
    public static void Check(Spec.Spec spec, bool appArmor, bool selinux)
    {
        if (spec.Process is { ApparmorProfile: { Length: > 0 } profile } && !appArmor)
            throw new HuskException($"/process/apparmorProfile: profile \"{profile}\" is set but AppArmor is not enabled on this host");
        if (spec.Process is { SelinuxLabel: { Length: > 0 } label } && !selinux)
            throw new HuskException($"/process/selinuxLabel: label \"{label}\" is set but SELinux is not enabled on this host");
        if (spec.Linux is { MountLabel: { Length: > 0 } mountLabel } && !selinux)
            throw new HuskException($"/linux/mountLabel: label \"{mountLabel}\" is set but SELinux is not enabled on this host");
    }

    /// <summary>At create: refuses labels the host cannot apply.</summary>
    public static void CheckHost(Spec.Spec spec)
    {
        bool wantsAa = spec.Process is { ApparmorProfile.Length: > 0 };
        bool wantsSe = spec.Process is { SelinuxLabel.Length: > 0 } || spec.Linux is { MountLabel.Length: > 0 };
        if (!wantsAa && !wantsSe) return;
        Check(spec, !wantsAa || AppArmorEnabled(), !wantsSe || SelinuxEnabled());
    }

    /// <summary>In the init, right before exec: the AppArmor profile and SELinux label for the program.</summary>
    public static void ApplyExecLabels(IKernel kernel, Spec.Process process)
    {
        if (process.ApparmorProfile is { Length: > 0 } profile)
        {
            // The AppArmor-specific file first (kernels with LSM stacking), then the shared one.
            int rc = kernel.WriteProc("thread-self/attr/apparmor/exec", "exec " + profile);
            if (rc < 0) rc = kernel.WriteProc("thread-self/attr/exec", "exec " + profile);
            if (rc < 0) throw new HuskException($"apply AppArmor profile \"{profile}\": {Native.StrError(-rc)}");
        }
        if (process.SelinuxLabel is { Length: > 0 } label && kernel.WriteProc("thread-self/attr/exec", label) is var e2 and < 0)
            throw new HuskException($"apply SELinux label \"{label}\": {Native.StrError(-e2)}");
    }
}
