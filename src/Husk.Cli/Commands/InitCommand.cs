using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk init`: internal; the container's init, started by create (never by hand).</summary>
public sealed class InitCommand : Command
{
    public override string Name => "init";
    public override string Usage => "";
    public override string Summary => "internal: the container's init";
    public override bool Hidden => true;

    public override int Execute(ParsedArgs args, GlobalOptions global) => ContainerInit.Run();
}
