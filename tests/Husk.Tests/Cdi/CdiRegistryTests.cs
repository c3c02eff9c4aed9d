using Husk.Cdi;
using Xunit;

namespace Husk.Tests.Cdi;

/// <summary>Spec directories: later directories override earlier ones; two definitions in one directory conflict.</summary>
public sealed class CdiRegistryTests : IDisposable
{
    readonly string _tmp = Directory.CreateTempSubdirectory("husk-cdi-reg-").FullName;

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    string Dir(string name)
    {
        var d = Path.Combine(_tmp, name);
        Directory.CreateDirectory(d);
        return d;
    }

    static string Spec(string kind, string device, string env, string version = "0.6.0") =>
        $$$"""{"cdiVersion":"{{{version}}}","kind":"{{{kind}}}","devices":[{"name":"{{{device}}}","containerEdits":{"env":["{{{env}}}"]}}]}""";

    static string Env(CdiResolvedDevice d) => d.Device.ContainerEdits.Env[0];

    [Fact]
    public void A_later_directory_overrides_an_earlier_one()
    {
        var etc = Dir("etc");
        var run = Dir("run");
        File.WriteAllText(Path.Combine(etc, "a.json"), Spec("vendor.com/gpu", "0", "FROM=etc"));
        File.WriteAllText(Path.Combine(etc, "b.json"), Spec("vendor.com/gpu", "1", "FROM=etc"));
        File.WriteAllText(Path.Combine(run, "z.yaml"), "cdiVersion: 0.6.0\nkind: vendor.com/gpu\ndevices:\n  - name: \"0\"\n    containerEdits:\n      env: [FROM=run]\n");

        var reg = CdiRegistry.Load([etc, run]);
        Assert.Empty(reg.Errors);
        Assert.Equal("FROM=run", Env(reg.Resolve("vendor.com/gpu=0")));
        Assert.Equal("FROM=etc", Env(reg.Resolve("vendor.com/gpu=1")));

        // Reversed priority: etc now wins.
        reg = CdiRegistry.Load([run, etc]);
        Assert.Equal("FROM=etc", Env(reg.Resolve("vendor.com/gpu=0")));
    }

    [Fact]
    public void The_same_device_twice_in_one_directory_is_a_clear_conflict()
    {
        var etc = Dir("etc");
        File.WriteAllText(Path.Combine(etc, "a.json"), Spec("vendor.com/gpu", "0", "A=1"));
        File.WriteAllText(Path.Combine(etc, "b.yaml"), "cdiVersion: 0.6.0\nkind: vendor.com/gpu\ndevices:\n  - {name: \"0\", containerEdits: {env: [A=2]}}\n  - {name: \"1\", containerEdits: {env: [A=2]}}\n");

        var reg = CdiRegistry.Load([etc]);
        var e = Assert.Throws<HuskException>(() => reg.Resolve("vendor.com/gpu=0"));
        Assert.Contains("\"vendor.com/gpu=0\"", e.Message);
        Assert.Contains(Path.Combine(etc, "a.json"), e.Message);
        Assert.Contains(Path.Combine(etc, "b.yaml"), e.Message);
        Assert.Contains("same directory", e.Message);
        // The other device of the file is fine.
        Assert.Equal("A=2", Env(reg.Resolve("vendor.com/gpu=1")));
        Assert.Single(reg.Conflicts);
    }

    [Fact]
    public void A_higher_priority_directory_settles_a_conflict_below_it()
    {
        var etc = Dir("etc");
        var run = Dir("run");
        File.WriteAllText(Path.Combine(etc, "a.json"), Spec("vendor.com/gpu", "0", "A=1"));
        File.WriteAllText(Path.Combine(etc, "b.json"), Spec("vendor.com/gpu", "0", "A=2"));
        File.WriteAllText(Path.Combine(run, "c.json"), Spec("vendor.com/gpu", "0", "A=3"));
        var reg = CdiRegistry.Load([etc, run]);
        Assert.Equal("A=3", Env(reg.Resolve("vendor.com/gpu=0")));
        Assert.Empty(reg.Conflicts);
    }

    [Fact]
    public void Bad_files_are_recorded_and_skipped_and_other_files_still_work()
    {
        var etc = Dir("etc");
        File.WriteAllText(Path.Combine(etc, "bad.json"), "{ not json");
        File.WriteAllText(Path.Combine(etc, "old.json"), Spec("vendor.com/gpu", "x", "A=1", version: "0.1.0"));
        File.WriteAllText(Path.Combine(etc, "good.yaml"), "cdiVersion: 0.3.0\nkind: vendor.com/nic\ndevices:\n  - name: eth0\n    containerEdits: {env: [NIC=1]}\n");
        File.WriteAllText(Path.Combine(etc, "README.txt"), "ignored");
        File.WriteAllText(Path.Combine(etc, "notes.yml"), "ignored: not .yaml");
        Directory.CreateDirectory(Path.Combine(etc, "sub"));
        File.WriteAllText(Path.Combine(etc, "sub", "deep.json"), Spec("vendor.com/deep", "d", "A=1"));

        var reg = CdiRegistry.Load([etc, Path.Combine(_tmp, "missing")]);
        Assert.Equal(2, reg.Errors.Count);
        Assert.Contains(reg.Errors, e => e.Path.EndsWith("bad.json") && e.Message.Contains("invalid JSON"));
        Assert.Contains(reg.Errors, e => e.Path.EndsWith("old.json") && e.Message.Contains("unsupported CDI version"));
        Assert.Equal(["vendor.com/nic=eth0"], reg.Devices.Keys);

        var e = Assert.Throws<HuskException>(() => reg.Resolve("vendor.com/gpu=x"));
        Assert.StartsWith("unknown CDI device \"vendor.com/gpu=x\" (searched " + etc + ", " + Path.Combine(_tmp, "missing") + ")", e.Message);
        Assert.Contains("no spec file defines kind vendor.com/gpu", e.Message);
        Assert.Contains("bad.json", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void An_unknown_device_of_a_known_kind_lists_what_the_kind_has()
    {
        var etc = Dir("etc");
        File.WriteAllText(Path.Combine(etc, "a.json"), Spec("vendor.com/gpu", "0", "A=1"));
        var e = Assert.Throws<HuskException>(() => CdiRegistry.Load([etc]).Resolve("vendor.com/gpu=9"));
        Assert.Contains("unknown CDI device \"vendor.com/gpu=9\"", e.Message);
        Assert.Contains("kind vendor.com/gpu has devices 0", e.Message);
    }

    [Fact]
    public void Dirs_come_from_the_flag_then_the_environment_then_the_defaults()
    {
        Assert.Null(CdiConfig.Split(null));
        Assert.Null(CdiConfig.Split(""));
        Assert.Equal(["/a", "/b"], CdiConfig.Split("/a::/b:"));
        Assert.Throws<HuskException>(() => CdiConfig.Split("relative:/b"));
        Assert.Equal(["/etc/cdi", "/var/run/cdi"], CdiConfig.DefaultSpecDirs);
    }

    [Fact]
    public void Check_lists_devices_and_problems()
    {
        var etc = Dir("etc");
        File.WriteAllText(Path.Combine(etc, "a.json"), Spec("vendor.com/gpu", "0", "A=1"));
        File.WriteAllText(Path.Combine(etc, "bad.yaml"), "kind: [");
        var report = CdiCheck.Run([etc, Path.Combine(_tmp, "nope")], sysfsRoot: _tmp, devVfio: Path.Combine(_tmp, "no-vfio"));
        var results = report.Results().ToList();
        Assert.Contains(results, r => r.Name == "cdi.specdirs" && r.Detail.Contains($"{Path.Combine(_tmp, "nope")} (missing)"));
        Assert.Contains(new Husk.CheckResult("cdi.device", "ok", $"vendor.com/gpu=0 ({Path.Combine(etc, "a.json")})"), results);
        Assert.Contains(results, r => r.Name == "cdi.spec" && r.Status == "warn" && r.Detail.Contains("bad.yaml"));
        Assert.Contains(results, r => r.Name == "cdi.vfio" && r.Detail.StartsWith("no VFIO devices"));
    }
}
