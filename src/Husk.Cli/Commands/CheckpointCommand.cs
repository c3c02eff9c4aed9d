using Husk.Checkpoint;

namespace Husk.Cli.Commands;

/// <summary>`husk checkpoint`: dump a running container with CRIU (runc's flags; the global --criu picks the binary).</summary>
public sealed class CheckpointCommand : Command
{
    public override string Name => "checkpoint";
    public override string Usage => "[command options] <container-id>";
    public override string Summary => "checkpoint a running container";

    /// <summary>The CRIU flags checkpoint and restore share.</summary>
    internal static readonly Flag[] CriuFlags =
    [
        new("image-path", true, "path for saving criu image files (default ./checkpoint)"),
        new("work-path", true, "path for saving work files and logs (default: the image path)"),
        new("tcp-established", false, "allow open tcp connections"),
        new("ext-unix-sk", false, "allow external unix sockets"),
        new("shell-job", false, "allow shell jobs"),
        new("file-locks", false, "handle file locks, for safety"),
        new("lazy-pages", false, "use userfaultfd to lazily restore memory pages"),
        new("manage-cgroups-mode", true, "cgroups mode: 'soft' (default), 'full', 'strict' or 'ignore'"),
        new("empty-ns", true, "create a namespace, but don't restore its properties (network)"),
        new("auto-dedup", false, "enable auto deduplication of memory images"),
    ];

    /// <summary>The values of <see cref="CriuFlags"/> (and the global --criu) from the command line.</summary>
    internal static Husk.Checkpoint.CriuFlags ReadCriuFlags(ParsedArgs args, GlobalOptions global) => new()
    {
        CriuBinary = global.Criu,
        ImagePath = args.Value("image-path"),
        WorkPath = args.Value("work-path"),
        TcpEstablished = args.Bool("tcp-established"),
        ExtUnixSk = args.Bool("ext-unix-sk"),
        ShellJob = args.Bool("shell-job"),
        FileLocks = args.Bool("file-locks"),
        LazyPages = args.Bool("lazy-pages"),
        ManageCgroupsMode = args.Value("manage-cgroups-mode"),
        EmptyNamespaces = args.Values("empty-ns"),
        AutoDedup = args.Bool("auto-dedup"),
    };

    public override IReadOnlyList<Flag> Flags =>
    [
        .. CriuFlags,
        new("parent-path", true, "path for previous criu image files in pre-dump (relative to the image path)"),
        new("leave-running", false, "leave the process running after checkpointing"),
        new("pre-dump", false, "dump container's memory information only, leave the container running after this"),
        new("page-server", true, "ADDRESS:PORT of the page server"),
    ];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        Checkpointer.Checkpoint(global.Store, new CheckpointOptions(ReadCriuFlags(args, global))
        {
            Id = RequireId(args),
            ParentPath = args.Value("parent-path"),
            LeaveRunning = args.Bool("leave-running"),
            PreDump = args.Bool("pre-dump"),
            PageServer = args.Value("page-server"),
        });
        return 0;
    }
}
