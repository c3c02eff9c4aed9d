using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk exec`: run a new process inside a running container.</summary>
public sealed class ExecCommand : Command
{
    public override string Name => "exec";
    public override string Usage => "[command options] <container-id> <command> [command options]  ||  -p process.json <container-id>";
    public override string Summary => "execute new process inside the container";
    public override bool FlagsAfterArguments => false;

    static readonly TextFlag Cwd = new("cwd", "current working directory in the container");
    static readonly ListFlag Env = new("env", "set environment variables (repeatable)", "e");
    static readonly BoolFlag Tty = new("tty", "allocate a pseudo-TTY", "t");
    static readonly TextFlag User = new("user", "UID (format: <uid>[:<gid>])", "u");
    static readonly ListFlag AdditionalGids = new("additional-gids", "additional gids (repeatable)", "g");
    static readonly TextFlag Process = new("process", "path to the process.json", "p");
    static readonly TextFlag ProcessLabel = new("process-label", "set the asm process label for the process commonly used with selinux");
    static readonly TextFlag Apparmor = new("apparmor", "set the apparmor profile for the process");
    static readonly BoolFlag NoNewPrivs = new("no-new-privs", "set the no new privileges value for the process");
    static readonly ListFlag Cap = new("cap", "add a capability to the bounding set for the process (repeatable)", "c");
    static readonly IntFlag PreserveFds = new("preserve-fds", "pass N additional file descriptors to the container (stdio + N in total)");
    static readonly ListFlag Cgroup = new("cgroup", "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup> (repeatable)");
    static readonly BoolFlag IgnorePaused = new("ignore-paused", "allow exec in a paused container");

    public override IReadOnlyList<Flag> Flags =>
    [
        SharedFlags.ConsoleSocket, Cwd, Env, Tty, User, AdditionalGids, Process, SharedFlags.Detach,
        SharedFlags.PidFile, ProcessLabel, Apparmor, NoNewPrivs, Cap, PreserveFds, Cgroup, IgnorePaused,
    ];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        if (args.Positional.Count == 0) throw new HuskException($"exec: a container id is required (usage: husk exec {Usage})");
        var gids = new List<uint>();
        foreach (var g in args.Get(AdditionalGids))
            gids.Add(uint.TryParse(g, out var gid) ? gid : throw new HuskException($"--additional-gids: invalid gid \"{g}\""));
        var options = new ExecOptions
        {
            Id = args.Positional[0],
            Args = args.Positional.Skip(1).ToList(),
            ProcessFile = args.Get(Process),
            Tty = args.GetIfGiven(Tty),
            ConsoleSocket = args.Get(SharedFlags.ConsoleSocket),
            PidFile = args.Get(SharedFlags.PidFile),
            Detach = args.Get(SharedFlags.Detach),
            Cwd = args.Get(Cwd),
            Env = args.Get(Env),
            User = args.Get(User),
            AdditionalGids = gids,
            Caps = args.Get(Cap),
            NoNewPrivs = args.GetIfGiven(NoNewPrivs),
            AppArmor = args.Get(Apparmor),
            ProcessLabel = args.Get(ProcessLabel),
            PreserveFds = args.Get(PreserveFds),
            IgnorePaused = args.Get(IgnorePaused),
            SubCgroups = args.Get(Cgroup),
        };
        // runc exits 255 for every failure past the arguments (no such container, paused, the
        // program cannot start), so a caller tells them from the process's own exit status.
        try { return Executor.Exec(global.Store, options); }
        catch (HuskException e) { throw new HuskException(e.Message, e) { ExitCode = ExecFailed }; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HuskException(e.Message, e) { ExitCode = ExecFailed };
        }
    }

    const int ExecFailed = 255;
}
