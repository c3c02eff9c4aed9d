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

        static readonly Flag[] GlobalFlags =
        [
            new("root", true, "root directory for storage of container state (this should be located in tmpfs)"),
            new("log", true, "set the log file to write husk logs to (default is stderr)"),
            new("log-format", true, "set the log format ('text' (default), or 'json')"),
            new("debug", false, "enable debug logging"),
            new("systemd-cgroup", false, "enable systemd cgroup support (not supported: there is no systemd driver yet)"),
            new("criu", true, "path to the criu binary used for checkpoint and restore"),
            new("rootless", true, "ignore cgroup permission errors ('true', 'false', or 'auto')"),
            new("cdi-spec-dirs", true, "colon-separated CDI spec directories, later ones override earlier ones (default: $HUSK_CDI_SPEC_DIRS, else /etc/cdi:/var/run/cdi)"),
            new("version", false, "print the version", "v"),
            new("help", false, "show help", "h"),
        ];

        public static int Main(string[] argv)
        {
            try
            {
                var global = ArgParser.Parse(argv, GlobalFlags, out int consumed);
                var format = global.Value("log-format") ?? "text";
                if (format is not ("text" or "json")) throw new HuskException($"invalid log-format \"{format}\": use text or json");
                Log.Configure(global.Value("log"), format == "json", global.Bool("debug"));
                Husk.Cdi.CdiConfig.Configure(global.Value("cdi-spec-dirs"));

                if (global.Bool("version"))
                {
                    Console.Out.WriteLine($"husk version {Version}\nspec: 1.2.0");
                    return 0;
                }
                if (consumed >= argv.Length || global.Bool("help"))
                {
                    Console.Out.Write(Help());
                    return consumed >= argv.Length && !global.Bool("help") ? 1 : 0;
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
                var options = new GlobalOptions { Root = global.Value("root") ?? "/run/husk", Criu = global.Value("criu") };
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
        /// not configured yet: find --log and --log-format by hand so the error still reaches the file.
        /// </summary>
        static void ConfigureLogForFailure()
        {
            if (Log.ToFile) return;
            var argv = Environment.GetCommandLineArgs();
            string? path = null, format = null;
            for (int i = 1; i < argv.Length; i++)
            {
                var a = argv[i];
                if (!a.StartsWith('-')) break;   // the command: global flags end here
                var body = a.TrimStart('-');
                string? value = null;
                int eq = body.IndexOf('=');
                if (eq >= 0) { value = body[(eq + 1)..]; body = body[..eq]; }
                else if (body is "log" or "log-format" && i + 1 < argv.Length) value = argv[++i];
                if (body == "log") path = value;
                else if (body == "log-format") format = value;
                else if (body is "root" or "criu" or "rootless" or "cdi-spec-dirs" && eq < 0) i++;
            }
            if (path != null) Log.Configure(path, format == "json", false);
        }

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
            var names = string.Join(", ", f.AllNames.Select(n => n.Length == 1 ? "-" + n : "--" + n));
            if (f.TakesValue) names += " value";
            return $"   {names,-28} {f.Help}\n";
        }
    }
}
