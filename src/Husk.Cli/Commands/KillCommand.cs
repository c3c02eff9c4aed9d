using Husk.Container;
using Husk.Linux;

namespace Husk.Cli.Commands;

/// <summary>`husk kill`: send a signal (default SIGTERM) to the container's init, or with --all to every process in it.</summary>
public sealed class KillCommand : Command
{
    public override string Name => "kill";
    public override string Usage => "[command options] <container-id> [signal]";
    public override string Summary => "kill sends the specified signal (default: SIGTERM) to the container's init process";

    static readonly BoolFlag All = new("all", "send the specified signal to all processes inside the container", "a");

    public override IReadOnlyList<Flag> Flags => [All];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        var id = RequireId(args, expected: 2);
        int signal = args.Positional.Count > 1 ? Signals.Parse(args.Positional[1]) : 15;
        Operations.Kill(global.Store, id, signal, args.Get(All));
        return 0;
    }
}
