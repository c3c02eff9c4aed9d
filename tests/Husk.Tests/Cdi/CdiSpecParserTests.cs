using Husk.Cdi;
using Xunit;

namespace Husk.Tests.Cdi;

/// <summary>Reading CDI spec files: every version 0.3.0–0.8.0 in JSON and YAML, version rules, strictness, absent == null == empty.</summary>
public class CdiSpecParserTests
{
    /// <summary>A spec of each version using the features that version introduced (and nothing newer).</summary>
    public static TheoryData<string, string, string> VersionedSpecs => new()
    {
        {
            "0.3.0",
            """{"cdiVersion":"0.3.0","kind":"vendor.com/gpu","devices":[{"name":"gpu0","containerEdits":{"env":["A=1"],"deviceNodes":[{"path":"/dev/gpu0","type":"c","major":195,"minor":0,"permissions":"rw"}]}}],"containerEdits":{"hooks":[{"hookName":"createContainer","path":"/usr/bin/hook","args":["hook","x"],"timeout":5}],"mounts":[{"hostPath":"/lib/a.so","containerPath":"/lib/a.so","options":["ro","bind"]}]}}""",
            """
            cdiVersion: "0.3.0"
            kind: vendor.com/gpu
            devices:
              - name: gpu0
                containerEdits:
                  env: [A=1]
                  deviceNodes:
                    - path: /dev/gpu0
                      type: c
                      major: 195
                      minor: 0
                      permissions: rw
            containerEdits:
              hooks:
                - hookName: createContainer
                  path: /usr/bin/hook
                  args: [hook, x]
                  timeout: 5
              mounts:
                - hostPath: /lib/a.so
                  containerPath: /lib/a.so
                  options: [ro, bind]
            """
        },
        {
            "0.4.0",
            """{"cdiVersion":"0.4.0","kind":"vendor.com/gpu","devices":[{"name":"gpu0","containerEdits":{"mounts":[{"hostPath":"/x","containerPath":"/y","type":"bind","options":["rbind"]}]}}]}""",
            """
            cdiVersion: 0.4.0
            kind: vendor.com/gpu
            devices:
            - name: gpu0
              containerEdits:
                mounts:
                - {hostPath: /x, containerPath: /y, type: bind, options: [rbind]}
            """
        },
        {
            "0.5.0",
            """{"cdiVersion":"0.5.0","kind":"vendor.com/gpu","devices":[{"name":"0","containerEdits":{"deviceNodes":[{"path":"/dev/gpu0","hostPath":"/dev/nvidia0","fileMode":438,"uid":1,"gid":2}]}}]}""",
            """
            cdiVersion: 0.5.0
            kind: vendor.com/gpu
            devices:
              - name: "0"
                containerEdits:
                  deviceNodes:
                    - path: /dev/gpu0
                      hostPath: /dev/nvidia0
                      fileMode: 0666
                      uid: 1
                      gid: 2
            """
        },
        {
            "0.6.0",
            """{"cdiVersion":"0.6.0","kind":"vendor.com/gpu.class","annotations":{"vendor.com/note":"x"},"devices":[{"name":"gpu0","annotations":{"serial":"42"},"containerEdits":{"env":["A=1"]}}]}""",
            """
            cdiVersion: 0.6.0
            kind: vendor.com/gpu.class
            annotations:
              vendor.com/note: x
            devices:
              - name: gpu0
                annotations: {serial: "42"}
                containerEdits: {env: [A=1]}
            """
        },
        {
            "0.7.0",
            """{"cdiVersion":"0.7.0","kind":"vendor.com/gpu","devices":[{"name":"gpu0","containerEdits":{"additionalGids":[44,0],"intelRdt":{"closID":"c1","l3CacheSchema":"L3:0=ff","enableCMT":true}}}]}""",
            """
            cdiVersion: 0.7.0
            kind: vendor.com/gpu
            devices:
              - name: gpu0
                containerEdits:
                  additionalGids: [44, 0]
                  intelRdt:
                    closID: c1
                    l3CacheSchema: "L3:0=ff"
                    enableCMT: true
            """
        },
        {
            "0.8.0",
            """{"cdiVersion":"0.8.0","kind":"vendor.com/gpu","devices":[{"name":"gpu0","containerEdits":{"env":["A=1"],"additionalGids":[5]}}]}""",
            """
            cdiVersion: 0.8.0
            kind: vendor.com/gpu
            devices:
              - name: gpu0
                containerEdits:
                  env: ["A=1"]
                  additionalGids: [5]
            """
        },
    };

    [Theory, MemberData(nameof(VersionedSpecs))]
    public void Each_version_reads_the_same_from_json_and_yaml(string version, string json, string yaml)
    {
        var a = CdiSpecParser.Parse(json, "a.json", json: true);
        var b = CdiSpecParser.Parse(yaml, "a.yaml", json: false);
        Assert.Equal(version, a.Version);
        Assert.Equal(Describe(a), Describe(b));
        Assert.Single(a.Devices);
    }

    [Fact]
    public void Fields_map_to_the_model()
    {
        var s = CdiSpecParser.Parse(VersionedSpecs.First().Data.Item3, "a.yaml", json: false);
        Assert.Equal("vendor.com/gpu", s.Kind);
        Assert.Equal("vendor.com", s.Vendor);
        Assert.Equal("gpu", s.Class);
        var d = s.Devices[0];
        Assert.Equal("gpu0", d.Name);
        Assert.Equal(["A=1"], d.ContainerEdits.Env);
        var n = d.ContainerEdits.DeviceNodes[0];
        Assert.Equal(("/dev/gpu0", "c", 195L, 0L, "rw"), (n.Path, n.Type, n.Major, n.Minor, n.Permissions));
        var h = s.ContainerEdits.Hooks[0];
        Assert.Equal(("createContainer", "/usr/bin/hook", 5), (h.HookName, h.Path, h.Timeout));
        Assert.Equal(["hook", "x"], h.Args);
        var m = s.ContainerEdits.Mounts[0];
        Assert.Equal(("/lib/a.so", "/lib/a.so"), (m.HostPath, m.ContainerPath));
        Assert.Equal(["ro", "bind"], m.Options);

        var v7 = CdiSpecParser.Parse(VersionedSpecs.ElementAt(4).Data.Item2, "a.json", json: true).Devices[0].ContainerEdits;
        Assert.Equal([44u, 0u], v7.AdditionalGIDs);
        Assert.Equal(("c1", "L3:0=ff", true, false), (v7.IntelRdt!.ClosID, v7.IntelRdt.L3CacheSchema, v7.IntelRdt.EnableCMT, v7.IntelRdt.EnableMBM));
    }

    [Fact]
    public void Yaml_octal_file_mode_reads_as_go_yaml_does()
    {
        var s = CdiSpecParser.Parse(VersionedSpecs.ElementAt(2).Data.Item3, "a.yaml", json: false);
        Assert.Equal(438u, s.Devices[0].ContainerEdits.DeviceNodes[0].FileMode);
    }

    [Theory]
    [InlineData("0.3.0", """{"hostPath":"/x","containerPath":"/y","type":"bind"}""", "mounts", "0.4.0")]
    [InlineData("0.4.0", """{"path":"/dev/x","hostPath":"/dev/null"}""", "deviceNodes", "0.5.0")]
    public void A_feature_newer_than_the_version_is_refused_with_its_pointer(string version, string item, string list, string needed)
    {
        var json = $$$"""{"cdiVersion":"{{{version}}}","kind":"vendor.com/gpu","devices":[{"name":"gpu0","containerEdits":{"{{{list}}}":[{{{item}}}]}}]}""";
        var e = Assert.Throws<HuskException>(() => CdiSpecParser.Parse(json, "f.json", json: true));
        Assert.StartsWith($"f.json: /devices/0/containerEdits/{list}/0/", e.Message);
        Assert.Contains($"needs cdiVersion {needed} or later", e.Message);
    }

    [Theory]
    [InlineData("""{"cdiVersion":"0.5.0","kind":"vendor.com/gpu","annotations":{"a":"b"},"devices":[{"name":"d","containerEdits":{"env":["A=1"]}}]}""", "/annotations", "0.6.0")]
    [InlineData("""{"cdiVersion":"0.5.0","kind":"vendor.com/gpu.x","devices":[{"name":"d","containerEdits":{"env":["A=1"]}}]}""", "/kind", "0.6.0")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"additionalGids":[1]}}]}""", "/devices/0/containerEdits/additionalGids", "0.7.0")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","containerEdits":{"intelRdt":{"closID":"x"}},"devices":[{"name":"d","containerEdits":{"env":["A=1"]}}]}""", "/containerEdits/intelRdt", "0.7.0")]
    [InlineData("""{"cdiVersion":"0.4.0","kind":"vendor.com/gpu","devices":[{"name":"0","containerEdits":{"env":["A=1"]}}]}""", "/devices/0/name", "0.5.0")]
    public void Version_requirements_follow_cdi(string json, string pointer, string needed)
    {
        var e = Assert.Throws<HuskException>(() => CdiSpecParser.Parse(json, "f.json", json: true));
        Assert.Equal($"f.json: {pointer}: ", e.Message[..($"f.json: {pointer}: ".Length)]);
        Assert.Contains(needed, e.Message);
    }

    [Theory]
    [InlineData("0.2.0")]
    [InlineData("1.0.0")]
    [InlineData("banana")]
    public void Unsupported_versions_are_refused(string version)
    {
        var e = Assert.Throws<HuskException>(() => CdiSpecParser.Parse(
            $$$"""{"cdiVersion":"{{{version}}}","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"env":["A=1"]}}]}""", "f.json", true));
        Assert.Contains("f.json: /cdiVersion: unsupported CDI version", e.Message);
        Assert.Contains("0.3.0", e.Message);
    }

    [Fact]
    public void A_leading_v_in_the_version_is_accepted() =>
        CdiSpecParser.Parse("""{"cdiVersion":"v0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"env":["A=1"]}}]}""", "f.json", true);

    [Theory]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","bogus":1,"containerEdits":{"env":["A=1"]}}]}""", "f.json: /devices/0/bogus: unknown field \"bogus\"")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[]}""", "f.json: /devices: a CDI spec needs at least one device")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu"}""", "f.json: /devices: a CDI spec needs at least one device")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d"}]}""", "f.json: /devices/0/containerEdits: device \"d\" has no edits")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"env":["A=1"]}},{"name":"d","containerEdits":{"env":["A=1"]}}]}""", "f.json: /devices/1/name: device \"d\" is defined twice")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"gpu","devices":[{"name":"d","containerEdits":{"env":["A=1"]}}]}""", "f.json: /kind: kind \"gpu\" is not vendor.com/class")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"-d","containerEdits":{"env":["A=1"]}}]}""", "f.json: /devices/0/name: device name \"-d\" must start")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"env":["=1"]}}]}""", "f.json: /devices/0/containerEdits/env/0: invalid environment variable")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"hooks":[{"hookName":"prestop","path":"/x"}]}}]}""", "f.json: /devices/0/containerEdits/hooks/0/hookName: invalid hook name \"prestop\"")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"deviceNodes":[{"path":"/dev/x","permissions":"rwx"}]}}]}""", "f.json: /devices/0/containerEdits/deviceNodes/0/permissions: invalid permissions")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"deviceNodes":[{"path":"/dev/x","major":-1}]}}]}""", "f.json: /devices/0/containerEdits/deviceNodes/0: invalid (negative) device number")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"mounts":[{"hostPath":"/x"}]}}]}""", "f.json: /devices/0/containerEdits/mounts/0/containerPath: a mount needs a containerPath")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"deviceNodes":[{"path":"/dev/x","major":"1"}]}}]}""", "f.json: /devices/0/containerEdits/deviceNodes/0/major: expected an integer (-9223372036854775808..9223372036854775807), got the string \"1\"")]
    [InlineData("""{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","kind":"vendor.com/x","devices":[]}""", "f.json: /kind: duplicate key \"kind\"")]
    [InlineData("""{"cdiVersion":"0.6.0",""", "f.json: invalid JSON at line 1")]
    [InlineData("[]", "f.json: /: expected an object, got an array")]
    [InlineData("  \n", "f.json: empty file")]
    public void Invalid_json_specs_fail_with_one_line_naming_the_field(string json, string expected)
    {
        var e = Assert.Throws<HuskException>(() => CdiSpecParser.Parse(json, "f.json", json: true));
        Assert.StartsWith(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("cdiVersion: 0.6.0\nkind: vendor.com/gpu\nkind: x\n", "f.yaml: ", "uplicate key")]
    [InlineData("cdiVersion: 0.6.0\nkind: [unclosed\n", "f.yaml: invalid YAML at line ", "")]
    [InlineData("cdiVersion: 0.6.0\n---\ncdiVersion: 0.6.0\n", "f.yaml: 2 YAML documents", "")]
    [InlineData("cdiVersion: 0.6.0\nkind: vendor.com/gpu\ndevices:\n  - name: d\n    containerEdits:\n      deviceNodes:\n        - path: /dev/x\n          major: '1'\n", "f.yaml: /devices/0/containerEdits/deviceNodes/0/major: expected an integer", "")]
    [InlineData("cdiVersion: 0.6.0\nkind: vendor.com/gpu\ndevices:\n  - name: d\n    containerEdits:\n      intelRdt:\n        enableCMT: maybe\n", "f.yaml: /devices/0/containerEdits/intelRdt/enableCMT: expected a boolean, got the string \"maybe\"", "")]
    public void Invalid_yaml_specs_fail_with_one_line(string yaml, string prefix, string contains)
    {
        var e = Assert.Throws<HuskException>(() => CdiSpecParser.Parse(yaml, "f.yaml", json: false));
        Assert.StartsWith(prefix, e.Message);
        Assert.Contains(contains, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Deep_nesting_is_refused_without_recursing_into_it(bool flow)
    {
        const int n = 100_000;
        var yaml = "cdiVersion: 0.6.0\nkind: vendor.com/gpu\ndevices: " +
                   (flow ? new string('[', n) + new string(']', n) : "\n" + string.Concat(Enumerable.Repeat("- ", n)) + "x") + "\n";
        var e = Assert.Throws<HuskException>(() => CdiSpecParser.Parse(yaml, "f.yaml", json: false));
        Assert.StartsWith("f.yaml: ", e.Message);
        Assert.Contains("nested deeper than 64", e.Message);
        var json = "{\"devices\":" + new string('[', n) + new string(']', n) + "}";
        e = Assert.Throws<HuskException>(() => CdiSpecParser.Parse(json, "f.json", json: true));
        Assert.StartsWith("f.json: /devices/0/0/0/", e.Message);
        Assert.Contains("JSON nested deeper than 64", e.Message);
    }

    [Fact]
    public void Yaml_aliases_cannot_blow_up()
    {
        var sb = new System.Text.StringBuilder("cdiVersion: 0.6.0\nkind: vendor.com/gpu\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (int i = 1; i < 10; i++) sb.Append($"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]\n");
        var e = Assert.Throws<HuskException>(() => CdiSpecParser.Parse(sb.ToString(), "f.yaml", json: false));
        Assert.Contains("more than", e.Message);
    }

    [Fact]
    public void Yaml_plain_scalars_read_as_strings_where_strings_are_expected()
    {
        var s = CdiSpecParser.Parse("cdiVersion: 0.6.0\nkind: vendor.com/gpu\ndevices:\n  - name: 0\n    containerEdits:\n      env: [A=1]\n", "f.yaml", false);
        Assert.Equal("0", s.Devices[0].Name);
    }

    [Fact]
    public void Yaml_plain_scalars_take_the_kind_the_member_table_expects_there()
    {
        var s = CdiSpecParser.Parse("""
            cdiVersion: 0.7.0
            kind: vendor.com/gpu
            devices:
              - name: yes
                containerEdits:
                  deviceNodes:
                    - {path: /dev/a, fileMode: 0o644, uid: 1_000, gid: 0x10, major: ~, minor: -0}
                  intelRdt: {closID: 12, enableCMT: yes, enableMBM: Off}
            """, "f.yaml", false);
        var d = s.Devices[0];
        Assert.Equal("yes", d.Name);
        var n = d.ContainerEdits.DeviceNodes[0];
        Assert.Equal((420u, 1000u, 16u, 0L, 0L), (n.FileMode, n.UID, n.GID, n.Major, n.Minor));
        Assert.Equal(("12", true, false), (d.ContainerEdits.IntelRdt!.ClosID, d.ContainerEdits.IntelRdt.EnableCMT, d.ContainerEdits.IntelRdt.EnableMBM));

        var e = Assert.Throws<HuskException>(() => CdiSpecParser.Parse(
            "cdiVersion: 0.6.0\nkind: vendor.com/gpu\ndevices:\n  - name: d\n    containerEdits: {env: [A=1]}\n    extra: 1\n", "f.yaml", false));
        Assert.StartsWith("f.yaml: /devices/0/extra: unknown field \"extra\" (known: name, annotations, containerEdits)", e.Message);
        e = Assert.Throws<HuskException>(() => CdiSpecParser.Parse(
            "cdiVersion: 0.6.0\nkind: vendor.com/gpu\ndevices:\n  - name: d\n    containerEdits: {additionalGids: [4294967296]}\n", "f.yaml", false));
        Assert.StartsWith("f.yaml: /devices/0/containerEdits/additionalGids/0: expected an unsigned integer (0..4294967295), got 4294967296", e.Message);
    }

    [Fact]
    public void Member_names_match_in_any_case_as_the_cdi_project_reads_them()
    {
        var s = CdiSpecParser.Parse("""{"CDIVersion":"0.6.0","Kind":"vendor.com/gpu","devices":[{"NAME":"d","containerEdits":{"Env":["A=1"]}}]}""", "f.json", true);
        Assert.Equal(("0.6.0", "vendor.com/gpu", "d", "A=1"), (s.Version, s.Kind, s.Devices[0].Name, s.Devices[0].ContainerEdits.Env[0]));
    }

    [Fact]
    public void Absent_null_and_empty_collections_read_the_same_in_json_and_yaml()
    {
        const string head = """{"cdiVersion":"0.6.0","kind":"vendor.com/gpu","devices":[{"name":"d","containerEdits":{"env":["A=1"]""";
        string[] variants =
        [
            head + "}}]}",
            head + ""","deviceNodes":null,"mounts":null,"hooks":null,"additionalGids":null}, "annotations":null}], "annotations":null, "containerEdits":null}""",
            head + ""","deviceNodes":[],"mounts":[],"hooks":[],"additionalGids":[]}, "annotations":{}}], "annotations":{}, "containerEdits":{}}""",
        ];
        var expected = Describe(CdiSpecParser.Parse(variants[0], "a.json", true));
        foreach (var v in variants) Assert.Equal(expected, Describe(CdiSpecParser.Parse(v, "a.json", true)));

        string[] yaml =
        [
            "cdiVersion: 0.6.0\nkind: vendor.com/gpu\ndevices:\n  - name: d\n    containerEdits:\n      env: [A=1]\n",
            "cdiVersion: 0.6.0\nkind: vendor.com/gpu\nannotations:\ncontainerEdits: ~\ndevices:\n  - name: d\n    annotations: null\n    containerEdits:\n      env: [A=1]\n      mounts:\n      hooks: ~\n      deviceNodes: null\n",
            "cdiVersion: 0.6.0\nkind: vendor.com/gpu\nannotations: {}\ncontainerEdits: {}\ndevices:\n  - name: d\n    annotations: {}\n    containerEdits:\n      env: [A=1]\n      mounts: []\n      hooks: []\n      deviceNodes: []\n      additionalGids: []\n",
        ];
        foreach (var y in yaml) Assert.Equal(expected, Describe(CdiSpecParser.Parse(y, "a.yaml", false)));

        var spec = CdiSpecParser.Parse(variants[1], "a.json", true);
        Assert.NotNull(spec.Annotations);
        Assert.NotNull(spec.ContainerEdits);
        Assert.NotNull(spec.Devices[0].ContainerEdits.Mounts);
        Assert.NotNull(spec.Devices[0].Annotations);
    }

    [Fact]
    public void Null_assignments_become_empty_collections()
    {
        var e = new ContainerEdits { Env = null!, DeviceNodes = null!, Hooks = null!, Mounts = null!, AdditionalGIDs = null! };
        Assert.True(e.IsEmpty);
        var s = new CdiSpec { Annotations = null!, Devices = null!, ContainerEdits = null! };
        Assert.Empty(s.Annotations);
        Assert.Empty(s.Devices);
        Assert.True(s.ContainerEdits.IsEmpty);
    }

    /// <summary>A canonical text of a spec, to compare two reads.</summary>
    internal static string Describe(CdiSpec s)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append($"{s.Version}|{s.Kind}|{Map(s.Annotations)}|{Edits(s.ContainerEdits)}");
        foreach (var d in s.Devices) sb.Append($"\n{d.Name}|{Map(d.Annotations)}|{Edits(d.ContainerEdits)}");
        return sb.ToString();

        static string Map(Dictionary<string, string> m) => string.Join(",", m.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}"));
        static string Edits(ContainerEdits e) =>
            $"env[{string.Join(",", e.Env)}] nodes[{string.Join(",", e.DeviceNodes.Select(n => $"{n.Path}:{n.HostPath}:{n.Type}:{n.Major}:{n.Minor}:{n.FileMode}:{n.Permissions}:{n.UID}:{n.GID}"))}] " +
            $"mounts[{string.Join(",", e.Mounts.Select(m => $"{m.HostPath}:{m.ContainerPath}:{m.Type}:{string.Join("+", m.Options)}"))}] " +
            $"hooks[{string.Join(",", e.Hooks.Select(h => $"{h.HookName}:{h.Path}:{string.Join("+", h.Args)}:{string.Join("+", h.Env)}:{h.Timeout}"))}] " +
            $"gids[{string.Join(",", e.AdditionalGIDs)}] rdt[{(e.IntelRdt is { } r ? $"{r.ClosID}:{r.L3CacheSchema}:{r.MemBwSchema}:{r.EnableCMT}:{r.EnableMBM}" : "")}]";
    }
}
