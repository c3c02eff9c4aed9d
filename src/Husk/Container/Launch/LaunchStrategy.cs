using Husk.Cgroups;
using Husk.Spec;

namespace Husk.Container.Launch;

/// <summary>
/// What differs between the ways a process is started into a container, which <see cref="InitLaunch"/>
/// drives through the same steps (runc's parentProcess with initProcess and setnsProcess):
/// <see cref="CreateStrategy"/> starts the container's init in new namespaces, <see cref="ExecStrategy"/>
/// a process that joins a running one. Another kind of isolation (a VM) is another strategy.
/// </summary>
public abstract class LaunchStrategy
{
    /// <summary>The process <see cref="Spawn"/> started; 0 before.</summary>
    public int Spawned { get; protected internal set; }
    /// <summary>The process in the container (nsexec.c may fork it from <see cref="Spawned"/>); 0 until known.</summary>
    public int Pid { get; protected internal set; }

    /// <summary>How the started process is named in errors ("container init", "exec init").</summary>
    public abstract string InitName { get; }
    /// <summary>What it does in nsexec.c before its pid is known, for "exited while ..." errors.</summary>
    public abstract string EnteringNamespaces { get; }
    /// <summary>Where it goes in the container's cgroup; null: nowhere.</summary>
    public abstract CgroupPlacement? Placement { get; }
    /// <summary>Called while waiting for the process each second: throws when it can never answer (a frozen cgroup); null: waits.</summary>
    public abstract Action? StallCheck { get; }
    /// <summary>The linux section whose uid/gid maps are written when nsexec.c asks; null: it must not ask.</summary>
    public virtual Spec.Linux? UserMaps => null;

    /// <summary>Starts `husk init` with the fds this kind of process inherits.</summary>
    public abstract InitLauncher Spawn();
    /// <summary>While the spawned process execs and loads, before its bootstrap: what can be done meanwhile.</summary>
    public virtual void BeforeBootstrap() { }
    /// <summary>The bootstrap for nsexec.c, given the cgroup v1 tasks files it moves itself into (pure).</summary>
    public abstract InitChannel.BootstrapBuilder Bootstrap(IReadOnlyList<string> cgroupTasks);
    /// <summary>While nsexec.c enters the namespaces, before the process's pid is known.</summary>
    public virtual void AfterBootstrap() { }
    /// <summary>The process in the container is <see cref="Pid"/>: sends it its <see cref="InitConfig"/> (and what follows it).</summary>
    public abstract void Configure(InitChannel channel);
    /// <summary>Serves the init until it reports ready.</summary>
    public abstract void AwaitReady(InitChannel channel);
    /// <summary>After a failure, once: kills what was started (the caller undoes the rest).</summary>
    public abstract void Terminate();

    /// <summary>Makes the container's exec fifo, which `start` writes; returns its path.</summary>
    /// <summary>Set (to anything) to have the managed init serve every container and exec, as before init plans.</summary>
    public const string ManagedInitEnv = "HUSK_MANAGED_INIT";

    /// <summary>The init plan sent with the bootstrap (<see cref="InitPlan"/>); null: the managed init serves.</summary>
    protected InitPlan? Plan { get; private set; }

    /// <summary>
    /// Compiles the init plan (<paramref name="kind"/>: "init", "exec") unless HUSK_MANAGED_INIT is set;
    /// `--debug` tells why there is none. Called while the init is exec'd: the plan is needed only
    /// once it reads its bootstrap.
    /// </summary>
    protected void UsePlan(string kind, Func<(InitPlan? Plan, string? Refusal)> compile)
    {
        if (Environment.GetEnvironmentVariable(ManagedInitEnv) is not null) return;
        var (plan, refusal) = compile();
        Plan = plan;
        Log.Debug(plan is null ? $"{kind} plan: not used ({refusal})" : $"{kind} plan: {plan.Count} operations");
    }

    /// <summary><paramref name="records"/> with the plan, when there is one.</summary>
    protected InitChannel.BootstrapBuilder WithPlan(InitChannel.BootstrapBuilder records) =>
        Plan is null ? records : records.Add(BootstrapRecord.Plan, Plan.Bytes);

    protected static string MakeExecFifo(ContainerHandle container)
    {
        var fifoPath = Path.Combine(container.Dir, StateStore.ExecFifo);
        Linux.Native.Check(Linux.Native.mkfifo(fifoPath, 0x180), $"mkfifo {fifoPath}");
        return fifoPath;
    }

    /// <summary>
    /// The console socket for a process with a terminal (-1: none): --console-socket connected here,
    /// disposed by the caller once the process is spawned with its own copy, or `run`'s
    /// ConsoleSocketFd, which stays run's (<paramref name="connected"/> is then null).
    /// </summary>
    protected static int ConsoleSocket(Spec.Process process, CreateOptions options, out Linux.OwnedFd? connected)
    {
        connected = process.Terminal && options.ConsoleSocketFd < 0 ? new Linux.OwnedFd(Linux.Native.ConnectUnix(options.ConsoleSocket!)) : null;
        return connected?.Fd ?? (process.Terminal ? options.ConsoleSocketFd : -1);
    }

    /// <summary>The records every strategy starts with: the cgroup v1 tasks files nsexec.c moves the process into.</summary>
    protected static InitChannel.BootstrapBuilder CgroupRecords(IReadOnlyList<string> cgroupTasks)
    {
        var b = new InitChannel.BootstrapBuilder();
        foreach (var file in cgroupTasks) b.AddText(BootstrapRecord.CgroupTasks, file + "\0");
        return b;
    }
}
