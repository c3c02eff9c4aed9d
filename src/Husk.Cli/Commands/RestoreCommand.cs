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

    static readonly BoolFlag NoSubreaper = new("no-subreaper", "disable the use of the subreaper used to reap reparented processes (husk restores the init as its own child and uses none: accepted as runc's)");
    static readonly BoolFlag DryRun = new("dry-run", "compare the bundle's spec with the checkpointed one, print every difference and exit 0 (compatible) or 1; restore nothing");

    public override IReadOnlyList<Flag> Flags =>
    [
        .. CheckpointCommand.CriuFlags, SharedFlags.Bundle, SharedFlags.ConsoleSocket, SharedFlags.Detach,
        SharedFlags.PidFile, SharedFlags.NoPivot, NoSubreaper, DryRun,
    ];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        var o = new RestoreOptions(CheckpointCommand.ReadCriuFlags(args, global))
        {
            Id = RequireId(args),
            Bundle = args.Get(SharedFlags.Bundle) ?? Directory.GetCurrentDirectory(),
            PidFile = args.Get(SharedFlags.PidFile),
            Detach = args.Get(SharedFlags.Detach),
            ConsoleSocket = args.Get(SharedFlags.ConsoleSocket),
            NoPivot = args.Get(SharedFlags.NoPivot),
            DryRun = args.Get(DryRun),
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
            status = Foreground.WaitForwardingSignals(result.Pid);
            relay?.Drain(TimeSpan.FromSeconds(2));
        }
        finally { relay?.Dispose(); }
        Operations.Delete(global.Store, o.Id, force: true);
        return Cleanup.ExitCode(status);
    }
}
