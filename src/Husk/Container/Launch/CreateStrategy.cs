using System.Text;
using Husk.Cgroups;
using Husk.Linux;
using Husk.Rootfs;
using Husk.Spec;

namespace Husk.Container.Launch;

/// <summary>
/// `create`: the container's init, in the namespaces <paramref name="plan"/> creates and joins, with the
/// exec fifo, the console socket and the id-mapped mounts; it is answered uid/gid map requests and the
/// createRuntime hooks, and is ready once it waits for `start` (runc's initProcess).
/// </summary>
/// <param name="spec">The validated spec; its process is the one the init becomes.</param>
/// <param name="cgroup">The container's cgroup; null: none (rootless without delegation).</param>
/// <param name="configJson">The spec as config.json in the state directory (written while the init starts).</param>
public sealed class CreateStrategy(ContainerHandle container, Spec.Spec spec, NamespacePlan plan, CreateOptions options,
    int preserveFds, CgroupPlacement? placement, ICgroupManager? cgroup, byte[] configJson) : LaunchStrategy
{
    IReadOnlyCollection<int> _idmapped = [];
    string _stateJson = "";

    public override string InitName => "container init";
    public override string EnteringNamespaces => "entering namespaces";
    public override CgroupPlacement? Placement => placement;
    public override Spec.Linux? UserMaps => spec.Linux;

    // Frozen meanwhile (or under a frozen parent), the init would never answer: give up.
    public override Action? StallCheck => cgroup is null ? null : () =>
    {
        if (cgroup.FrozenDirectory() is { } dir)
            throw new HuskException($"container's cgroup {dir} was frozen while the container was created: its init cannot run");
    };

    public override InitLauncher Spawn()
    {
        var fifoPath = MakeExecFifo(container);
        int console = ConsoleSocket(spec.Process!, options, out var connected);
        using var connectedScope = connected;
        // ID-mapped mounts are made here, on the host side, and attached by the init.
        using var idmapFds = IdmappedMounts.Create(spec);
        _idmapped = idmapFds.Keys;
        return InitLauncher.Launch(preserveFds, fifoPath, console, idmapFds: idmapFds, cgroup: placement);
    }

    /// <summary>
    /// While the init execs and loads: the rest of the cgroup, and linux.resources and the device
    /// rules, before the bootstrap lets anything of the container run.
    /// </summary>
    public override void BeforeBootstrap()
    {
        // Where the plan can serve the container, the init never starts the .NET runtime.
        UsePlan("init", () =>
        {
            using var image = new InitPlan.RootfsImage(container.Record.Rootfs);
            var compiled = InitPlan.Compile(spec, plan, container.Id, preserveFds, options.NoPivot, options.NoNewKeyring,
                InitPlan.HostFacts.Read(container.Record.Rootfs, placement?.Directories), image, Seccomp.SeccompFilter.ForPlan, out var refusal);
            return (compiled, refusal);
        });
        placement?.CreateWhileStarting();
        cgroup?.ApplyResources(spec.Linux?.Resources ?? new LinuxResources(), spec.Linux?.Devices, applyDevices: true);
        // Parent directories it had to make are recorded too: delete removes them (its own are known already).
        if (cgroup is null || cgroup.CreatedDirectories.Except(cgroup.Directories).Any())
        {
            container.Record.Cgroup = cgroup?.ToInfo();
            container.Save();
        }
    }

    public override InitChannel.BootstrapBuilder Bootstrap(IReadOnlyList<string> cgroupTasks) => WithPlan(Records(spec, plan, cgroupTasks));

    /// <summary>The init's bootstrap: the namespaces to create and join, its oom score, the time namespace's offsets.</summary>
    public static InitChannel.BootstrapBuilder Records(Spec.Spec spec, NamespacePlan plan, IReadOnlyList<string> cgroupTasks)
    {
        var b = CgroupRecords(cgroupTasks);
        b.AddUInt32(BootstrapRecord.CloneFlags, plan.CloneFlags);
        foreach (var (flag, path) in plan.Joins) b.AddNamespacePath(flag, path);
        if (spec.Process?.OOMScoreAdj is int oom) b.AddText(BootstrapRecord.OomScoreAdj, oom.ToString());
        if (plan.Creates(NamespaceKind.Time) && spec.Linux is { } linux && linux.TimeOffsets.Count > 0)
        {
            var sb = new StringBuilder();
            foreach (var (clock, off) in linux.TimeOffsets) sb.Append($"{clock} {off.Secs} {off.Nanosecs}\n");
            b.AddText(BootstrapRecord.TimeNamespaceOffsets, sb.ToString());
        }
        return b;
    }

    public override void AfterBootstrap() => container.Store.WriteConfig(container.Id, configJson);

    public override void Configure(InitChannel channel)
    {
        var record = container.Record;
        record.Pid = Pid;
        record.PidStartTime = ProcFs.Stat(Pid)?.StartTime ?? 0;
        // A create killed from here on leaves an init that delete must find: in the cgroup it
        // started in (recorded already), or, without a cgroup, by its pid.
        if (cgroup is null) container.Save();

        // A planned init needs nothing more: the plan came with the bootstrap.
        if (Plan is not null) return;
        var config = InitConfig.ForCreate(spec, plan, record.Rootfs, container.State(spec, ContainerStatus.Creating),
            preserveFds, options.NoPivot, options.NoNewKeyring);
        _stateJson = SpecJson.Serialize(config.State);
        // In a user namespace the init reaches bind sources as the container's root: they are
        // opened here, as the host's root, now that its mount namespace exists.
        using var bindSources = BindSources.Open(BindSources.Plan(spec, plan, Native.geteuid() == 0, _idmapped), Pid);
        config.BindSources = bindSources.Count;
        channel.Send(InitMessage.Config, InitConfig.Shape.WriteDocument(config));
        BindSources.Send(channel, bindSources);
    }

    /// <summary>Runs the prestart and createRuntime hooks when the init has made its mounts, until it is ready.</summary>
    public override void AwaitReady(InitChannel channel)
    {
        while (true)
        {
            var msg = channel.Receive() ?? throw new HuskException("container init exited before it was ready");
            if (msg.Type == InitMessage.Error) throw new HuskException(Encoding.UTF8.GetString(msg.Payload));
            if (msg.Type == InitMessage.Ready) return;
            if (msg.Type != InitMessage.RunCreateRuntimeHooks) throw new HuskException($"container init sent unexpected {msg.Type}");
            if (spec.Hooks is { } hooks)
            {
                HookRunner.Run(hooks.Prestart, _stateJson, "prestart");
                HookRunner.Run(hooks.CreateRuntime, _stateJson, "createRuntime");
            }
            channel.Send(InitMessage.HooksDone, ReadOnlySpan<byte>.Empty);
        }
    }

    public override void Terminate()
    {
        // A frozen (cgroup v1) init dies of SIGKILL only once thawed.
        if (Spawned > 0 && cgroup?.FrozenDirectory() != null)
        {
            try { cgroup.Thaw(); } catch (HuskException e) { Log.Warn($"cleanup: {e.Message}"); }
        }
        Cleanup.KillInit(container.Record.Pid, container.Record.PidStartTime);
        // Not yet reaped while the init pid is unknown, so its pid cannot have been reused.
        if (Spawned > 0 && container.Record.Pid == 0) Cleanup.KillAndReap(Spawned);
    }
}
