using System.Text;
using System.Text.Json;
using Husk.Cgroups;

namespace Husk.Cli.Commands;

/// <summary>
/// `husk check`: what this host supports and what will not work, as named checks. Add an area by
/// adding one entry to <see cref="Checks"/> (a name and a function returning its lines).
/// </summary>
public sealed class CheckCommand : Command
{
    public override string Name => "check";
    public override string Usage => "[command options]";
    public override string Summary => "report what this host supports (cgroups, ...) and what will not work";
    public override IReadOnlyList<Flag> Flags => [new("format", true, "table (default) or json", "f")];

    /// <summary>The areas checked, in order.</summary>
    public static readonly (string Area, Func<IEnumerable<CheckResult>> Run)[] Checks =
    [
        ("cgroup", CgroupChecks.Run),
        ("cdi", Husk.Cdi.CdiCheck.Results),
        ("criu", Husk.Checkpoint.CriuChecks.Run),
        ("security", Husk.Seccomp.SecurityChecks.Run),
    ];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        Husk.Checkpoint.CriuChecks.Binary = global.Criu;
        var results = new List<CheckResult>();
        foreach (var (area, run) in Checks)
        {
            try { results.AddRange(run()); }
            catch (HuskException e) { results.Add(new(area, CheckResult.Fail, e.Message)); }
        }
        switch (args.Value("format") ?? "table")
        {
            case "table":
                int width = results.Count == 0 ? 0 : results.Max(r => r.Name.Length);
                foreach (var r in results) Console.Out.WriteLine($"{r.Name.PadRight(width)}  {r.Status,-4}  {r.Detail}");
                break;
            case "json":
                using (var ms = new MemoryStream())
                {
                    using (var w = new Utf8JsonWriter(ms))
                    {
                        w.WriteStartArray();
                        foreach (var r in results)
                        {
                            w.WriteStartObject();
                            w.WriteString("name", r.Name);
                            w.WriteString("status", r.Status);
                            w.WriteString("detail", r.Detail);
                            w.WriteEndObject();
                        }
                        w.WriteEndArray();
                    }
                    Console.Out.WriteLine(Encoding.UTF8.GetString(ms.ToArray()));
                }
                break;
            default:
                throw new HuskException($"invalid format option \"{args.Value("format")}\": use table or json");
        }
        return 0;
    }
}
