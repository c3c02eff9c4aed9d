using Husk.Init;
using Husk.Linux;
using Husk.Spec;
using Husk.Tests.Linux;
using Xunit;
using static Husk.Linux.Native;

namespace Husk.Tests.Init;

/// <summary>
/// The last steps of a process before execve, against the recording kernel: the order runc has
/// (standard_init_linux.go, finalizeNamespace) and what each fallback does.
/// </summary>
public class ProcessStepsTests
{
    // CAP_CHOWN = 0, CAP_KILL = 5, CAP_NET_BIND_SERVICE = 10.
    static Process WebServer(bool noNewPrivileges = true) => new()
    {
        Args = ["/bin/sh", "-c", "exec httpd"],
        Env = ["PATH=/usr/bin:/bin", "HOME=/srv"],
        Cwd = "/srv",
        User = new User { UID = 1000, GID = 100, AdditionalGids = [10, 20], Umask = 0x3f },
        NoNewPrivileges = noNewPrivileges,
        Capabilities = new LinuxCapabilities
        {
            Bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            Effective = ["CAP_NET_BIND_SERVICE"],
            Permitted = ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            Inheritable = ["CAP_NET_BIND_SERVICE"],
            Ambient = ["CAP_NET_BIND_SERVICE"],
        },
    };

    /// <summary>Runs BecomeProcess to its end (the recording kernel's execve fails); the seccomp and hook steps are recorded too.</summary>
    static List<string> Become(RecordingKernel kernel, Process p)
    {
        Assert.ThrowsAny<Exception>(() => new ProcessSteps(kernel).BecomeProcess(p, preserveFds: 2,
            installSeccomp: () => kernel.Calls.Add("seccomp filter"),
            startContainerHooks: () => kernel.Calls.Add("startContainer hooks")));
        // The bounding set is read and dropped capability by capability: checked on its own below.
        return kernel.Calls.Where(c => !c.StartsWith("prctl(PR_CAPBSET_", StringComparison.Ordinal)).ToList();
    }

    [Fact]
    public void LastStepsBeforeExecveRunInRuncsOrder()
    {
        var kernel = new RecordingKernel();
        var e = Assert.Throws<RecordingKernel.ExitedException>(() => new ProcessSteps(kernel).BecomeProcess(WebServer(), 2,
            () => kernel.Calls.Add("seccomp filter"), () => kernel.Calls.Add("startContainer hooks")));
        Assert.Equal(127, e.Status);
        Assert.Equal(
        [
            "prctl(PR_GET_PDEATHSIG)",
            "chdir(/srv)",
            "prctl(PR_SET_KEEPCAPS, 1)",
            "setgroups([10, 20])",
            "setresgid(100)",
            "setresuid(1000)",
            "prctl(PR_SET_KEEPCAPS, 0)",
            "capget()",
            "capset(effective 0x400, permitted 0x420, inheritable 0x400)",
            "prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
            "prctl(PR_CAP_AMBIENT_RAISE, 10)",
            "prctl(PR_SET_NO_NEW_PRIVS, 1)",
            "umask(077)",
            "close_range(5, CLOEXEC)",
            "seccomp filter",
            "startContainer hooks",
            "execve(/bin/sh, [/bin/sh, -c, exec httpd])",
            "write(2, husk: exec \"/bin/sh\" failed (denied by the seccomp filter?): errno 2)",
        ], kernel.Calls.Where(c => !c.StartsWith("prctl(PR_CAPBSET_", StringComparison.Ordinal)));
    }

    [Fact]
    public void BoundingSetKeepsOnlyTheListedCapabilitiesAndIsDroppedBeforeTheUserChanges()
    {
        var kernel = new RecordingKernel();
        Become(kernel, WebServer());
        var drops = kernel.Calls.Where(c => c.StartsWith("prctl(PR_CAPBSET_DROP", StringComparison.Ordinal)).ToList();
        Assert.Equal(Enumerable.Range(0, 41).Except([0, 5, 10]).Select(c => $"prctl(PR_CAPBSET_DROP, {c})"), drops);
        Assert.True(kernel.Calls.IndexOf(drops[^1]) < kernel.Calls.IndexOf("prctl(PR_SET_KEEPCAPS, 1)"));
    }

    [Fact]
    public void WithoutNoNewPrivilegesTheFilterIsLoadedBeforeTheCapabilitiesAreDropped()
    {
        // Loading a filter without no_new_privs needs CAP_SYS_ADMIN, which the drop takes away (runc's order).
        var calls = Become(new RecordingKernel(), WebServer(noNewPrivileges: false));
        Assert.Equal("seccomp filter", calls[0]);
        Assert.DoesNotContain("prctl(PR_SET_NO_NEW_PRIVS, 1)", calls);
        Assert.Equal(["close_range(5, CLOEXEC)", "startContainer hooks", "execve(/bin/sh, [/bin/sh, -c, exec httpd])"], calls[^3..]);
    }

    [Fact]
    public void WithoutAFilterAFailedExecveThrowsAndNamesTheProgram()
    {
        var kernel = new RecordingKernel { ExecErrno = EACCES };
        var e = Assert.Throws<HuskException>(() => new ProcessSteps(kernel).BecomeProcess(WebServer(), 0, installSeccomp: null));
        Assert.Equal("exec \"/bin/sh\": Permission denied", e.Message);
        Assert.Equal("execve(/bin/sh, [/bin/sh, -c, exec httpd])", kernel.Calls[^1]);
    }

    [Theory]
    [InlineData(EACCES)]
    [InlineData(EPERM)]
    public void CwdRootCannotEnterIsEnteredAsTheUser(int errno)
    {
        // Root squashed on NFS, or a directory only the user may enter: chdir again after setresuid.
        var kernel = new RecordingKernel().Fail("chdir(/srv)", errno);
        var calls = Become(kernel, WebServer());
        int retried = calls.IndexOf("chdir(/srv)");
        Assert.Equal($"chdir(/srv) = {(errno == EPERM ? "EPERM" : "EACCES")}", calls[1]);
        Assert.Equal(calls.IndexOf("setresuid(1000)") + 1, retried);
        Assert.Equal("prctl(PR_SET_KEEPCAPS, 0)", calls[retried + 1]);
        Assert.Single(calls, "chdir(/srv)");   // Exec does not change into it again
    }

    [Fact]
    public void CwdThatDoesNotExistIsAnError()
    {
        var kernel = new RecordingKernel().Fail("chdir(/srv)", ENOENT);
        var e = Assert.Throws<HuskException>(() => new ProcessSteps(kernel).ApplyUserAndCapabilities(WebServer()));
        Assert.Equal("chdir to cwd (\"/srv\") set in config.json failed: No such file or directory", e.Message);
        Assert.DoesNotContain(kernel.Calls, c => c.StartsWith("setresuid", StringComparison.Ordinal));
    }

    [Fact]
    public void SetgroupsIsSkippedWhereTheUserNamespaceDeniesIt()
    {
        var kernel = new RecordingKernel();
        kernel.Proc["self/setgroups"] = "deny\n";
        new ProcessSteps(kernel).SetUser(WebServer().User);
        Assert.Equal(["setresgid(100)", "setresuid(1000)"], kernel.Calls);
    }

    [Fact]
    public void SetgroupsRefusedIsAnErrorBeforeTheIdsChange()
    {
        var kernel = new RecordingKernel().Fail("setgroups", EPERM);
        var e = Assert.Throws<HuskException>(() => new ProcessSteps(kernel).SetUser(WebServer().User));
        Assert.Equal("setgroups [10 20]: Operation not permitted", e.Message);
        Assert.Equal(["setgroups([10, 20]) = EPERM"], kernel.Calls);
    }

    [Fact]
    public void PermittedCapabilityTheRuntimeLacksIsNamedAndNothingIsSet()
    {
        var kernel = new RecordingKernel { Permitted = 1UL << 5 };   // CAP_KILL only
        var e = Assert.Throws<HuskException>(() => new ProcessSteps(kernel).SetCapabilities(0, (1UL << 5) | (1UL << 10), 0));
        Assert.Equal("apply capabilities: CAP_NET_BIND_SERVICE not in the runtime's permitted set (the host's bounding set lacks it)", e.Message);
        Assert.DoesNotContain(kernel.Calls, c => c.StartsWith("capset", StringComparison.Ordinal));
    }

    [Fact]
    public void BoundingCapabilityTheKernelLacksIsSkipped()
    {
        // PR_CAPBSET_READ EINVAL: the kernel has no such capability; a drop's EINVAL is ignored too.
        var kernel = new RecordingKernel().Fail("prctl(PR_CAPBSET_READ, 3)", EINVAL).Fail("prctl(PR_CAPBSET_DROP, 4)", EINVAL);
        new ProcessSteps(kernel).DropBoundingSet(keep: 0, lastCap: 5);
        Assert.DoesNotContain("prctl(PR_CAPBSET_DROP, 3)", kernel.Calls);
        Assert.Contains("prctl(PR_CAPBSET_DROP, 5)", kernel.Calls);
        kernel.Fail("prctl(PR_CAPBSET_DROP, 1)", EPERM);
        var e = Assert.Throws<HuskException>(() => new ProcessSteps(kernel).DropBoundingSet(keep: 0, lastCap: 5));
        Assert.Equal("drop CAP_DAC_OVERRIDE from the bounding set: Operation not permitted", e.Message);
    }

    [Fact]
    public void AmbientRaiseRefusedIsOnlyAWarning()
    {
        var kernel = new RecordingKernel().Fail("prctl(PR_CAP_AMBIENT_RAISE, 10)", EPERM);
        var warnings = new List<string>();
        new ProcessSteps(kernel).SetAmbient(1UL << 10, warnings.Add);
        Assert.Equal(["can't raise ambient capability CAP_NET_BIND_SERVICE: Operation not permitted"], warnings);
    }

    [Fact]
    public void KernelWithoutAmbientCapabilitiesIsFineWhenNoneAreAsked()
    {
        var kernel = new RecordingKernel().Fail("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", EINVAL, times: 2);
        new ProcessSteps(kernel).SetAmbient(0, null);
        var e = Assert.Throws<HuskException>(() => new ProcessSteps(kernel).SetAmbient(1UL << 10, null));
        Assert.Equal("clear ambient capabilities: Invalid argument", e.Message);
    }

    [Fact]
    public void ParentDeathSignalIsRestoredAfterTheCredentialChange()
    {
        // A credential change clears it; the init would no longer die with its parent.
        var kernel = new RecordingKernel { ParentDeathSignal = SIGKILL };
        new ProcessSteps(kernel).ApplyUserAndCapabilities(WebServer());
        Assert.Equal("prctl(PR_SET_PDEATHSIG, 9)", kernel.Calls[^1]);
    }
}
