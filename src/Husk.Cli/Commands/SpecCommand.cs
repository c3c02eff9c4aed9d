using Husk.Spec;

namespace Husk.Cli.Commands;

/// <summary>`husk spec`: write a default config.json into the bundle directory, as `runc spec` does.</summary>
public sealed class SpecCommand : Command
{
    public override string Name => "spec";
    public override string Usage => "[command options]";
    public override string Summary => "create a new specification file";

    static readonly TextFlag Bundle = new("bundle", "path to the root of the bundle directory", "b");
    static readonly BoolFlag Rootless = new("rootless", "generate a configuration for a rootless container");

    public override IReadOnlyList<Flag> Flags => [Bundle, Rootless];

    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        var bundle = args.Get(Bundle) ?? ".";
        var path = Path.Combine(bundle, "config.json");
        if (File.Exists(path)) throw new HuskException($"File {path} exists. Remove it first");
        bool cgroupV2 = Husk.Cgroups.CgroupHost.DetectLayout() == Husk.Cgroups.CgroupLayout.V2;
        var spec = DefaultSpec.Create(args.Get(Rootless), Husk.Linux.Native.geteuid(), Husk.Linux.Native.getegid(), cgroupNamespace: cgroupV2);
        try { File.WriteAllText(path, SpecJson.Serialize(spec, indented: true) + "\n"); }
        catch (IOException e) { throw new HuskException($"cannot write {path}: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new HuskException($"cannot write {path}: {e.Message}"); }
        return 0;
    }
}
