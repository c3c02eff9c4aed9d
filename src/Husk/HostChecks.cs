using Husk.Cgroups;

namespace Husk;

/// <summary>
/// What this host has, as named checks: the one place that knows (cgroup layout and controllers,
/// block IO weights, KVM, user namespaces, CRIU, libseccomp, LSMs). `husk check` prints these
/// lines, and the tests ask the same lines whether a feature is there, so the two cannot disagree.
/// Add an area with one entry in <see cref="Areas"/>.
/// </summary>
public static class HostChecks
{
    /// <summary>The areas checked, in order: a name and a function returning its lines.</summary>
    public static readonly (string Area, Func<IEnumerable<CheckResult>> Run)[] Areas =
    [
        ("cgroup", CgroupChecks.Run),
        ("cdi", Cdi.CdiCheck.Results),
        ("criu", Checkpoint.CriuChecks.Run),
        ("security", Seccomp.SecurityChecks.Run),
        ("virtualization", Virtualization),
    ];

    /// <summary>Every check of every area; an area that throws becomes one "fail" line naming the area.</summary>
    /// <param name="criu">The CRIU binary to check (the global --criu; null: "criu" on PATH).</param>
    public static List<CheckResult> Run(string? criu)
    {
        Checkpoint.CriuChecks.Binary = criu;
        var results = new List<CheckResult>();
        foreach (var (area, run) in Areas)
        {
            try { results.AddRange(run()); }
            catch (HuskException e) { results.Add(new(area, CheckResult.Fail, e.Message)); }
        }
        return results;
    }

    /// <summary>
    /// Hardware virtualization (/dev/kvm) and VM isolation: the guest kernel, QEMU and virtiofsd,
    /// and which accelerator a VM would get.
    /// </summary>
    static IEnumerable<CheckResult> Virtualization()
    {
        var vm = Vm.GuestAssets.Find();
        yield return vm.Kvm
            ? new CheckResult("kvm", CheckResult.Ok, "/dev/kvm can be opened: hardware virtualization is available")
            : new CheckResult("kvm", CheckResult.Warn, "no usable /dev/kvm: no hardware virtualization on this host (VMs are emulated with TCG, much slower)");
        yield return vm.Missing is { Count: > 0 } missing
            ? new CheckResult("vm", CheckResult.Warn, $"VM isolation ({Vm.VmIsolation.Annotation}=vm) is not available: {string.Join("; ", missing)}")
            : new CheckResult("vm", CheckResult.Ok,
                $"VM isolation ({Vm.VmIsolation.Annotation}=vm) available: guest kernel {vm.Release} in {vm.Directory}, {vm.Qemu} with {vm.Accelerator.ToUpperInvariant()}, {vm.Virtiofsd}; not yet: joined namespaces (pod networks), host devices, hooks, checkpoint and update");
    }
}
