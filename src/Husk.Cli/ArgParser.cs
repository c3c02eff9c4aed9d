namespace Husk.Cli;

/// <summary>
/// A flag a command accepts: its names (long and short, without dashes) and its help. Each command
/// declares its flags once, as static fields of these kinds, and reads them typed through
/// <see cref="ParsedArgs"/> with the same field: no flag is read by a string literal.
/// </summary>
public abstract class Flag(string name, string help, string[] aliases)
{
    public string Name => name;
    public string Help => help;
    /// <summary>Its other names (e.g. a one-letter one), without dashes.</summary>
    public ReadOnlySpan<string> Aliases => aliases;
    public bool IsNamed(string n) => n == name || Array.IndexOf(aliases, n) >= 0;
    public abstract bool TakesValue { get; }
}

/// <summary>A flag without a value: "--x" (true), "--x=false"; absent is false.</summary>
public sealed class BoolFlag(string name, string help, params string[] aliases) : Flag(name, help, aliases)
{
    public override bool TakesValue => false;
}

/// <summary>A flag with a value; given more than once, the last one counts.</summary>
public sealed class TextFlag(string name, string help, params string[] aliases) : Flag(name, help, aliases)
{
    public override bool TakesValue => true;
}

/// <summary>A flag with a value that may be repeated; every value counts, in order.</summary>
public sealed class ListFlag(string name, string help, params string[] aliases) : Flag(name, help, aliases)
{
    public override bool TakesValue => true;
}

/// <summary>A flag whose value is a whole number; absent is 0.</summary>
public sealed class IntFlag(string name, string help, params string[] aliases) : Flag(name, help, aliases)
{
    public override bool TakesValue => true;
}

/// <summary>The flags and positional arguments given to one command, read with the flags' own declarations.</summary>
public sealed class ParsedArgs
{
    readonly Dictionary<string, List<string>> _values = [];
    public List<string> Positional { get; } = [];

    internal void Add(string flag, string value)
    {
        if (!_values.TryGetValue(flag, out var list)) _values[flag] = list = [];
        list.Add(value);
    }

    /// <summary>Whether the flag was on the command line at all (with any value).</summary>
    public bool Has(Flag flag) => _values.ContainsKey(flag.Name);

    public string? Get(TextFlag flag) => Last(flag);

    public IReadOnlyList<string> Get(ListFlag flag) => _values.TryGetValue(flag.Name, out var l) ? l : [];

    public bool Get(BoolFlag flag) => GetIfGiven(flag) ?? false;

    /// <summary>null when the flag was not given (callers that let the process.json decide).</summary>
    public bool? GetIfGiven(BoolFlag flag) => Last(flag) switch
    {
        null => null,
        "true" or "1" or "t" or "T" or "TRUE" or "True" => true,
        "false" or "0" or "f" or "F" or "FALSE" or "False" => false,
        var v => throw new HuskException($"--{flag.Name}: invalid boolean \"{v}\""),
    };

    public int Get(IntFlag flag) => Last(flag) is not { } v ? 0
        : int.TryParse(v, out var n) ? n : throw new HuskException($"--{flag.Name}: invalid number \"{v}\"");

    string? Last(Flag flag) => _values.TryGetValue(flag.Name, out var l) ? l[^1] : null;
}

/// <summary>
/// runc's command-line conventions (urfave/cli over Go's flag package): "--name value",
/// "--name=value", "-name value" and short aliases "-b value"; booleans take no value unless
/// written "--name=false"; flag parsing stops at the first positional argument or at "--".
/// </summary>
public static class ArgParser
{
    /// <param name="skipUnknown">Pass over flags not in <paramref name="flags"/> instead of failing (best effort, for
    /// finding --log when the command line itself is the error).</param>
    public static ParsedArgs Parse(IReadOnlyList<string> args, IReadOnlyList<Flag> flags, out int consumed, bool stopAtPositional = true, bool skipUnknown = false)
    {
        var byName = new Dictionary<string, Flag>();
        // Loops, not Linq: this runs in every husk process, and each generic iterator costs its
        // first-call dispatch and fresh pages there.
        foreach (var f in flags)
        {
            byName[f.Name] = f;
            foreach (var n in f.Aliases) byName[n] = f;
        }
        var result = new ParsedArgs();
        int i = 0;
        for (; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--") { i++; break; }
            if (a.Length < 2 || a[0] != '-')
            {
                if (stopAtPositional) break;
                result.Positional.Add(a);
                continue;
            }
            var body = a.TrimStart('-');
            string? inline = null;
            int eq = body.IndexOf('=');
            if (eq >= 0) { inline = body[(eq + 1)..]; body = body[..eq]; }
            if (!byName.TryGetValue(body, out var flag))
            {
                if (skipUnknown) continue;
                throw new HuskException($"flag provided but not defined: -{body}");
            }
            if (!flag.TakesValue)
            {
                result.Add(flag.Name, inline ?? "true");
                continue;
            }
            if (inline == null)
            {
                if (i + 1 >= args.Count) throw new HuskException($"flag needs an argument: -{body}");
                inline = args[++i];
            }
            result.Add(flag.Name, inline);
        }
        consumed = i;
        return result;
    }

    /// <summary>
    /// Parses a command's flags, then takes every remaining argument as positional. With
    /// <paramref name="flagsAfterArguments"/> flags may also come after the arguments
    /// (`update ID --cpu-period N`), as urfave/cli's reordering lets them for runc's commands.
    /// </summary>
    public static ParsedArgs ParseCommand(IReadOnlyList<string> args, IReadOnlyList<Flag> flags, bool flagsAfterArguments = false)
    {
        if (flagsAfterArguments) args = FlagsFirst(args, flags);
        var parsed = Parse(args, flags, out int consumed);
        for (int i = consumed; i < args.Count; i++) parsed.Positional.Add(args[i]);
        return parsed;
    }

    /// <summary>
    /// urfave/cli v1's reorderArgs: every flag (with its value) moved before the other arguments, up
    /// to "--". Unlike urfave a flag that takes no value never takes the next argument with it, so
    /// `kill ID --all KILL` keeps KILL as the signal (runc would read KILL as the container id).
    /// </summary>
    static List<string> FlagsFirst(IReadOnlyList<string> args, IReadOnlyList<Flag> flags)
    {
        var flagArgs = new List<string>();
        var others = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--")
            {
                for (; i < args.Count; i++) others.Add(args[i]);
                break;
            }
            if (a.Length < 2 || a[0] != '-')
            {
                others.Add(a);
                continue;
            }
            flagArgs.Add(a);
            var body = a.TrimStart('-');
            if (body.Contains('=') || i + 1 >= args.Count) continue;
            foreach (var f in flags)
                if (f.IsNamed(body))
                {
                    if (f.TakesValue) flagArgs.Add(args[++i]);
                    break;
                }
        }
        return [.. flagArgs, .. others];
    }
}
