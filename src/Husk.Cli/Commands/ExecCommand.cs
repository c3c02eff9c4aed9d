using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk exec`: run a new process inside a running container.</summary>
public sealed class ExecCommand : Command
{
    public override string Name => "exec";
    public override string Usage => "[command options] <container-id> <command> [command options]  ||  -p process.json <container-id>";
    public override string Summary => "execute new process inside the container";
    public override bool FlagsAfterArguments => false;

    public override IReadOnlyList<Flag> Flags =>
    [
        new("console-socket", true, "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"),
        new("cwd", true, "current working directory in the container"),
        new("env", true, "set environment variables (repeatable)", "e"),
        new("tty", false, "allocate a pseudo-TTY", "t"),
        new("user", true, "UID (format: <uid>[:<gid>])", "u"),
        new("additional-gids", true, "additional gids (repeatable)", "g"),
        new("process", true, "path to the process.json", "p"),
        new("detach", false, "detach from the container's process", "d"),
        new("pid-file", true, "specify the file to write the process id to"),
        new("process-label", true, "set the asm process label for the process commonly used with selinux"),
        new("apparmor", true, "set the apparmor profile for the process"),
        new("no-new-privs", false, "set the no new privileges value for the process"),
        new("cap", true, "add a capability to the bounding set for the process (repeatable)", "c"),
        new("preserve-fds", true, "pass N additional file descriptors to the container (stdio + N in total)"),
        new("cgroup", true, "run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup> (repeatable)"),
        new("ignore-paused", false, "allow exec in a paused container"),
    ];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        if (args.Positional.Count == 0) throw new HuskException($"exec: a container id is required (usage: husk exec {Usage})");
        var gids = new List<uint>();
        foreach (var g in args.Values("additional-gids"))
            gids.Add(uint.TryParse(g, out var gid) ? gid : throw new HuskException($"--additional-gids: invalid gid \"{g}\""));
        var options = new ExecOptions
        {
            Id = args.Positional[0],
            Args = args.Positional.Skip(1).ToList(),
            ProcessFile = args.Value("process"),
            Tty = args.Has("tty") ? args.Bool("tty") : null,
            ConsoleSocket = args.Value("console-socket"),
            PidFile = args.Value("pid-file"),
            Detach = args.Bool("detach"),
            Cwd = args.Value("cwd"),
            Env = args.Values("env"),
            User = args.Value("user"),
            AdditionalGids = gids,
            Caps = args.Values("cap"),
            NoNewPrivs = args.Has("no-new-privs") ? args.Bool("no-new-privs") : null,
            AppArmor = args.Value("apparmor"),
            ProcessLabel = args.Value("process-label"),
            PreserveFds = args.Int("preserve-fds", 0),
            IgnorePaused = args.Bool("ignore-paused"),
            SubCgroups = args.Values("cgroup"),
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
