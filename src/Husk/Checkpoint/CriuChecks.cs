namespace Husk.Checkpoint;

/// <summary>`husk check` lines about checkpoint/restore: the CRIU binary, `criu check`, and the optional features.</summary>
public static class CriuChecks
{
    /// <summary>The global --criu of the running command (null: "criu" on PATH); set by `husk check`.</summary>
    public static string? Binary { get; set; }

    public static IEnumerable<CheckResult> Run()
    {
        var list = new List<CheckResult> { CgroupsCriuCannotSee(Cgroups.CgroupHost.Current, Linux.SmallFile.ReadTextOrNull("/proc/self/cgroup") ?? "") };
        Criu criu;
        try { criu = Criu.Locate(Binary); }
        catch (HuskException e)
        {
            list.Add(new("criu.binary", CheckResult.Fail, $"{e.Message}: checkpoint and restore will not work"));
            return list;
        }
        list.Add(new("criu.binary", CheckResult.Ok, criu.Path));
        var (ok, detail) = criu.Check();
        if (!ok)
        {
            list.Add(new("criu.check", CheckResult.Fail, $"`criu check` failed: {detail}: checkpoint and restore will not work (CRIU older than 4.1 fails on kernels >= 6.13; pass --criu with a working one)"));
            return list;
        }
        list.Add(new("criu.check", CheckResult.Ok, detail));
        list.Add(criu.Check("mem_dirty_track").Ok
            ? new("criu.pre-dump", CheckResult.Ok, "memory change tracking available (--pre-dump, --parent-path)")
            : new("criu.pre-dump", CheckResult.Warn, "no soft-dirty memory tracking in this kernel: --pre-dump and --parent-path cannot work"));
        list.Add(criu.Check("uffd-noncoop").Ok
            ? new("criu.lazy-pages", CheckResult.Ok, "userfaultfd available (--lazy-pages)")
            : new("criu.lazy-pages", CheckResult.Warn, "no non-cooperative userfaultfd: --lazy-pages cannot work"));
        bool iptables = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "iptables")));
        list.Add(iptables
            ? new("criu.iptables", CheckResult.Ok, "iptables found (needed to checkpoint a container with its own network namespace)")
            : new("criu.iptables", CheckResult.Warn, "iptables not found: a container with its own network namespace cannot be checkpointed"));
        return list;
    }

    /// <summary>
    /// CRIU dumps every cgroup hierarchy of /proc/self/cgroup, mounted here or not. Where this
    /// process sits in v1 hierarchies that are not mounted (a pure v2 view of a hybrid host, inside
    /// a mount namespace), the dump holds them and restore fails writing their files. Pure.
    /// </summary>
    public static CheckResult CgroupsCriuCannotSee(Cgroups.HostInfo host, string selfCgroup)
    {
        var mounted = host.V1.SelectMany(h => h.Controllers).ToHashSet();
        var hidden = Cgroups.CgroupHost.ParseSelfCgroup(selfCgroup)
            .SelectMany(l => l.Controllers).Where(c => !c.StartsWith("name=", StringComparison.Ordinal) && !mounted.Contains(c))
            .Order(StringComparer.Ordinal).ToList();
        return hidden.Count == 0
            ? new("criu.cgroups", CheckResult.Ok, "every cgroup hierarchy of this process is mounted: CRIU restores the container's cgroups")
            : new("criu.cgroups", CheckResult.Warn, $"this process is in cgroup v1 hierarchies that are not mounted here ({string.Join(", ", hidden)}): " +
                "CRIU dumps them and a restore fails writing their files");
    }
}
