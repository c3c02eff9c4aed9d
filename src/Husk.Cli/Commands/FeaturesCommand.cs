using Husk.Spec;

namespace Husk.Cli.Commands;

/// <summary>`husk features`: what this runtime supports, per the runtime-spec features document.</summary>
public sealed class FeaturesCommand : Command
{
    public override string Name => "features";
    public override string Usage => "";
    public override string Summary => "show the enabled features";

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        Console.Out.WriteLine(SpecJson.Serialize(Features.Build(), indented: true));
        return 0;
    }
}
