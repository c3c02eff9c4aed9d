using System.Diagnostics;
using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>
/// `husk ps`: the processes of a container. json: an array of host pids; table: the output of
/// `ps` (with the arguments given after the id, default -ef) limited to the container's processes.
/// A container in its own VM: the pids in the guest, in both formats.
/// </summary>
public sealed class PsCommand : Command
{
    public override string Name => "ps";
    public override string Usage => "[command options] <container-id> [ps options]";
    public override string Summary => "ps displays the processes running inside a container";
    public override bool FlagsAfterArguments => false;

    static readonly TextFlag Format = new("format", "select one of: table or json (default: \"table\")", "f");

    public override IReadOnlyList<Flag> Flags => [Format];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        if (args.Positional.Count == 0) throw new HuskException($"ps: a container id is required (usage: husk ps {Usage})");
        var id = args.Positional[0];
        var psArgs = args.Positional.Skip(1).ToList();
        var format = args.Get(Format) ?? "table";
        if (format is not ("table" or "json")) throw new HuskException($"invalid format option \"{format}\": use table or json");
        var pids = ResourceOperations.Pids(global.Store, id);
        if (format == "json")
        {
            if (psArgs.Count > 0) throw new HuskException("ps: arguments for ps cannot be used with --format json");
            Console.Out.WriteLine("[" + string.Join(",", pids) + "]");
            return 0;
        }
        // The host's ps cannot show a guest's processes: their pids alone.
        if (ResourceOperations.InVm(global.Store, id))
        {
            Console.Out.WriteLine("PID");
            foreach (var pid in pids) Console.Out.WriteLine(pid);
            return 0;
        }
        if (psArgs.Count == 0) psArgs = ["-ef"];
        var psi = new ProcessStartInfo("ps") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in psArgs) psi.ArgumentList.Add(a);
        string output, error;
        int code;
        try
        {
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            error = err.Result;
            code = p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e) { throw new HuskException($"ps: cannot run ps: {e.Message}"); }
        if (code != 0) throw new HuskException($"ps: ps {string.Join(' ', psArgs)} failed: {error.Trim()}");
        var lines = output.Split('\n');
        if (lines.Length == 0 || lines[0].Length == 0) return 0;
        int pidCol = Array.IndexOf(lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries), "PID");
        if (pidCol < 0) throw new HuskException("ps: the ps output has no PID column");
        var set = pids.ToHashSet();
        Console.Out.WriteLine(lines[0]);
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > pidCol && int.TryParse(f[pidCol], out int pid) && set.Contains(pid)) Console.Out.WriteLine(line);
        }
        return 0;
    }
}
