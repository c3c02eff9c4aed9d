using System.Text;
using Husk.Container;
using Husk.Spec;

namespace Husk.Cli.Commands;

/// <summary>`husk list`: the containers under --root, as a table, JSON, or ids only.</summary>
public sealed class ListCommand : Command
{
    public override string Name => "list";
    public override string Usage => "[command options]";
    public override string Summary => "lists containers started by husk with the given root";

    static readonly TextFlag Format = new("format", "select one of: table or json (default: \"table\")", "f");
    static readonly BoolFlag Quiet = new("quiet", "display only container IDs", "q");

    public override IReadOnlyList<Flag> Flags => [Format, Quiet];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        var states = Operations.List(global.Store);
        if (args.Get(Quiet))
        {
            foreach (var s in states) Console.Out.WriteLine(s.ID);
            return 0;
        }
        switch (args.Get(Format) ?? "table")
        {
            case "json":
                Console.Out.WriteLine(SpecJson.Serialize(states.ToList()));
                return 0;
            case "table":
                Console.Out.Write(Table(states));
                return 0;
            default:
                throw new HuskException($"invalid format option \"{args.Get(Format)}\": use table or json");
        }
    }

    static string Table(IReadOnlyList<State> states)
    {
        string[] header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
        var rows = states.Select(s => new[] { s.ID, s.Pid.ToString(), s.Status, s.Bundle, s.Created, s.Owner }).Prepend(header).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(c => rows.Max(r => (r[c] ?? "").Length) + 3).ToArray();
        var sb = new StringBuilder();
        foreach (var r in rows)
        {
            for (int c = 0; c < r.Length; c++) sb.Append(c == r.Length - 1 ? r[c] : (r[c] ?? "").PadRight(widths[c]));
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
