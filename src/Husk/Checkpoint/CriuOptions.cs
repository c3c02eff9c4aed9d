using Husk.Spec;

namespace Husk.Checkpoint;

/// <summary>The CRIU flags `checkpoint` and `restore` share (runc's names).</summary>
public class CriuFlags
{
    public CriuFlags() { }

    /// <summary>A copy of <paramref name="from"/>: the command-specific options start from the shared flags.</summary>
    protected CriuFlags(CriuFlags from)
    {
        CriuBinary = from.CriuBinary; ImagePath = from.ImagePath; WorkPath = from.WorkPath;
        TcpEstablished = from.TcpEstablished; ExtUnixSk = from.ExtUnixSk; ShellJob = from.ShellJob;
        FileLocks = from.FileLocks; AutoDedup = from.AutoDedup; LazyPages = from.LazyPages;
        ManageCgroupsMode = from.ManageCgroupsMode; EmptyNamespaces = from.EmptyNamespaces;
    }

    /// <summary>The global --criu: a path, or a name looked up on PATH; null: "criu".</summary>
    public string? CriuBinary { get; init; }
    /// <summary>--image-path; null: "./checkpoint", as runc.</summary>
    public string? ImagePath { get; init; }
    /// <summary>--work-path (CRIU's logs and work files); null: the image path.</summary>
    public string? WorkPath { get; init; }
    public bool TcpEstablished { get; init; }
    public bool ExtUnixSk { get; init; }
    public bool ShellJob { get; init; }
    public bool FileLocks { get; init; }
    public bool AutoDedup { get; init; }
    public bool LazyPages { get; init; }
    /// <summary>--manage-cgroups-mode: soft, full, strict or ignore (null: CRIU's default, soft).</summary>
    public string? ManageCgroupsMode { get; init; }
    /// <summary>--empty-ns: namespace types ("network") CRIU creates empty instead of restoring their contents.</summary>
    public IReadOnlyList<string> EmptyNamespaces { get; init; } = [];

    internal string ImageDir => Path.GetFullPath(ImagePath ?? "checkpoint");
    internal string WorkDir => WorkPath is { Length: > 0 } w ? Path.GetFullPath(w) : ImageDir;

    /// <summary>
    /// The CRIU options common to dump and restore: its log (level 4) in the work directory, the
    /// container's root, these flags and the container's CRIU configuration file
    /// (<see cref="Criu.SetConfigFile"/>). Notifications are asked for, and orphan_pts_master: a
    /// terminal's master is held outside the container (by whoever got it from the console socket),
    /// so CRIU dumps the slave alone, and at restore makes a new pair and sends its master back.
    /// </summary>
    internal Rpc.criu_opts Options(string logFile, string root, Spec.Spec spec)
    {
        var opts = new Rpc.criu_opts { LogFile = logFile, LogLevel = 4, Root = root, NotifyScripts = true, OrphanPtsMaster = true };
        Criu.SetConfigFile(opts, spec);
        opts.ManageCgroups = true;
        if (ManageCgroupsMode is { Length: > 0 } mode)
            opts.ManageCgroupsMode = mode switch
            {
                "soft" => Rpc.criu_cg_mode.Soft,
                "full" => Rpc.criu_cg_mode.Full,
                "strict" => Rpc.criu_cg_mode.Strict,
                "ignore" => Rpc.criu_cg_mode.Ignore,
                _ => throw new HuskException($"--manage-cgroups-mode \"{mode}\": use soft, full, strict or ignore"),
            };
        opts.TcpEstablished = TcpEstablished;
        opts.ExtUnixSk = ExtUnixSk;
        opts.ShellJob = ShellJob;
        opts.FileLocks = FileLocks;
        opts.AutoDedup = AutoDedup;
        foreach (var ns in EmptyNamespaces)
        {
            if (ns != "network") throw new HuskException($"--empty-ns \"{ns}\": only \"network\" is supported (as runc)");
            opts.EmptyNs = NamespaceKinds.CLONE_NEWNET;   // CRIU's empty_ns takes clone flags
        }
        return opts;
    }
}

/// <summary>`husk checkpoint` options.</summary>
public sealed class CheckpointOptions(CriuFlags common) : CriuFlags(common)
{
    public required string Id { get; init; }
    public bool LeaveRunning { get; init; }
    public bool PreDump { get; init; }
    /// <summary>--parent-path: the previous (pre-)dump, relative to the image path (CRIU's --prev-images-dir).</summary>
    public string? ParentPath { get; init; }
    /// <summary>--page-server ADDRESS:PORT.</summary>
    public string? PageServer { get; init; }
}

/// <summary>`husk restore` options.</summary>
public sealed class RestoreOptions(CriuFlags common) : CriuFlags(common)
{
    public required string Id { get; init; }
    public required string Bundle { get; init; }
    public string? PidFile { get; init; }
    public bool Detach { get; init; }
    public string? ConsoleSocket { get; init; }
    public bool NoPivot { get; init; }
    /// <summary>Compare the specs and stop: no CRIU, no container.</summary>
    public bool DryRun { get; init; }
    public IReadOnlyList<string>? CdiSpecDirs { get; init; }
}
