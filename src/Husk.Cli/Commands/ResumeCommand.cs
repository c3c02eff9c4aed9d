using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk resume`: thaw a paused container.</summary>
public sealed class ResumeCommand : Command
{
    public override string Name => "resume";
    public override string Usage => "<container-id>";
    public override string Summary => "resumes all processes that have been previously paused";

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        ResourceOperations.Resume(global.Store, RequireId(args));
        return 0;
    }
}
