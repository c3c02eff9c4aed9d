using Husk.Cdi;
using Husk.Spec;
using Xunit;
using HSpec = Husk.Spec.Spec;

namespace Husk.Tests.Cdi;

/// <summary>Applying container edits to an OCI spec, and resolving annotation requests against a registry.</summary>
public class ContainerEditorTests
{
    /// <summary>A fake host: path → (type, major, minor).</summary>
    sealed class FakeHost(Dictionary<string, (string, long, long)> nodes) : IHostDevices
    {
        public List<string> Asked { get; } = [];
        public (string Type, long Major, long Minor)? Stat(string path, out string? error)
        {
            Asked.Add(path);
            error = nodes.ContainsKey(path) ? null : "no such file or directory";
            return nodes.TryGetValue(path, out var n) ? n : null;
        }
    }

    static readonly FakeHost Host = new(new()
    {
        ["/dev/null"] = ("c", 1, 3),
        ["/dev/nvidia0"] = ("c", 195, 0),
        ["/dev/sda"] = ("b", 8, 0),
        ["/run/fifo"] = ("p", 0, 0),
    });

    static HSpec Parse(string json) => SpecJson.Parse(json);

    [Fact]
    public void Env_replaces_a_variable_of_the_same_name_and_appends_others()
    {
        var spec = Parse("""{"ociVersion":"1.2.0","process":{"args":["sh"],"cwd":"/","env":["PATH=/bin","A=old"]}}""");
        ContainerEditor.Apply(spec, new ContainerEdits { Env = ["A=new", "B=1", "PATH=/usr/bin"] }, Host);
        Assert.Equal(["PATH=/usr/bin", "A=new", "B=1"], spec.Process!.Env);
    }

    [Fact]
    public void Device_nodes_take_type_and_numbers_from_the_host_and_get_a_cgroup_rule()
    {
        var spec = Parse("""{"ociVersion":"1.2.0","process":{"args":["sh"],"cwd":"/","user":{"uid":1000,"gid":1001}}}""");
        ContainerEditor.Apply(spec, new ContainerEdits
        {
            DeviceNodes =
            [
                new() { Path = "/dev/mynull", HostPath = "/dev/null" },
                new() { Path = "/dev/nvidia0", Permissions = "rw", FileMode = 0x1b0, UID = 0 },
                new() { Path = "/dev/disk", HostPath = "/dev/sda", Permissions = "none" },
                new() { Path = "/dev/given", Type = "c", Major = 10, Minor = 200 }, // complete: no stat
                new() { Path = "/dev/fifo", HostPath = "/run/fifo" },
            ],
        }, Host);
        var devs = spec.Linux!.Devices;
        Assert.Equal(5, devs.Count);
        Assert.Equal(("/dev/mynull", "c", 1L, 3L, 1000u, 1001u), (devs[0].Path, devs[0].Type, devs[0].Major, devs[0].Minor, devs[0].UID, devs[0].GID));
        Assert.Equal(("/dev/nvidia0", "c", 195L, 0L, 0x1b0u, 0u), (devs[1].Path, devs[1].Type, devs[1].Major, devs[1].Minor, devs[1].FileMode, devs[1].UID));
        Assert.Equal(("b", 8L, 0L), (devs[2].Type, devs[2].Major, devs[2].Minor));
        Assert.Equal(("c", 10L, 200L), (devs[3].Type, devs[3].Major, devs[3].Minor));
        Assert.Equal("p", devs[4].Type);
        Assert.DoesNotContain("/dev/given", Host.Asked);

        var rules = spec.Linux.Resources!.Devices;
        Assert.Equal(4, rules.Count); // no rule for the fifo
        Assert.All(rules, r => Assert.True(r.Allow));
        Assert.Equal(("c", 1L, 3L, "rwm"), (rules[0].Type, rules[0].Major, rules[0].Minor, rules[0].Access));
        Assert.Equal("rw", rules[1].Access);
        Assert.Equal(("b", ""), (rules[2].Type, rules[2].Access));
    }

    [Fact]
    public void A_device_node_replaces_one_at_the_same_path_and_a_missing_host_node_fails_clearly()
    {
        var spec = Parse("""{"ociVersion":"1.2.0","linux":{"devices":[{"path":"/dev/mynull","type":"c","major":9,"minor":9}]}}""");
        ContainerEditor.Apply(spec, new ContainerEdits { DeviceNodes = [new() { Path = "/dev/mynull", HostPath = "/dev/null" }] }, Host);
        Assert.Equal((1L, 3L), (spec.Linux!.Devices.Single().Major, spec.Linux.Devices.Single().Minor));

        var e = Assert.Throws<HuskException>(() =>
            ContainerEditor.Apply(spec, new ContainerEdits { DeviceNodes = [new() { Path = "/dev/gone" }] }, Host));
        Assert.Equal("CDI device node /dev/gone: host device /dev/gone: no such file or directory", e.Message);
        e = Assert.Throws<HuskException>(() =>
            ContainerEditor.Apply(spec, new ContainerEdits { DeviceNodes = [new() { Path = "/dev/x", HostPath = "/dev/sda", Type = "c" }] }, Host));
        Assert.Contains("type \"c\" but host device /dev/sda is \"b\"", e.Message);
    }

    [Fact]
    public void Mounts_replace_the_same_destination_and_are_ordered_parents_first()
    {
        var spec = Parse("""{"ociVersion":"1.2.0","mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/a/b/c/d","type":"tmpfs","source":"tmpfs"},{"destination":"/data","type":"tmpfs","source":"old"}]}""");
        ContainerEditor.Apply(spec, new ContainerEdits
        {
            Mounts =
            [
                new() { HostPath = "/srv/data", ContainerPath = "/data", Options = ["bind", "ro"] },
                new() { HostPath = "/lib/x.so", ContainerPath = "/usr/lib/x.so", Type = "bind", Options = ["rbind"] },
            ],
        }, Host);
        Assert.Equal(["/proc", "/data", "/usr/lib/x.so", "/a/b/c/d"], spec.Mounts.Select(m => m.Destination));
        var data = spec.Mounts[1];
        Assert.Equal(("/srv/data", null), (data.Source, data.Type));
        Assert.Equal(["bind", "ro"], data.Options);
        Assert.Equal("bind", spec.Mounts[2].Type);
    }

    [Fact]
    public void Hooks_go_to_the_list_their_name_names_even_when_the_spec_has_no_hooks()
    {
        var spec = Parse("""{"ociVersion":"1.2.0"}""");
        Assert.Null(spec.Hooks);
        var edits = new ContainerEdits();
        foreach (var name in CdiSpecParser.HookNames) edits.Hooks.Add(new CdiHook { HookName = name, Path = "/bin/" + name, Args = ["x"], Timeout = 3 });
        ContainerEditor.Apply(spec, edits, Host);
        var h = spec.Hooks!;
        Assert.Equal("/bin/prestart", h.Prestart.Single().Path);
        Assert.Equal("/bin/createRuntime", h.CreateRuntime.Single().Path);
        Assert.Equal("/bin/createContainer", h.CreateContainer.Single().Path);
        Assert.Equal("/bin/startContainer", h.StartContainer.Single().Path);
        Assert.Equal("/bin/poststart", h.Poststart.Single().Path);
        Assert.Equal(3, h.Poststop.Single().Timeout);
    }

    [Fact]
    public void Additional_gids_are_added_once_and_zero_is_ignored_and_intel_rdt_is_set()
    {
        var spec = Parse("""{"ociVersion":"1.2.0","process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0,"additionalGids":[5]}}}""");
        ContainerEditor.Apply(spec, new ContainerEdits
        {
            AdditionalGIDs = [0, 5, 44, 44],
            IntelRdt = new CdiIntelRdt { ClosID = "gpu", MemBwSchema = "MB:0=50", EnableMBM = true },
        }, Host);
        Assert.Equal([5u, 44u], spec.Process!.User.AdditionalGids);
        Assert.Equal(("gpu", "MB:0=50", true), (spec.Linux!.IntelRdt!.ClosID, spec.Linux.IntelRdt.MemBwSchema, spec.Linux.IntelRdt.EnableMBM));
    }

    [Fact]
    public void Edits_on_a_spec_with_nothing_create_what_they_need()
    {
        var spec = new HSpec();
        ContainerEditor.Apply(spec, new ContainerEdits
        {
            Env = ["A=1"], AdditionalGIDs = [7],
            DeviceNodes = [new() { Path = "/dev/mynull", HostPath = "/dev/null" }],
        }, Host);
        Assert.Equal(["A=1"], spec.Process!.Env);
        Assert.Equal([7u], spec.Process.User.AdditionalGids);
        Assert.Single(spec.Linux!.Devices);
        Assert.Single(spec.Linux.Resources!.Devices);
    }

    // ---- requests from annotations ----

    static CdiRegistry Registry() => CdiRegistry.FromSpecs(
    [
        new CdiSpecFile("/etc/cdi/gpu.json", 0, CdiSpecParser.Parse("""
            {"cdiVersion":"0.6.0","kind":"vendor.com/gpu",
             "containerEdits":{"env":["SPEC=once"],"hooks":[{"hookName":"createContainer","path":"/bin/ldcache"}]},
             "devices":[{"name":"0","containerEdits":{"env":["GPU0=1"],"deviceNodes":[{"path":"/dev/gpu0","hostPath":"/dev/nvidia0"}]}},
                        {"name":"1","containerEdits":{"env":["GPU1=1"]}}]}
            """, "gpu.json", true)),
        new CdiSpecFile("/etc/cdi/nic.json", 0, CdiSpecParser.Parse("""
            {"cdiVersion":"0.6.0","kind":"vendor.com/nic","devices":[{"name":"eth","containerEdits":{"env":["NIC=1"]}}]}
            """, "nic.json", true)),
    ], ["/etc/cdi"]);

    [Fact]
    public void Requests_come_from_cdi_annotations_only_comma_separated_each_once()
    {
        var names = DeviceInjector.RequestedDevices(new Dictionary<string, string>
        {
            ["cdi.k8s.io/b"] = "vendor.com/nic=eth",
            ["cdi.k8s.io/a"] = "vendor.com/gpu=0, vendor.com/gpu=1,vendor.com/gpu=0",
            ["other.io/x"] = "not a device",
            ["cdi.k8s.io/empty"] = "",
        });
        Assert.Equal(["vendor.com/gpu=0", "vendor.com/gpu=1", "vendor.com/nic=eth"], names);
        Assert.Empty(DeviceInjector.RequestedDevices(null));
        Assert.Empty(DeviceInjector.RequestedDevices(new Dictionary<string, string>()));

        var e = Assert.Throws<HuskException>(() => DeviceInjector.RequestedDevices(new Dictionary<string, string> { ["cdi.k8s.io/x"] = "gpu0" }));
        Assert.Equal("/annotations/cdi.k8s.io~1x: unqualified device \"gpu0\": want vendor.com/class=name", e.Message);
    }

    [Fact]
    public void Spec_edits_apply_once_per_spec_and_device_edits_per_device()
    {
        var spec = Parse("""{"ociVersion":"1.2.0","process":{"args":["sh"],"cwd":"/","env":["PATH=/bin"]}}""");
        DeviceInjector.Inject(spec, Registry(), ["vendor.com/gpu=0", "vendor.com/gpu=1", "vendor.com/nic=eth"], Host);
        Assert.Equal(["PATH=/bin", "SPEC=once", "GPU0=1", "GPU1=1", "NIC=1"], spec.Process!.Env);
        Assert.Single(spec.Hooks!.CreateContainer);
        Assert.Equal(195, spec.Linux!.Devices.Single().Major);
    }

    [Fact]
    public void Unknown_devices_fail_all_or_nothing_naming_devices_and_directories()
    {
        var spec = Parse("""{"ociVersion":"1.2.0","process":{"args":["sh"],"cwd":"/","env":["PATH=/bin"]}}""");
        var e = Assert.Throws<HuskException>(() => DeviceInjector.Inject(spec, Registry(), ["vendor.com/gpu=0", "vendor.com/gpu=7"], Host));
        Assert.StartsWith("unknown CDI device \"vendor.com/gpu=7\" (searched /etc/cdi)", e.Message);
        e = Assert.Throws<HuskException>(() => DeviceInjector.Inject(spec, Registry(), ["acme.io/fpga=a", "vendor.com/gpu=7"], Host));
        Assert.StartsWith("unknown CDI devices \"acme.io/fpga=a\", \"vendor.com/gpu=7\" (searched /etc/cdi)", e.Message);
        Assert.Equal(["PATH=/bin"], spec.Process!.Env); // untouched
        Assert.Null(spec.Linux);
    }
}
