using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Lifecycle;

/// <summary>
/// The init plan (native/plan.c: the container's init without the .NET runtime) against the managed
/// init it stands in for: the same container, seen from inside; a waiting init of one thread; the same
/// failures. HUSK_MANAGED_INIT=1 makes `create` use the managed init. The bundles are `husk spec`'s
/// default (with its cgroup mount: a tmpfs of binds on cgroup v1 hosts, cgroup2 on v2 ones).
/// </summary>
public class InitPlanTests
{
    static Bundle PlanBundle(string script)
    {
        var bundle = new Bundle();
        bundle.SetScript(script);
        return bundle;
    }

    static RunOptions Managed(bool managed) => new() { Environment = new Dictionary<string, string?> { ["HUSK_MANAGED_INIT"] = managed ? "1" : null } };

    [Fact]
    public void A_planned_init_builds_the_same_container_as_the_managed_init()
    {
        using var root = new TestRoot();
        using var bundle = PlanBundle(
            "id; grep -E '^(Cap|NoNewPrivs|Groups|Uid|Gid)' /proc/self/status; umask; pwd; echo HOME=$HOME; hostname; " +
            "ulimit -n; cat /proc/sys/net/ipv4/ip_forward; " +
            "awk '{print $4, $5, $6, $9, $(NF-1)}' /proc/self/mountinfo; cat /proc/self/cgroup; ls /sys/fs/cgroup; " +
            "stat -c '%n %F %a %u %g %t %T' /dev/* /dev/pts/ptmx; " +
            "env | sort");
        bundle.Process["user"] = new JsonObject { ["uid"] = 1000, ["gid"] = 1000, ["additionalGids"] = new JsonArray(5, 7), ["umask"] = 0x3f };
        bundle.Process["cwd"] = "/work/dir";
        bundle.Config["hostname"] = "planned";
        bundle.Config["linux"]!["sysctl"] = new JsonObject { ["net.ipv4.ip_forward"] = "1" };
        bundle.Save();

        string plannedId = root.NewId(), managedId = root.NewId();
        var planned = root.Run(Managed(false), "--debug", "run", "--bundle", bundle.Dir, plannedId).AssertSuccess();
        Assert.Contains("init plan: ", planned.Stderr);
        Assert.DoesNotContain("init plan: not used", planned.Stderr);
        var managed = root.Run(Managed(true), "run", "--bundle", bundle.Dir, managedId).AssertSuccess();
        // The container's cgroups are named after it.
        Assert.Equal(managed.Stdout.Replace(managedId, "ID"), planned.Stdout.Replace(plannedId, "ID"));
        Assert.Contains("uid=1000 gid=1000 groups=5,7", planned.Stdout);
        Assert.Contains("/work/dir\n", planned.Stdout);
        Assert.Contains("NoNewPrivs:\t1", planned.Stdout);
    }

    /// <summary>mkdir refused (EPERM) by a filter that allows everything else, with a conditional rule too.</summary>
    static JsonObject MkdirFilter(params string[] alsoRefused) => new()
    {
        ["defaultAction"] = "SCMP_ACT_ALLOW",
        ["architectures"] = new JsonArray("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
        ["syscalls"] = new JsonArray(
            new JsonObject { ["names"] = new JsonArray(["mkdir", "mkdirat", .. alsoRefused]), ["action"] = "SCMP_ACT_ERRNO", ["errnoRet"] = 1 },
            new JsonObject
            {
                ["names"] = new JsonArray("personality"), ["action"] = "SCMP_ACT_ERRNO", ["errnoRet"] = 22,
                ["args"] = new JsonArray(new JsonObject { ["index"] = 0, ["value"] = 8, ["op"] = "SCMP_CMP_EQ" }),
            }),
    };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_planned_init_loads_the_same_seccomp_filter_and_binds_the_same_mounts(bool noNewPrivileges)
    {
        using var root = new TestRoot();
        using var bundle = PlanBundle(
            "mkdir /tmp/x; echo mkdir=$?; grep -E '^(Seccomp|NoNewPrivs)' /proc/self/status; " +
            "cat /etc/planned /mnt/host/data/file; touch /mnt/host/data/new; echo touch=$?; " +
            "grep -E ' /(etc/planned|mnt/host/data|mnt/rw) ' /proc/self/mountinfo | awk '{print $5, $6}'; echo > /mnt/rw/written; echo write=$?");
        string data = Path.Combine(bundle.Dir, "host-data"), rw = Path.Combine(bundle.Dir, "host-rw");
        Directory.CreateDirectory(data);
        Directory.CreateDirectory(rw);
        File.WriteAllText(Path.Combine(data, "file"), "in a host directory\n");
        File.WriteAllText(Path.Combine(bundle.Dir, "host-file"), "a host file\n");
        bundle.Process["noNewPrivileges"] = noNewPrivileges;
        bundle.Config["linux"]!["seccomp"] = MkdirFilter();
        var mounts = bundle.Config["mounts"]!.AsArray();
        mounts.Add(new JsonObject { ["destination"] = "/etc/planned", ["type"] = "bind", ["source"] = Path.Combine(bundle.Dir, "host-file"), ["options"] = new JsonArray("bind", "ro") });
        mounts.Add(new JsonObject { ["destination"] = "/mnt/host/data", ["type"] = "bind", ["source"] = data, ["options"] = new JsonArray("rbind", "ro", "nosuid", "rprivate") });
        mounts.Add(new JsonObject { ["destination"] = "/mnt/rw", ["source"] = rw, ["options"] = new JsonArray("bind") });
        bundle.Save();

        string plannedId = root.NewId(), managedId = root.NewId();
        var planned = root.Run(Managed(false), "--debug", "run", "--bundle", bundle.Dir, plannedId).AssertSuccess();
        Assert.Contains("init plan: ", planned.Stderr);
        Assert.DoesNotContain("init plan: not used", planned.Stderr);
        var managed = root.Run(Managed(true), "run", "--bundle", bundle.Dir, managedId).AssertSuccess();
        Assert.Equal(managed.Stdout, planned.Stdout);
        Assert.Contains("mkdir=1", planned.Stdout);
        Assert.Contains("Seccomp:\t2", planned.Stdout);
        Assert.Contains("a host file\nin a host directory\ntouch=1", planned.Stdout);
        Assert.Contains("/mnt/host/data ro,nosuid", planned.Stdout);
        Assert.Contains("write=0", planned.Stdout);
        Assert.True(File.Exists(Path.Combine(rw, "written")));

        // `husk exec` into it: the same filter on the exec'd process.
        bundle.SetScript("sleep 1000");
        bundle.Save();
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        string[] exec = ["exec", id, "sh", "-c", "mkdir /tmp/y; echo mkdir=$?; grep -E '^(Seccomp|NoNewPrivs)' /proc/self/status"];
        var plannedExec = root.Run(Managed(false), ["--debug", .. exec]).AssertSuccess();
        Assert.Contains("exec plan: ", plannedExec.Stderr);
        Assert.DoesNotContain("exec plan: not used", plannedExec.Stderr);
        Assert.Equal(root.Run(Managed(true), exec).AssertSuccess().Stdout, plannedExec.Stdout);
        Assert.Contains("mkdir=1", plannedExec.Stdout);
        root.Run("delete", "-f", id).AssertSuccess();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_filter_that_refuses_execve_fails_the_program_with_the_managed_inits_line(bool managed)
    {
        using var root = new TestRoot();
        using var bundle = PlanBundle("true");
        bundle.Config["linux"]!["seccomp"] = MkdirFilter("execve", "execveat");
        bundle.Save();
        var run = root.Run(Managed(managed), "run", "--bundle", bundle.Dir, root.NewId());
        Assert.Equal(127, run.ExitCode);
        Assert.Matches("husk: exec \"/bin/sh\" failed \\(denied by the seccomp filter\\?\\): errno 1\n", run.Stderr);
    }

    [Fact]
    public void A_planned_exec_gives_the_same_process_as_the_managed_exec_init()
    {
        using var root = new TestRoot();
        using var bundle = PlanBundle("sleep 1000");
        bundle.Save();
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        string[] exec = ["exec", "--user", "1000:1000", "--additional-gids", "5", "--cwd", "/tmp", "--env", "A=b", id,
            "sh", "-c", "id; grep -E '^(Cap|NoNewPrivs)' /proc/self/status; umask; pwd; env | sort; ulimit -n"];
        var planned = root.Run(Managed(false), ["--debug", .. exec]).AssertSuccess();
        Assert.Contains("exec plan: ", planned.Stderr);
        Assert.DoesNotContain("exec plan: not used", planned.Stderr);
        var managed = root.Run(Managed(true), exec).AssertSuccess();
        Assert.Equal(managed.Stdout, planned.Stdout);
        Assert.Contains("uid=1000 gid=1000 groups=5", planned.Stdout);
        var missing = root.Run(Managed(false), "exec", id, "no-such-program").AssertFailure();
        Assert.Contains("exec: \"no-such-program\": executable file not found in $PATH", missing.Stderr);
        root.Run("delete", "-f", id).AssertSuccess();
    }

    [Fact]
    public void A_created_container_waits_in_one_small_thread_without_the_runtime()
    {
        using var root = new TestRoot();
        using var bundle = PlanBundle("echo started");
        bundle.Save();
        var id = root.NewId();
        root.Run(Managed(false), "create", "--bundle", bundle.Dir, id).AssertSuccess();
        int pid = (int)JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!["pid"]!;
        var status = File.ReadAllText($"/proc/{pid}/status");
        // The managed init has the runtime's threads besides its own.
        Assert.Matches(@"Threads:\s+1\n", status);
        root.Run("start", id).AssertSuccess();
        root.Run("delete", "-f", id).AssertSuccess();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_missing_program_fails_create_and_one_removed_before_start_fails_start(bool managed)
    {
        using var root = new TestRoot();
        using var bundle = PlanBundle("");
        bundle.SetArgs("no-such-program");
        bundle.Save();
        var id = root.NewId();
        var create = root.Run(Managed(managed), "create", "--bundle", bundle.Dir, id).AssertFailure();
        Assert.Contains("exec: \"no-such-program\": executable file not found in $PATH", create.Stderr);
        Assert.Empty(root.ListIds());

        bundle.WriteFile("/bin/prog", "#!/bin/sh\necho prog\n");
        File.SetUnixFileMode(bundle.HostPath("/bin/prog"), (UnixFileMode)0x1ed);
        bundle.SetArgs("prog");
        bundle.Save();
        root.Run(Managed(managed), "create", "--bundle", bundle.Dir, id).AssertSuccess();
        File.Delete(bundle.HostPath("/bin/prog"));
        var start = root.Run("start", id).AssertFailure();
        Assert.Contains("\"prog\": executable file not found in $PATH", start.Stderr);
        root.Run("delete", "-f", id).AssertSuccess();
    }
}
