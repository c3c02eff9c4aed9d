using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk run`: create and start a container; in the foreground, wait and return its exit code.</summary>
public sealed class RunCommand : Command
{
    public override string Name => "run";
    public override string Usage => "[command options] <container-id>";
    public override string Summary => "create and run a container";

    static readonly BoolFlag Keep = new("keep", "do not delete the container after it exits");

    public override IReadOnlyList<Flag> Flags =>
        [.. CreateCommand.CreateFlags, SharedFlags.Detach, Keep];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        var options = CreateCommand.Options(args, RequireId(args), global);
        return Runner.Run(global.Store, options, args.Get(SharedFlags.Detach), args.Get(Keep));
    }
}
