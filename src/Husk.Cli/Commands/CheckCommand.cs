using System.Text;
using System.Text.Json;

namespace Husk.Cli.Commands;

/// <summary>
/// `husk check`: what this host supports and what will not work, as the named checks of
/// <see cref="HostChecks"/>, printed as a table or as JSON.
/// </summary>
public sealed class CheckCommand : Command
{
    public override string Name => "check";
    public override string Usage => "[command options]";
    public override string Summary => "report what this host supports (cgroups, ...) and what will not work";

    static readonly TextFlag Format = new("format", "table (default) or json", "f");

    public override IReadOnlyList<Flag> Flags => [Format];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        var results = HostChecks.Run(global.Criu);
        switch (args.Get(Format) ?? "table")
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
                throw new HuskException($"invalid format option \"{args.Get(Format)}\": use table or json");
        }
        return 0;
    }
}
