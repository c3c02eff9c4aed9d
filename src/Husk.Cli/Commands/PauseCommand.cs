using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk pause`: freeze every process of a running container (freezer v1, cgroup.freeze v2).</summary>
public sealed class PauseCommand : Command
{
    public override string Name => "pause";
    public override string Usage => "<container-id>";
    public override string Summary => "pause suspends all processes inside the container";

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        ResourceOperations.Pause(global.Store, RequireId(args));
        return 0;
    }
}
