using Husk.Cgroups;
using Husk.Linux;
using Husk.Spec;

namespace Husk.Container.Launch;

/// <summary>
/// `exec`: a process that joins every namespace of a running container and its cgroup, with the
/// console socket and a seccomp listener; ready once it is about to execve (runc's setnsProcess).
/// </summary>
/// <param name="process">The process to run (<see cref="Executor.BuildProcess"/>).</param>
/// <param name="joins">The namespaces it joins (<see cref="Joins"/>).</param>
/// <param name="cgroup">The cgroup it runs in; null: the container has none.</param>
public sealed class ExecStrategy(ContainerHandle container, Spec.Spec spec, Process process, ExecOptions options,
    IReadOnlyList<(uint Flag, string Path)> joins, ICgroupManager? cgroup, CgroupPlacement? placement,
    Husk.Seccomp.SeccompListener? listener) : LaunchStrategy
{
    /// <summary>Exec's end of the console socket pair when it relays the terminal itself; null: none. The caller takes it.</summary>
    public OwnedFd? ConsoleParent { get; private set; }

    public override string InitName => "exec init";
    public override string EnteringNamespaces => "joining the container's namespaces";
    public override CgroupPlacement? Placement => placement;

    // Paused meanwhile, the process would never answer; with --ignore-paused it waits for the resume.
    public override Action? StallCheck => cgroup is null || options.IgnorePaused ? null : () =>
    {
        if (cgroup.FrozenDirectory() is { } dir)
            throw new HuskException($"cannot exec in container \"{options.Id}\": its cgroup {dir} was frozen while the process started (paused?)");
    };

    public override InitLauncher Spawn()
    {
        OwnedFd? consoleChild = null;
        if (process.Terminal && options.ConsoleSocket != null) consoleChild = new OwnedFd(Native.ConnectUnix(options.ConsoleSocket));
        else if (process.Terminal) (ConsoleParent, consoleChild) = TerminalRelay.NewConsoleSocketPair();
        // Only the init keeps the console's end: once it is gone, the other end sees end-of-file.
        using (consoleChild)
            return InitLauncher.Launch(options.PreserveFds, null, consoleChild?.Fd ?? -1, mode: InitLauncher.ExecMode, seccompListener: listener?.Fd ?? -1, cgroup: placement);
    }

    // As for create: a plan where it can serve; the image is the running container's root.
    public override void BeforeBootstrap() => UsePlan("exec", () =>
    {
        using var image = new InitPlan.RootfsImage($"/proc/{container.Record.Pid}/root");
        var compiled = InitPlan.CompileExec(process, spec.Linux?.Seccomp, joins, container.Id, options.PreserveFds,
            InitPlan.ProcessFacts.Read(), image, Seccomp.SeccompFilter.ForPlan, out var refusal);
        return (compiled, refusal);
    });

    public override InitChannel.BootstrapBuilder Bootstrap(IReadOnlyList<string> cgroupTasks) =>
        WithPlan(Records(joins, cgroupTasks));

    /// <summary>The exec init's bootstrap: no namespace of its own, the namespaces to join.</summary>
    public static InitChannel.BootstrapBuilder Records(IReadOnlyList<(uint Flag, string Path)> joins, IReadOnlyList<string> cgroupTasks)
    {
        var b = CgroupRecords(cgroupTasks);
        b.AddUInt32(BootstrapRecord.CloneFlags, 0);
        foreach (var (flag, path) in joins) b.AddNamespacePath(flag, path);
        return b;
    }

    public override void Configure(InitChannel channel)
    {
        // A planned exec init needs nothing more: the plan came with the bootstrap.
        if (Plan is not null) return;
        var config = InitConfig.ForExec(spec, process, joins, container.State(spec, ContainerStatus.Running), options.PreserveFds, Pid);
        channel.Send(InitMessage.Config, InitConfig.Shape.WriteDocument(config));
    }

    public override void AwaitReady(InitChannel channel)
    {
        channel.Expect(InitMessage.Ready, "before the process was ready");
        // The socket is close-on-exec: end-of-file now means the program runs.
        var after = channel.Receive();
        if (after is { Type: InitMessage.Error } err) throw new HuskException(System.Text.Encoding.UTF8.GetString(err.Payload));
        if (after != null) throw new HuskException($"exec init sent unexpected {after.Value.Type}");
    }

    public override void Terminate()
    {
        if (Pid > 0) Cleanup.KillAndReap(Pid);
        if (Spawned > 0 && Spawned != Pid) Cleanup.KillAndReap(Spawned);
        // Closed already when the caller took it (TerminalRelay.Receive).
        ConsoleParent?.Dispose();
    }

    /// <summary>
    /// The namespaces to join: every type the container's spec lists, through the init's
    /// /proc/PID/ns file (also for those the container itself joined by path), except those this
    /// process is already in (setns into one's own user namespace fails).
    /// </summary>
    public static List<(uint Flag, string Path)> Joins(Spec.Spec spec, int initPid) =>
        Joins(spec, initPid, LinkOf);

    /// <param name="nsLink">What a /proc/PID/ns file links to (its namespace), null when gone.</param>
    public static List<(uint Flag, string Path)> Joins(Spec.Spec spec, int initPid, Func<string, string?> nsLink)
    {
        var joins = new List<(uint, string)>();
        foreach (var ns in spec.Linux?.Namespaces ?? [])
        {
            var kind = NamespaceKinds.Find(ns.Type) ?? throw new HuskException($"/linux/namespaces: unknown namespace type \"{ns.Type}\"");
            var (flag, name) = (kind.CloneFlag, kind.ProcName);
            var path = $"/proc/{initPid}/ns/{name}";
            string? theirs = nsLink(path);
            if (theirs == null) throw new HuskException($"cannot exec: the container's {ns.Type} namespace ({path}) is gone");
            if (theirs == nsLink($"/proc/self/ns/{name}")) continue;
            if (joins.Any(j => j.Item1 == flag)) continue;
            joins.Add((flag, path));
        }
        return joins;
    }

    static string? LinkOf(string path)
    {
        try { return new FileInfo(path).LinkTarget; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
