using System.Buffers.Binary;
using System.Text;
using Husk.Container;
using Husk.Container.Launch;
using Husk.Linux;
using Husk.Spec;
using Xunit;
using static Husk.Spec.NamespaceKinds;

namespace Husk.Tests.Container;

/// <summary>The create and exec launch strategies' bootstrap for nsexec.c, and the init config translated from the spec.</summary>
public class LaunchTests
{
    static Husk.Spec.Spec Spec(string linux, string extra = "") => SpecJson.Parse($$"""
        {"ociVersion":"1.2.0","root":{"path":"rootfs"},"hostname":"box","domainname":"example.org",
         "process":{"args":["sh"],"cwd":"/","oomScoreAdj":-500,"rlimits":[{"type":"RLIMIT_NOFILE","hard":64,"soft":64}]},
         "hooks":{"prestart":[{"path":"/pre"}],"createContainer":[{"path":"/cc"}],"startContainer":[{"path":"/sc"}],"poststop":[{"path":"/ps"}]},
         "mounts":[{"destination":"/proc","type":"proc","source":"proc"}]{{extra}},
         "linux":{{linux}}}
        """);

    /// <summary>The bootstrap payload read back as nsexec.c reads it: u16 type, u16 pad, u32 length, payload.</summary>
    static List<(BootstrapRecord Type, byte[] Payload)> Records(InitChannel.BootstrapBuilder b)
    {
        var bytes = b.ToArray();
        var list = new List<(BootstrapRecord, byte[])>();
        for (int at = 0; at < bytes.Length;)
        {
            var type = (BootstrapRecord)BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(at));
            int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 4));
            list.Add((type, bytes[(at + 8)..(at + 8 + len)]));
            at += 8 + len;
        }
        return list;
    }

    static uint U32(byte[] p) => BinaryPrimitives.ReadUInt32LittleEndian(p);
    static string Text(byte[] p) => Encoding.UTF8.GetString(p);
    static (uint Flag, string Path) NsPath(byte[] p) => (U32(p), Encoding.UTF8.GetString(p, 4, p.Length - 5));

    static State CreatingState => new() { ID = "c", Status = ContainerStatus.Creating, Pid = 42 };

    [Fact]
    public void Create_bootstrap_has_the_cgroup_tasks_the_clone_flags_the_joins_and_the_oom_score()
    {
        var spec = Spec("""{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"network","path":"/run/netns/x"},{"type":"uts"}]}""");
        var records = Records(CreateStrategy.Records(spec, NamespacePlan.From(spec), ["/sys/fs/cgroup/cpu/c/tasks", "/sys/fs/cgroup/memory/c/tasks"]));

        Assert.Equal(
            [BootstrapRecord.CgroupTasks, BootstrapRecord.CgroupTasks, BootstrapRecord.CloneFlags, BootstrapRecord.NamespacePath, BootstrapRecord.OomScoreAdj],
            records.Select(r => r.Type));
        Assert.Equal("/sys/fs/cgroup/cpu/c/tasks\0", Text(records[0].Payload));
        Assert.Equal(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS, U32(records[2].Payload));
        Assert.Equal((CLONE_NEWNET, "/run/netns/x"), NsPath(records[3].Payload));
        Assert.Equal("-500", Text(records[4].Payload));
    }

    [Fact]
    public void Create_bootstrap_gives_time_offsets_only_to_a_new_time_namespace()
    {
        const string offsets = """ "timeOffsets":{"monotonic":{"secs":10,"nanosecs":5},"boottime":{"secs":-3}} """;
        var created = Spec($$"""{"namespaces":[{"type":"mount"},{"type":"time"}],{{offsets}}}""");
        var records = Records(CreateStrategy.Records(created, NamespacePlan.From(created), []));
        var time = Assert.Single(records, r => r.Type == BootstrapRecord.TimeNamespaceOffsets);
        Assert.Equal(["boottime -3 0", "monotonic 10 5"], Text(time.Payload).Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());

        var joined = Spec($$"""{"namespaces":[{"type":"mount"},{"type":"time","path":"/proc/1/ns/time"}],{{offsets}}}""");
        Assert.DoesNotContain(Records(CreateStrategy.Records(joined, NamespacePlan.From(joined), [])), r => r.Type == BootstrapRecord.TimeNamespaceOffsets);
    }

    [Fact]
    public void Create_bootstrap_without_an_oom_score_has_none()
    {
        var spec = Spec("""{"namespaces":[{"type":"mount"}]}""");
        spec.Process!.OOMScoreAdj = null;
        Assert.Equal([BootstrapRecord.CloneFlags], Records(CreateStrategy.Records(spec, NamespacePlan.From(spec), [])).Select(r => r.Type));
    }

    [Fact]
    public void Exec_bootstrap_creates_nothing_and_joins()
    {
        (uint, string)[] joins = [(CLONE_NEWUSER, "/proc/42/ns/user"), (CLONE_NEWNS, "/proc/42/ns/mnt")];
        var records = Records(ExecStrategy.Records(joins, ["/sys/fs/cgroup/pids/c/tasks"]));

        Assert.Equal(
            [BootstrapRecord.CgroupTasks, BootstrapRecord.CloneFlags, BootstrapRecord.NamespacePath, BootstrapRecord.NamespacePath],
            records.Select(r => r.Type));
        Assert.Equal(0u, U32(records[1].Payload));
        Assert.Equal((CLONE_NEWUSER, "/proc/42/ns/user"), NsPath(records[2].Payload));
        Assert.Equal((CLONE_NEWNS, "/proc/42/ns/mnt"), NsPath(records[3].Payload));
    }

    [Fact]
    public void Exec_joins_every_namespace_of_the_container_through_its_init_except_the_callers_own()
    {
        var spec = Spec("""{"namespaces":[{"type":"pid"},{"type":"network","path":"/run/netns/x"},{"type":"mount"},{"type":"user"},{"type":"cgroup"}]}""");
        // The caller shares the container's cgroup namespace (as when the container made none of its own).
        string? Link(string path) => path switch
        {
            "/proc/self/ns/cgroup" or "/proc/42/ns/cgroup" => "cgroup:[1]",
            _ when path.StartsWith("/proc/self/", StringComparison.Ordinal) => "host",
            _ => "container:" + path,
        };
        var joins = ExecStrategy.Joins(spec, 42, Link);
        Assert.Equal(
            [(CLONE_NEWPID, "/proc/42/ns/pid"), (CLONE_NEWNET, "/proc/42/ns/net"), (CLONE_NEWNS, "/proc/42/ns/mnt"), (CLONE_NEWUSER, "/proc/42/ns/user")],
            joins);
    }

    [Fact]
    public void Exec_refuses_a_namespace_that_is_gone()
    {
        var spec = Spec("""{"namespaces":[{"type":"mount"}]}""");
        var e = Assert.Throws<HuskException>(() => ExecStrategy.Joins(spec, 42, _ => null));
        Assert.Equal("cannot exec: the container's mount namespace (/proc/42/ns/mnt) is gone", e.Message);
    }

    [Theory]
    [InlineData("""{"type":"uts"}""", true)]
    [InlineData("""{"type":"uts","path":"/proc/1/ns/uts"}""", true)]
    [InlineData("""{"type":"ipc"}""", false)]
    public void Create_config_sets_the_hostname_only_in_a_uts_namespace_of_the_containers_own(string uts, bool set)
    {
        var spec = Spec($$"""{"namespaces":[{"type":"mount"},{{uts}}]}""");
        var config = InitConfig.ForCreate(spec, NamespacePlan.From(spec), "/b/rootfs", CreatingState, preserveFds: 0, noPivot: false, noNewKeyring: false);
        Assert.Equal(set ? ("box", "example.org") : (null, null), (config.Hostname, config.Domainname));
    }

    [Fact]
    public void Create_config_carries_the_decisions_and_the_parts_of_the_spec_the_init_applies()
    {
        var spec = Spec("""{"namespaces":[{"type":"mount"},{"type":"user"}],"sysctl":{"net.ipv4.ip_forward":"1"},"maskedPaths":["/proc/kcore"],"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"}}""");
        var config = InitConfig.ForCreate(spec, NamespacePlan.From(spec), "/b/rootfs", CreatingState, preserveFds: 2, noPivot: true, noNewKeyring: true);

        Assert.Equal(("c", true, 2, true, true, "/b/rootfs"), (config.Id, config.UserNamespace, config.PreserveFds, config.NoPivot, config.NoNewKeyring, config.Rootfs));
        Assert.Same(spec.Process, config.Process);
        Assert.Equal("1", config.Linux!.Sysctl["net.ipv4.ip_forward"]);
        Assert.Equal("SCMP_ACT_ALLOW", config.Seccomp!.DefaultAction);
        Assert.Equal("/proc", Assert.Single(config.Mounts).Destination);
        // Only the hooks the init runs itself: prestart, createRuntime, poststart and poststop run in the runtime.
        Assert.Equal("/cc", Assert.Single(config.CreateContainerHooks).Path);
        Assert.Equal("/sc", Assert.Single(config.StartContainerHooks).Path);
        // The spec the rootfs is built from has what RootfsBuilder reads.
        var rootfs = config.RootfsSpec();
        Assert.Equal((spec.Root, spec.Mounts, spec.Linux), (rootfs.Root, rootfs.Mounts, rootfs.Linux));
    }

    [Fact]
    public void Create_config_has_no_user_namespace_without_one()
    {
        var spec = Spec("""{"namespaces":[{"type":"mount"}]}""");
        Assert.False(InitConfig.ForCreate(spec, NamespacePlan.From(spec), "/r", CreatingState, 0, false, false).UserNamespace);
    }

    [Fact]
    public void Exec_config_runs_the_given_process_with_the_containers_filter_and_is_in_a_user_namespace_when_it_joins_one()
    {
        var spec = Spec("""{"namespaces":[{"type":"mount"},{"type":"user"}],"seccomp":{"defaultAction":"SCMP_ACT_ERRNO"}}""");
        var process = new Process { Args = ["ls"], Cwd = "/" };
        var running = new State { ID = "c", Status = ContainerStatus.Running, Pid = 42 };

        var config = InitConfig.ForExec(spec, process, [(CLONE_NEWUSER, "/proc/42/ns/user")], running, preserveFds: 1, processPid: 77);
        Assert.Equal(("c", true, 1, 77), (config.Id, config.UserNamespace, config.PreserveFds, config.ProcessPid));
        Assert.Same(process, config.Process);
        Assert.Equal("SCMP_ACT_ERRNO", config.Seccomp!.DefaultAction);
        Assert.Empty(config.CreateContainerHooks);
        Assert.Null(config.Hostname);

        // The caller already in the container's user namespace joins all but that one.
        Assert.False(InitConfig.ForExec(spec, process, [(CLONE_NEWNS, "/proc/42/ns/mnt")], running, 0, 77).UserNamespace);
    }

    [Fact]
    public void Config_state_json_carries_the_status_each_hook_kind_sees()
    {
        var spec = Spec("""{"namespaces":[{"type":"mount"}]}""");
        var config = InitConfig.ForCreate(spec, NamespacePlan.From(spec), "/r", CreatingState, 0, false, false);
        var back = InitConfig.Shape.ReadDocument(InitConfig.Shape.WriteDocument(config))!;
        Assert.Equal(ContainerStatus.Creating, SpecJson.ParseState(back.StateJson(ContainerStatus.Creating)).Status);
        var created = SpecJson.ParseState(back.StateJson(ContainerStatus.Created));
        Assert.Equal(("c", 42, ContainerStatus.Created), (created.ID, created.Pid, created.Status));
    }

    [Fact]
    public void The_config_survives_its_message()
    {
        var spec = Spec("""{"namespaces":[{"type":"mount"},{"type":"uts"}],"maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"]}""");
        var config = InitConfig.ForCreate(spec, NamespacePlan.From(spec), "/b/rootfs", CreatingState, 3, true, false);
        config.BindSources = 2;
        var back = InitConfig.Shape.ReadDocument(InitConfig.Shape.WriteDocument(config))!;
        // Written again, the message is the same: nothing the init needs is lost on the way.
        Assert.Equal(Encoding.UTF8.GetString(InitConfig.Shape.WriteDocument(config)), Encoding.UTF8.GetString(InitConfig.Shape.WriteDocument(back)));
        Assert.Equal(("box", 2, "/proc/kcore", 64UL), (back.Hostname, back.BindSources, back.Linux!.MaskedPaths[0], back.Process.Rlimits[0].Hard));
    }
}
