using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk delete`: remove a stopped container (with --force, any container).</summary>
public sealed class DeleteCommand : Command
{
    public override string Name => "delete";
    public override string Usage => "[command options] <container-id>";
    public override string Summary => "delete any resources held by the container often used with detached container";

    static readonly BoolFlag Force = new("force", "forcibly deletes the container if it is still running (uses SIGKILL)", "f");

    public override IReadOnlyList<Flag> Flags => [Force];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        Operations.Delete(global.Store, RequireId(args), args.Get(Force));
        return 0;
    }
}
