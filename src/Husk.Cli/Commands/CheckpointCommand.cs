using Husk.Checkpoint;

namespace Husk.Cli.Commands;

/// <summary>`husk checkpoint`: dump a running container with CRIU (runc's flags; the global --criu picks the binary).</summary>
public sealed class CheckpointCommand : Command
{
    public override string Name => "checkpoint";
    public override string Usage => "[command options] <container-id>";
    public override string Summary => "checkpoint a running container";

    static readonly TextFlag ImagePath = new("image-path", "path for saving criu image files (default ./checkpoint)");
    static readonly TextFlag WorkPath = new("work-path", "path for saving work files and logs (default: the image path)");
    static readonly BoolFlag TcpEstablished = new("tcp-established", "allow open tcp connections");
    static readonly BoolFlag ExtUnixSk = new("ext-unix-sk", "allow external unix sockets");
    static readonly BoolFlag ShellJob = new("shell-job", "allow shell jobs");
    static readonly BoolFlag FileLocks = new("file-locks", "handle file locks, for safety");
    static readonly BoolFlag LazyPages = new("lazy-pages", "use userfaultfd to lazily restore memory pages");
    static readonly TextFlag ManageCgroupsMode = new("manage-cgroups-mode", "cgroups mode: 'soft' (default), 'full', 'strict' or 'ignore'");
    static readonly ListFlag EmptyNs = new("empty-ns", "create a namespace, but don't restore its properties (network)");
    static readonly BoolFlag AutoDedup = new("auto-dedup", "enable auto deduplication of memory images");
    static readonly TextFlag ParentPath = new("parent-path", "path for previous criu image files in pre-dump (relative to the image path)");
    static readonly BoolFlag LeaveRunning = new("leave-running", "leave the process running after checkpointing");
    static readonly BoolFlag PreDump = new("pre-dump", "dump container's memory information only, leave the container running after this");
    static readonly TextFlag PageServer = new("page-server", "ADDRESS:PORT of the page server");

    /// <summary>The CRIU flags checkpoint and restore share.</summary>
    internal static readonly Flag[] CriuFlags =
    [
        ImagePath, WorkPath, TcpEstablished, ExtUnixSk, ShellJob, FileLocks, LazyPages, ManageCgroupsMode,
        EmptyNs, AutoDedup,
    ];

    /// <summary>The values of <see cref="CriuFlags"/> (and the global --criu) from the command line.</summary>
    internal static Husk.Checkpoint.CriuFlags ReadCriuFlags(ParsedArgs args, GlobalOptions global) => new()
    {
        CriuBinary = global.Criu,
        ImagePath = args.Get(ImagePath),
        WorkPath = args.Get(WorkPath),
        TcpEstablished = args.Get(TcpEstablished),
        ExtUnixSk = args.Get(ExtUnixSk),
        ShellJob = args.Get(ShellJob),
        FileLocks = args.Get(FileLocks),
        LazyPages = args.Get(LazyPages),
        ManageCgroupsMode = args.Get(ManageCgroupsMode),
        EmptyNamespaces = args.Get(EmptyNs),
        AutoDedup = args.Get(AutoDedup),
    };

    public override IReadOnlyList<Flag> Flags => [.. CriuFlags, ParentPath, LeaveRunning, PreDump, PageServer];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        Checkpointer.Checkpoint(global.Store, new CheckpointOptions(ReadCriuFlags(args, global))
        {
            Id = RequireId(args),
            ParentPath = args.Get(ParentPath),
            LeaveRunning = args.Get(LeaveRunning),
            PreDump = args.Get(PreDump),
            PageServer = args.Get(PageServer),
        });
        return 0;
    }
}
