using Husk.Container;
using Husk.Spec;

namespace Husk.Cli.Commands;

/// <summary>`husk state`: print the OCI state of a container as JSON.</summary>
public sealed class StateCommand : Command
{
    public override string Name => "state";
    public override string Usage => "<container-id>";
    public override string Summary => "output the state of a container";

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        Console.Out.WriteLine(SpecJson.Serialize(Operations.GetState(global.Store, RequireId(args)), indented: true));
        return 0;
    }
}
