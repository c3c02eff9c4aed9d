using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>
/// `husk events`: JSON lines about a container, as runc prints them: {"type":"stats","id":...,"data":{...}}
/// every --interval (once with --stats) and {"type":"oom","id":...} for each OOM kill, until it stops.
/// </summary>
public sealed class EventsCommand : Command
{
    public override string Name => "events";
    public override string Usage => "[command options] <container-id>";
    public override string Summary => "display container events such as OOM notifications, cpu, memory, and IO usage statistics";

    static readonly TextFlag Interval = new("interval", "set the stats collection interval (default: 5s)");
    static readonly BoolFlag Stats = new("stats", "display the container's stats then exit");

    public override IReadOnlyList<Flag> Flags => [Interval, Stats];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        var id = RequireId(args);
        if (args.Get(Stats))
        {
            Console.Out.WriteLine(ResourceOperations.StatsLine(global.Store, id));
            return 0;
        }
        var interval = ParseDuration(args.Get(Interval) ?? "5s");
        ResourceOperations.Events(global.Store, id, interval, line =>
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        });
        return 0;
    }

    /// <summary>Go durations as runc takes them: "5s", "500ms", "1m30s", "2h".</summary>
    public static TimeSpan ParseDuration(string s)
    {
        var total = TimeSpan.Zero;
        int i = 0;
        if (s.Length == 0) throw new HuskException("--interval: empty duration");
        while (i < s.Length)
        {
            int start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (start == i || !double.TryParse(s[start..i], System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out double n))
                throw new HuskException($"--interval: invalid duration \"{s}\"");
            int u = i;
            while (i < s.Length && !char.IsAsciiDigit(s[i]) && s[i] != '.') i++;
            total += s[u..i] switch
            {
                "ns" => TimeSpan.FromTicks((long)(n / 100)),
                "us" or "µs" => TimeSpan.FromTicks((long)(n * 10)),
                "ms" => TimeSpan.FromMilliseconds(n),
                "s" => TimeSpan.FromSeconds(n),
                "m" => TimeSpan.FromMinutes(n),
                "h" => TimeSpan.FromHours(n),
                _ => throw new HuskException($"--interval: invalid duration \"{s}\" (units: ns, us, ms, s, m, h)"),
            };
        }
        if (total <= TimeSpan.Zero) throw new HuskException($"--interval: duration must be greater than 0, got \"{s}\"");
        return total;
    }
}
