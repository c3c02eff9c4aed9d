using Husk.Cgroups;
using Husk.Linux;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Cgroups;

/// <summary>
/// The order of the v1 writes when the kernel refuses one until another is written
/// (CgroupManagerBase.WriteInOrder), against a fake cpu controller with the kernel's cfs rule.
/// </summary>
public class CgroupWriteOrderTests
{
    /// <summary>
    /// A container's cpu directory under a parent limited to <see cref="ParentCpus"/>: a period or quota
    /// whose quota / period would exceed it is refused with EINVAL, as the kernel's tg_cfs_schedulable_down.
    /// </summary>
    sealed class FakeCpuCgroup
    {
        public const double ParentCpus = 0.5;
        public long Quota = 500000, Period = 1000000;
        public readonly List<string> Attempts = [];

        public bool Write(string path, string value, out int errno)
        {
            Attempts.Add($"{path}={value}");
            long v = long.Parse(value);
            long quota = path == "cpu.cfs_quota_us" ? v : Quota, period = path == "cpu.cfs_period_us" ? v : Period;
            errno = quota > 0 && (double)quota / period > ParentCpus ? Native.EINVAL : 0;
            if (errno != 0) return false;
            (Quota, Period) = (quota, period);
            return true;
        }
    }

    static List<(CgroupWrite W, string Path, string Value)> Resolve(string resourcesJson) =>
        ResourcePlan.V1(SpecJson.ParseResources(resourcesJson), hybrid: false).Select(w => (w, w.File, w.Value)).ToList();

    [Fact]
    public void A_shorter_period_refused_under_a_parent_limit_is_written_again_after_the_quota()
    {
        // runc's update.bats "update cpu period in a pod cgroup with pod limit set": 500000/10000 is over the
        // parent's half a CPU until the quota is 3000.
        var cg = new FakeCpuCgroup();
        CgroupManagerBase.WriteInOrder(Resolve("""{"cpu":{"period":10000,"quota":3000}}"""), cg.Write);
        Assert.Equal(["cpu.cfs_period_us=10000", "cpu.cfs_quota_us=3000", "cpu.cfs_period_us=10000"], cg.Attempts);
        Assert.Equal((3000, 10000), (cg.Quota, cg.Period));
    }

    [Fact]
    public void The_period_goes_first_when_the_kernel_takes_it()
    {
        var cg = new FakeCpuCgroup();
        CgroupManagerBase.WriteInOrder(Resolve("""{"cpu":{"period":2000000,"quota":900000}}"""), cg.Write);
        Assert.Equal(["cpu.cfs_period_us=2000000", "cpu.cfs_quota_us=900000"], cg.Attempts);
    }

    [Fact]
    public void A_refused_period_without_a_quota_in_the_update_fails_naming_the_period()
    {
        var cg = new FakeCpuCgroup();
        var e = Assert.Throws<HuskException>(() =>
            CgroupManagerBase.WriteInOrder(Resolve("""{"cpu":{"period":10000}}"""), cg.Write));
        Assert.StartsWith("/linux/resources/cpu/period: cannot write \"10000\" to cpu.cfs_period_us:", e.Message);
        Assert.Equal(["cpu.cfs_period_us=10000"], cg.Attempts);
    }

    [Fact]
    public void A_quota_over_the_parent_limit_fails_naming_the_quota()
    {
        var cg = new FakeCpuCgroup();
        var e = Assert.Throws<HuskException>(() =>
            CgroupManagerBase.WriteInOrder(Resolve("""{"cpu":{"period":10000,"quota":600000}}"""), cg.Write));
        Assert.StartsWith("/linux/resources/cpu/quota: cannot write \"600000\" to cpu.cfs_quota_us:", e.Message);
        Assert.Equal((500000, 1000000), (cg.Quota, cg.Period));
    }

    [Fact]
    public void A_memory_limit_above_memsw_is_written_again_after_memsw()
    {
        long limit = 100, memsw = 100;
        var attempts = new List<string>();
        bool Write(string path, string value, out int errno)
        {
            attempts.Add($"{path}={value}");
            long v = long.Parse(value);
            bool ok = path == "memory.limit_in_bytes" ? v <= memsw : v >= limit;
            errno = ok ? 0 : Native.EINVAL;
            if (ok && path == "memory.limit_in_bytes") limit = v;
            else if (ok) memsw = v;
            return ok;
        }
        CgroupManagerBase.WriteInOrder(Resolve("""{"memory":{"limit":200,"swap":300}}"""), Write);
        Assert.Equal(["memory.limit_in_bytes=200", "memory.memsw.limit_in_bytes=300", "memory.limit_in_bytes=200"], attempts);
        Assert.Equal((200, 300), (limit, memsw));
    }
}
