using Husk.Cli.Commands;

namespace Husk.Cli
{
    /// <summary>
    /// husk: runc's command line over the Husk library. Errors are one line on stderr (and in
    /// the --log file), exit status 1; never a stack trace.
    /// </summary>
    public static class HuskCli
    {
        public const string Version = "0.1.0";

        static readonly Command[] Commands =
        [
            new CreateCommand(), new StartCommand(), new RunCommand(), new StateCommand(), new KillCommand(),
            new DeleteCommand(), new ListCommand(), new SpecCommand(), new FeaturesCommand(), new InitCommand(),
            new ExecCommand(), new PauseCommand(), new ResumeCommand(), new UpdateCommand(), new EventsCommand(), new PsCommand(), new CheckCommand(),
            new CheckpointCommand(), new RestoreCommand(),
        ];

        static readonly TextFlag RootFlag = new("root", "root directory for storage of container state (this should be located in tmpfs)");
        static readonly TextFlag LogFlag = new("log", "set the log file to write husk logs to (default is stderr)");
        static readonly TextFlag LogFormatFlag = new("log-format", "set the log format ('text' (default), or 'json')");
        static readonly BoolFlag DebugFlag = new("debug", "enable debug logging");
        static readonly BoolFlag SystemdCgroupFlag = new("systemd-cgroup", "enable systemd cgroup support (refused: husk has no systemd cgroup driver; use cgroupfs)");
        static readonly TextFlag CriuFlag = new("criu", "path to the criu binary used for checkpoint and restore");
        static readonly TextFlag RootlessFlag = new("rootless", "ignore cgroup permission errors ('true', 'false', or 'auto')");
        static readonly TextFlag CdiSpecDirsFlag = new("cdi-spec-dirs", "colon-separated CDI spec directories, later ones override earlier ones (default: $HUSK_CDI_SPEC_DIRS, else /etc/cdi:/var/run/cdi)");
        static readonly BoolFlag VersionFlag = new("version", "print the version", "v");
        static readonly BoolFlag HelpFlag = new("help", "show help", "h");

        static readonly Flag[] GlobalFlags =
            [RootFlag, LogFlag, LogFormatFlag, DebugFlag, SystemdCgroupFlag, CriuFlag, RootlessFlag, CdiSpecDirsFlag, VersionFlag, HelpFlag];

        public static int Main(string[] argv)
        {
            // In a VM of Husk's VM isolation, the guest kernel starts this binary as its init.
            if (Husk.Vm.GuestInit.IsGuestPid1) return Husk.Vm.GuestInit.Run();
            try
            {
                var global = ArgParser.Parse(argv, GlobalFlags, out int consumed);
                var format = global.Get(LogFormatFlag) ?? "text";
                if (format is not ("text" or "json")) throw new HuskException($"invalid log-format \"{format}\": use text or json");
                Log.Configure(global.Get(LogFlag), format == "json", global.Get(DebugFlag));
                Husk.Cdi.CdiConfig.Configure(global.Get(CdiSpecDirsFlag));
                if (global.Get(SystemdCgroupFlag))
                    throw new HuskException("--systemd-cgroup: husk has no systemd cgroup driver; configure the runtime with the cgroupfs driver (containerd: SystemdCgroup = false)");

                if (global.Get(VersionFlag))
                {
                    Console.Out.WriteLine($"husk version {Version}\nspec: 1.2.0");
                    return 0;
                }
                if (consumed >= argv.Length || global.Get(HelpFlag))
                {
                    Console.Out.Write(Help());
                    return consumed >= argv.Length && !global.Get(HelpFlag) ? 1 : 0;
                }
                var name = argv[consumed];
                var command = Commands.FirstOrDefault(c => c.Name == name)
                    ?? throw new HuskException($"unknown command \"{name}\"; see husk --help");
                var rest = argv[(consumed + 1)..];
                if (rest.Length > 0 && rest[0] is "--help" or "-h")
                {
                    Console.Out.Write(CommandHelp(command));
                    return 0;
                }
                var parsed = ArgParser.ParseCommand(rest, command.Flags, command.FlagsAfterArguments);
                var options = new GlobalOptions { Root = global.Get(RootFlag) ?? "/run/husk", Criu = global.Get(CriuFlag), Rootless = Rootless(global.Get(RootlessFlag)) };
                Log.Debug($"husk {string.Join(' ', argv)}");
                return command.Execute(parsed, options);
            }
            catch (HuskException e)
            {
                return Fail(e.Message, e.ExitCode);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Fail(e.Message);
            }
            catch (Exception e)
            {
                // Never a stack trace, and never a failure missing from the --log file that
                // containerd's runc client reads: an unexpected error is one line too.
                return Fail($"internal error: {e.GetType().Name}: {e.Message}");
            }
        }

        const int MaxErrorLength = 2000;

        static int Fail(string message, int exitCode = 1)
        {
            var line = message.ReplaceLineEndings(" ");
            // One readable line even when the message quotes a 10 MB value from the config.
            if (line.Length > MaxErrorLength) line = $"{line[..MaxErrorLength]}... ({line.Length} characters)";
            ConfigureLogForFailure();
            Log.Error(line);
            Console.Error.WriteLine($"husk: {line}");
            return exitCode;
        }

        /// <summary>
        /// When a failure comes before the global flags were applied (a bad global flag), the log is
        /// not configured yet: read --log and --log-format leniently so the error still reaches the file.
        /// </summary>
        static void ConfigureLogForFailure()
        {
            if (Log.ToFile) return;
            try
            {
                var global = ArgParser.Parse(Environment.GetCommandLineArgs()[1..], GlobalFlags, out _, skipUnknown: true);
                if (global.Get(LogFlag) is { } path) Log.Configure(path, global.Get(LogFormatFlag) == "json", false);
            }
            catch (HuskException) { }   // a flag missing its value: there is no log to find
        }

        /// <summary>--rootless: "true" and "false" force the choice, "auto" (or absent) decides by the effective uid, as runc.</summary>
        static bool? Rootless(string? value) => value switch
        {
            null or "auto" => null,
            "true" => true,
            "false" => false,
            _ => throw new HuskException($"--rootless: invalid value \"{value}\": use true, false or auto"),
        };

        static string Help()
        {
            var sb = new System.Text.StringBuilder();
            sb.Append("husk: a secure OCI container runtime (runc's command line)\n\nUSAGE:\n   husk [global options] command [command options] [arguments...]\n\nCOMMANDS:\n");
            foreach (var c in Commands.Where(c => !c.Hidden)) sb.Append($"   {c.Name,-10} {c.Summary}\n");
            sb.Append("\nGLOBAL OPTIONS:\n");
            foreach (var f in GlobalFlags) sb.Append(FlagLine(f));
            return sb.ToString();
        }

        static string CommandHelp(Command c)
        {
            var sb = new System.Text.StringBuilder($"husk {c.Name} - {c.Summary}\n\nUSAGE:\n   husk {c.Name} {c.Usage}\n");
            if (c.Flags.Count > 0)
            {
                sb.Append("\nOPTIONS:\n");
                foreach (var f in c.Flags) sb.Append(FlagLine(f));
            }
            return sb.ToString();
        }

        static string FlagLine(Flag f)
        {
            var names = new System.Text.StringBuilder(Dashed(f.Name));
            foreach (var n in f.Aliases) names.Append(", ").Append(Dashed(n));
            if (f.TakesValue) names.Append(" value");
            return $"   {names,-28} {f.Help}\n";
        }

        static string Dashed(string name) => name.Length == 1 ? "-" + name : "--" + name;
    }
}
