using Husk.Checkpoint;
using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>
/// `husk restore`: check the bundle's spec against the checkpointed one, then restore the
/// container with CRIU. --dry-run prints the comparison and exits 0 (compatible) or 1.
/// </summary>
public sealed class RestoreCommand : Command
{
    public override string Name => "restore";
    public override string Usage => "[command options] <container-id>";
    public override string Summary => "restore a container from a previous checkpoint";

    public override IReadOnlyList<Flag> Flags =>
    [
        .. CheckpointCommand.CriuFlags,
        new("bundle", true, "path to the root of the bundle directory, defaults to the current directory", "b"),
        new("console-socket", true, "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"),
        new("detach", false, "detach from the container's process", "d"),
        new("pid-file", true, "specify the file to write the process id to"),
        new("no-pivot", false, "do not use pivot root to jail process inside rootfs"),
        new("no-subreaper", false, "disable the use of the subreaper used to reap reparented processes"),
        new("dry-run", false, "compare the bundle's spec with the checkpointed one, print every difference and exit 0 (compatible) or 1; restore nothing"),
    ];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        var o = new RestoreOptions(CheckpointCommand.ReadCriuFlags(args, global))
        {
            Id = RequireId(args),
            Bundle = args.Value("bundle") ?? Directory.GetCurrentDirectory(),
            PidFile = args.Value("pid-file"),
            Detach = args.Bool("detach"),
            ConsoleSocket = args.Value("console-socket"),
            NoPivot = args.Bool("no-pivot"),
            DryRun = args.Bool("dry-run"),
        };
        var result = Restorer.Restore(global.Store, o);
        if (o.DryRun)
        {
            Console.Out.Write(result.Comparison.Report());
            return result.Comparison.Compatible ? 0 : 1;
        }
        if (o.Detach) return 0;
        // In the foreground: the restored init is our child (CRIU restored it as its sibling); wait for
        // it as `run` does, relaying its terminal when it has one and no --console-socket took it.
        var relay = result.ConsoleMaster >= 0 ? TerminalRelay.Start(result.ConsoleMaster) : null;
        int status;
        try
        {
            status = Runner.WaitForwardingSignals(result.Pid);
            relay?.Drain(TimeSpan.FromSeconds(2));
        }
        finally { relay?.Dispose(); }
        Operations.Delete(global.Store, o.Id, force: true);
        return Cleanup.ExitCode(status);
    }
}
