using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk create`: set up a container and leave its init waiting for `start`.</summary>
public sealed class CreateCommand : Command
{
    public override string Name => "create";
    public override string Usage => "[command options] <container-id>";
    public override string Summary => "create a container";

    internal static readonly Flag[] CreateFlags =
    [
        new("bundle", true, "path to the root of the bundle directory, defaults to the current directory", "b"),
        new("console-socket", true, "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"),
        new("pid-file", true, "specify the file to write the process id to"),
        new("no-pivot", false, "do not use pivot root to jail process inside rootfs"),
        new("no-new-keyring", false, "do not create a new session keyring for the container"),
        new("preserve-fds", true, "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"),
    ];

    public override IReadOnlyList<Flag> Flags => CreateFlags;

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        Creator.Create(global.Store, Options(args, RequireId(args)));
        return 0;
    }

    internal static CreateOptions Options(ParsedArgs args, string id) => new()
    {
        Id = id,
        Bundle = args.Value("bundle") ?? Directory.GetCurrentDirectory(),
        PidFile = args.Value("pid-file"),
        ConsoleSocket = args.Value("console-socket"),
        NoPivot = args.Bool("no-pivot"),
        NoNewKeyring = args.Bool("no-new-keyring"),
        PreserveFds = args.Int("preserve-fds", 0),
    };
}
