using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk create`: set up a container and leave its init waiting for `start`.</summary>
public sealed class CreateCommand : Command
{
    public override string Name => "create";
    public override string Usage => "[command options] <container-id>";
    public override string Summary => "create a container";

    static readonly BoolFlag NoNewKeyring = new("no-new-keyring", "do not create a new session keyring for the container");
    static readonly IntFlag PreserveFds = new("preserve-fds", "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)");

    internal static readonly Flag[] CreateFlags =
    [
        SharedFlags.Bundle, SharedFlags.ConsoleSocket, SharedFlags.PidFile, SharedFlags.NoPivot,
        NoNewKeyring, PreserveFds,
    ];

    public override IReadOnlyList<Flag> Flags => CreateFlags;

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        Creator.Create(global.Store, Options(args, RequireId(args), global));
        return 0;
    }

    internal static CreateOptions Options(ParsedArgs args, string id, GlobalOptions global) => new()
    {
        Id = id,
        Bundle = args.Get(SharedFlags.Bundle) ?? Directory.GetCurrentDirectory(),
        PidFile = args.Get(SharedFlags.PidFile),
        ConsoleSocket = args.Get(SharedFlags.ConsoleSocket),
        NoPivot = args.Get(SharedFlags.NoPivot),
        NoNewKeyring = args.Get(NoNewKeyring),
        PreserveFds = args.Get(PreserveFds),
        Rootless = global.Rootless,
    };
}
