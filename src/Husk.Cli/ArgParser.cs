namespace Husk.Cli;

/// <summary>A flag a command accepts: its names (long and short, without dashes) and whether it takes a value.</summary>
public sealed record Flag(string Name, bool TakesValue, string Help, params string[] Aliases)
{
    public IEnumerable<string> AllNames => Aliases.Prepend(Name);
}

/// <summary>The flags and positional arguments given to one command.</summary>
public sealed class ParsedArgs
{
    readonly Dictionary<string, List<string>> _values = [];
    public List<string> Positional { get; } = [];

    internal void Add(string flag, string value)
    {
        if (!_values.TryGetValue(flag, out var list)) _values[flag] = list = [];
        list.Add(value);
    }

    public bool Has(string flag) => _values.ContainsKey(flag);
    public string? Value(string flag) => _values.TryGetValue(flag, out var l) ? l[^1] : null;
    public IReadOnlyList<string> Values(string flag) => _values.TryGetValue(flag, out var l) ? l : [];

    public bool Bool(string flag) => Value(flag) is { } v && v switch
    {
        "true" or "1" or "t" or "T" or "TRUE" or "True" => true,
        "false" or "0" or "f" or "F" or "FALSE" or "False" => false,
        _ => throw new HuskException($"--{flag}: invalid boolean \"{v}\""),
    };

    public int Int(string flag, int fallback) => Value(flag) is not { } v ? fallback
        : int.TryParse(v, out var n) ? n : throw new HuskException($"--{flag}: invalid number \"{v}\"");
}

/// <summary>
/// runc's command-line conventions (urfave/cli over Go's flag package): "--name value",
/// "--name=value", "-name value" and short aliases "-b value"; booleans take no value unless
/// written "--name=false"; flag parsing stops at the first positional argument or at "--".
/// </summary>
public static class ArgParser
{
    public static ParsedArgs Parse(IReadOnlyList<string> args, IReadOnlyList<Flag> flags, out int consumed, bool stopAtPositional = true)
    {
        var byName = new Dictionary<string, Flag>();
        foreach (var f in flags) foreach (var n in f.AllNames) byName[n] = f;
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
            if (!byName.TryGetValue(body, out var flag)) throw new HuskException($"flag provided but not defined: -{body}");
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
            if (!body.Contains('=') && flags.FirstOrDefault(f => f.AllNames.Contains(body)) is { TakesValue: true } && i + 1 < args.Count)
                flagArgs.Add(args[++i]);
        }
        return [.. flagArgs, .. others];
    }
}
