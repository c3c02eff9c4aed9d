using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk start`: make a created container run its process.</summary>
public sealed class StartCommand : Command
{
    public override string Name => "start";
    public override string Usage => "<container-id>";
    public override string Summary => "executes the user defined process in a created container";

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        Operations.Start(global.Store, RequireId(args));
        return 0;
    }
}
