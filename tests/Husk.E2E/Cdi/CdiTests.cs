using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Cdi;

/// <summary>
/// CDI device injection through husk's CLI: spec files in a temp directory (HUSK_CDI_SPEC_DIRS or
/// --cdi-spec-dirs), devices requested by cdi.k8s.io/* annotations, edits seen from inside the
/// container.
/// </summary>
public sealed class CdiTests : IDisposable
{
    readonly string _tmp = Directory.CreateTempSubdirectory("husk-cdi-e2e-").FullName;

    public void Dispose()
    {
        try { Mounts.UnmountUnder(_tmp); } catch (Exception) { }
        try { Directory.Delete(_tmp, recursive: true); } catch (Exception) { }
    }

    string Dir(string name)
    {
        var d = Path.Combine(_tmp, name);
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>A host directory with a file "hello" holding "from the host".</summary>
    string HostData()
    {
        var d = Dir("data");
        File.WriteAllText(Path.Combine(d, "hello"), "from the host\n");
        return d;
    }

    static RunOptions WithDirs(params string[] dirs) =>
        new() { Environment = new Dictionary<string, string?> { ["HUSK_CDI_SPEC_DIRS"] = string.Join(':', dirs) } };

    static void Request(Bundle bundle, string devices)
    {
        bundle.Config["annotations"] = new JsonObject { ["cdi.k8s.io/test"] = devices };
        bundle.Save();
    }

    const string Script =
        "echo env=$CDI_ENV spec=$CDI_SPEC; cat /cdi-data/hello; " +
        "[ -c /dev/mynull ] && echo chardev; echo x > /dev/mynull && echo wrote; " +
        "touch /cdi-data/new 2>/dev/null && echo writable || echo readonly";

    const string Expected = "env=1 spec=yes\nfrom the host\nchardev\nwrote\nreadonly\n";

    [Theory]
    [InlineData("json")]
    [InlineData("yaml")]
    public void A_device_with_a_node_an_env_var_and_a_mount_is_injected(string format)
    {
        var specs = Dir("specs");
        var data = HostData();
        File.WriteAllText(Path.Combine(specs, "test." + format), format == "json"
            ? $$$"""
              {"cdiVersion":"0.6.0","kind":"husk.test/dev",
               "containerEdits":{"env":["CDI_SPEC=yes"]},
               "devices":[{"name":"null0","containerEdits":{
                  "env":["CDI_ENV=1"],
                  "deviceNodes":[{"path":"/dev/mynull","hostPath":"/dev/null","permissions":"rw"}],
                  "mounts":[{"hostPath":"{{{data}}}","containerPath":"/cdi-data","options":["bind","ro"]}]}}]}
              """
            : $"""
              cdiVersion: 0.6.0
              kind: husk.test/dev
              containerEdits:
                env: [CDI_SPEC=yes]
              devices:
                - name: null0
                  containerEdits:
                    env: ["CDI_ENV=1"]
                    deviceNodes:
                      - path: /dev/mynull
                        hostPath: /dev/null
                        permissions: rw
                    mounts:
                      - hostPath: {data}
                        containerPath: /cdi-data
                        options: [bind, ro]
              """);
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.SetScript(Script);
        Request(bundle, "husk.test/dev=null0");

        var r = root.Run(WithDirs(specs), "run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
        Assert.Equal(Expected, r.Stdout);
    }

    [Fact]
    public void A_later_directory_overrides_an_earlier_one_and_the_flag_overrides_the_environment()
    {
        var low = Dir("etc-cdi");
        var high = Dir("run-cdi");
        File.WriteAllText(Path.Combine(low, "vendor.json"),
            """{"cdiVersion":"0.5.0","kind":"husk.test/gpu","devices":[{"name":"0","containerEdits":{"env":["WHO=static"]}},{"name":"1","containerEdits":{"env":["ONE=static"]}}]}""");
        File.WriteAllText(Path.Combine(high, "vendor.yaml"),
            "cdiVersion: 0.5.0\nkind: husk.test/gpu\ndevices:\n  - name: \"0\"\n    containerEdits:\n      env: [WHO=dynamic]\n");
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.SetScript("echo $WHO $ONE");
        Request(bundle, "husk.test/gpu=0,husk.test/gpu=1");

        var r = root.Run(WithDirs(low, high), "run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
        Assert.Equal("dynamic static\n", r.Stdout);

        // The flag replaces the environment's list: only the static directory now.
        r = root.Run(WithDirs(low, high), "--cdi-spec-dirs", low, "run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
        Assert.Equal("static static\n", r.Stdout);
    }

    [Fact]
    public void An_unknown_device_fails_create_clearly_and_leaves_nothing_behind()
    {
        var specs = Dir("specs");
        File.WriteAllText(Path.Combine(specs, "vendor.json"),
            """{"cdiVersion":"0.6.0","kind":"husk.test/gpu","devices":[{"name":"0","containerEdits":{"env":["A=1"]}}]}""");
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        Request(bundle, "husk.test/gpu=7");
        var id = root.NewId();
        var mountsBefore = Mounts.MountPointsExceptOtherTests(bundle.Dir, root.Path);

        var r = root.Run(WithDirs(specs, Path.Combine(_tmp, "missing")), "create", "--bundle", bundle.Dir, id).AssertFailure();
        var line = r.Stderr.Trim();
        Assert.DoesNotContain('\n', line);
        Assert.Contains("unknown CDI device \"husk.test/gpu=7\"", line);
        Assert.Contains($"searched {specs}, {Path.Combine(_tmp, "missing")}", line);
        Assert.DoesNotMatch(@"\n\s+at |Exception", r.Stderr);
        Assert.Empty(Directory.GetFileSystemEntries(root.Path));
        Assert.Empty(global::Husk.E2E.Cgroups.Cg.Leftovers($"/husk/{id}"));
        Assert.Equal(mountsBefore, Mounts.MountPointsExceptOtherTests(bundle.Dir, root.Path));
        Assert.Empty(root.ListIds());
    }

    [Fact]
    public void An_invalid_device_name_in_an_annotation_fails_with_the_annotation_key()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        Request(bundle, "gpu0");
        var r = root.Run(WithDirs(Dir("specs")), "create", "--bundle", bundle.Dir, root.NewId()).AssertFailure();
        Assert.Contains("/annotations/cdi.k8s.io~1test: unqualified device \"gpu0\"", r.Stderr);
        Assert.Empty(Directory.GetFileSystemEntries(root.Path));
    }

    [Fact]
    public void Check_lists_the_cdi_devices_it_can_see()
    {
        var specs = Dir("specs");
        File.WriteAllText(Path.Combine(specs, "vendor.yaml"),
            "cdiVersion: 0.6.0\nkind: husk.test/gpu\ndevices:\n  - {name: \"0\", containerEdits: {env: [A=1]}}\n  - {name: all, containerEdits: {env: [A=2]}}\n");
        File.WriteAllText(Path.Combine(specs, "broken.json"), "{");
        var r = HuskCli.Run(WithDirs(specs), "check").AssertSuccess();
        Assert.Contains($"husk.test/gpu=0 ({Path.Combine(specs, "vendor.yaml")})", r.Stdout);
        Assert.Contains($"husk.test/gpu=all ({Path.Combine(specs, "vendor.yaml")})", r.Stdout);
        Assert.Matches(@"cdi\.spec\s+warn\s+.*broken\.json: invalid JSON", r.Stdout);

        var json = JsonNode.Parse(HuskCli.Run(WithDirs(specs), "check", "--format", "json").AssertSuccess().Stdout)!.AsArray();
        Assert.Contains(json, n => (string?)n!["name"] == "cdi.device" && ((string?)n["detail"])!.StartsWith("husk.test/gpu=0 "));
    }

    [Fact]
    public void Features_and_the_help_mention_cdi()
    {
        var f = JsonNode.Parse(HuskCli.Run("features").AssertSuccess().Stdout)!;
        Assert.Equal("0.3.0-0.8.0", (string)f["annotations"]!["org.husk.cdi.versions"]!);
        Assert.Contains("--cdi-spec-dirs", HuskCli.Run("--help").AssertSuccess().Stdout);
    }
}
