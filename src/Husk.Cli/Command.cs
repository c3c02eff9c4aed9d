using Husk.Container;

namespace Husk.Cli;

/// <summary>The global flags, shared by every command.</summary>
public sealed class GlobalOptions
{
    public string Root { get; init; } = "/run/husk";
    /// <summary>The global --criu: CRIU's path, or a name looked up on PATH; null: "criu".</summary>
    public string? Criu { get; init; }
    /// <summary>The global --rootless: true, false, or null for "auto" (by the effective uid).</summary>
    public bool? Rootless { get; init; }
    public StateStore Store => new(Root);
}

/// <summary>The flags several commands take (create, run, restore, exec), declared once.</summary>
public static class SharedFlags
{
    public static readonly TextFlag Bundle = new("bundle", "path to the root of the bundle directory, defaults to the current directory", "b");
    public static readonly TextFlag ConsoleSocket = new("console-socket", "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal");
    public static readonly TextFlag PidFile = new("pid-file", "specify the file to write the process id to");
    public static readonly BoolFlag NoPivot = new("no-pivot", "do not use pivot root to jail process inside rootfs");
    public static readonly BoolFlag Detach = new("detach", "detach from the container's process", "d");
}

/// <summary>One CLI command: one file each under Commands/.</summary>
public abstract class Command
{
    public abstract string Name { get; }
    public abstract string Usage { get; }
    public abstract string Summary { get; }
    public virtual IReadOnlyList<Flag> Flags => [];
    public virtual bool Hidden => false;

    /// <summary>Whether flags may follow the arguments (urfave/cli reorders them; runc's exec and ps do not, to pass flags on to their program).</summary>
    public virtual bool FlagsAfterArguments => true;

    public abstract int Execute(ParsedArgs args, GlobalOptions global);

    /// <summary>The single container id argument most commands take.</summary>
    protected string RequireId(ParsedArgs args, int expected = 1)
    {
        if (args.Positional.Count == 0) throw new HuskException($"{Name}: a container id is required (usage: husk {Name} {Usage})");
        if (args.Positional.Count > expected)
            throw new HuskException($"{Name}: expected {expected} argument(s), got {args.Positional.Count} (usage: husk {Name} {Usage})");
        return args.Positional[0];
    }
}
