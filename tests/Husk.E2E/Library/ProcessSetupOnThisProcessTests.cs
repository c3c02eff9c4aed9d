using Husk.Init;
using Husk.Linux;
using Husk.Spec;
using Xunit;

namespace Husk.E2E.Library;

/// <summary>
/// The init's process settings applied to the test process itself: rlimits, personality,
/// oom_score_adj and a sysctl. They change this process or the host, so they live here, not in
/// the unit tests, and each puts back what it changed (the same value, or the old one in finally).
/// </summary>
public class ProcessSetupOnThisProcessTests
{
    [Fact]
    public unsafe void ApplyRlimitsSetsTheLimitOnSelf()
    {
        Native.RLimit cur;
        Assert.Equal(0, Native.prlimit(0, 4, null, &cur));   // RLIMIT_CORE
        ulong soft = cur.Max == Native.RLIM_INFINITY ? 4096 : Math.Min(cur.Max, 4096);
        try
        {
            ProcessSetup.ApplyRlimits([new POSIXRlimit { Type = "RLIMIT_CORE", Soft = soft, Hard = cur.Max }]);
            Native.RLimit now;
            Assert.Equal(0, Native.prlimit(0, 4, null, &now));
            Assert.Equal(soft, now.Cur);
            Assert.Equal(cur.Max, now.Max);
        }
        finally { Native.prlimit(0, 4, &cur, null); }
    }

    [Fact]
    public void PersonalityDomainsAreChecked()
    {
        new ProcessSteps(LinuxKernel.Instance).ApplyPersonality(null);
        Assert.Throws<HuskException>(() => new ProcessSteps(LinuxKernel.Instance).ApplyPersonality(new LinuxPersonality { Domain = "BSD" }));
        Assert.Throws<HuskException>(() => new ProcessSteps(LinuxKernel.Instance).ApplyPersonality(new LinuxPersonality { Domain = "LINUX", Flags = ["X"] }));
        new ProcessSteps(LinuxKernel.Instance).ApplyPersonality(new LinuxPersonality { Domain = "LINUX" });
    }

    [Fact]
    public void OomScoreAdjOutOfRangeIsRefused()
    {
        new ProcessSteps(LinuxKernel.Instance).ApplyOomScoreAdj(null);
        Assert.Throws<HuskException>(() => new ProcessSteps(LinuxKernel.Instance).ApplyOomScoreAdj(1001));
        int current = int.Parse(File.ReadAllText("/proc/self/oom_score_adj").Trim());
        new ProcessSteps(LinuxKernel.Instance).ApplyOomScoreAdj(current);   // unchanged: always allowed
        Assert.Equal(current, int.Parse(File.ReadAllText("/proc/self/oom_score_adj").Trim()));
    }

    [Fact]
    public void SysctlIsWrittenUnderProcSys()
    {
        // Write back the current value: checks the path mapping and the procfs check without changing the host.
        string current = File.ReadAllText("/proc/sys/kernel/shm_rmid_forced").Trim();
        ProcessSetup.ApplySysctl(new Dictionary<string, string> { ["kernel.shm_rmid_forced"] = current });
        Assert.Equal(current, File.ReadAllText("/proc/sys/kernel/shm_rmid_forced").Trim());
        var e = Assert.Throws<HuskException>(() => ProcessSetup.ApplySysctl(new Dictionary<string, string> { ["kernel.no_such_key"] = "1" }));
        Assert.Equal("write sysctl key kernel.no_such_key: No such file or directory", e.Message);
    }
}
