using Husk.Init;
using Husk.Linux;

namespace Husk.Seccomp;

/// <summary>`husk check` lines about hardening: seccomp, LSMs, user namespaces, rootless, the sealed runtime copy.</summary>
public static class SecurityChecks
{
    public static IEnumerable<CheckResult> Run()
    {
        yield return SeccompSupport.Available
            ? new CheckResult("seccomp", CheckResult.Ok, SeccompSupport.Describe())
            : new CheckResult("seccomp", CheckResult.Fail, $"{SeccompSupport.Describe()}: specs with linux.seccomp are refused");
        yield return Lsm.AppArmorEnabled()
            ? new CheckResult("apparmor", CheckResult.Ok, "enabled: process.apparmorProfile is applied")
            : new CheckResult("apparmor", CheckResult.Warn, "not enabled on this host: specs with process.apparmorProfile are refused");
        yield return Lsm.SelinuxEnabled()
            ? new CheckResult("selinux", CheckResult.Ok, "enabled: process.selinuxLabel is applied")
            : new CheckResult("selinux", CheckResult.Warn, "not enabled on this host: specs with process.selinuxLabel or linux.mountLabel are refused");
        yield return UserNamespaces();
        uint uid = Native.geteuid();
        if (uid != 0)
        {
            yield return new CheckResult("rootless", CheckResult.Warn,
                $"running as uid {uid}: containers get a cgroup only where the tree is delegated to this user; otherwise none (linux.resources not applied)");
            bool helpers = File.Exists("/usr/bin/newuidmap") && File.Exists("/usr/bin/newgidmap");
            yield return new CheckResult("rootless-idmap", helpers ? CheckResult.Ok : CheckResult.Warn, helpers
                ? "newuidmap/newgidmap present: ranges from /etc/subuid and /etc/subgid can be mapped"
                : "newuidmap/newgidmap missing (Debian: uidmap): only the caller's own uid and gid can be mapped");
        }
        yield return SealedCopy();
    }

    static CheckResult UserNamespaces()
    {
        try
        {
            var max = File.ReadAllText("/proc/sys/user/max_user_namespaces").Trim();
            return max == "0"
                ? new CheckResult("userns", CheckResult.Fail, "user.max_user_namespaces is 0: linux.uidMappings and rootless containers cannot work")
                : new CheckResult("userns", CheckResult.Ok, $"user namespaces available (max {max}); id-mapped mounts need Linux 5.12+");
        }
        catch (IOException) { return new CheckResult("userns", CheckResult.Fail, "no /proc/sys/user/max_user_namespaces: the kernel lacks user namespaces"); }
    }

    static CheckResult SealedCopy()
    {
        try
        {
            using var exe = SealedExe.Create();
            return new CheckResult("sealed-exe", CheckResult.Ok,
                $"containers' init runs from an unwritable {exe.Kind} copy of husk (CVE-2019-5736); making it took {exe.CopyMilliseconds:0.0} ms");
        }
        catch (HuskException e) { return new CheckResult("sealed-exe", CheckResult.Fail, e.Message); }
    }
}
