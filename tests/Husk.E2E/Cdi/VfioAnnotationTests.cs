using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Cdi;

/// <summary>
/// The Kata crash, replayed against husk: containers with VFIO devices whose configs have no
/// annotations, "annotations": null or {} get cdi.k8s.io/vfio&lt;N&gt; = nvidia.com/gpu=&lt;index&gt; in
/// `husk state`, classified through a fake sysfs (HUSK_SYSFS_ROOT). The /dev/vfio/&lt;group&gt;
/// nodes are harmless 1:3 char devices so create works without VFIO hardware.
/// </summary>
public sealed class VfioAnnotationTests : IDisposable
{
    readonly string _sysfs = Directory.CreateTempSubdirectory("husk-sysfs-e2e-").FullName;

    public VfioAnnotationTests()
    {
        // Two NVIDIA GPUs (group 12 on bus 0x82, group 7 on bus 0x41) and an NVSwitch-like bridge (group 9).
        Function(12, "0000:82:00.0", "0x10de", "0x030200");
        Function(12, "0000:82:00.1", "0x10de", "0x040300");
        Function(7, "0000:41:00.0", "0x10de", "0x030000");
        Function(9, "0000:05:00.0", "0x10de", "0x068000");
    }

    void Function(int group, string address, string vendor, string cls)
    {
        var fn = Path.Combine(_sysfs, "devices/pci0000:00", address);
        Directory.CreateDirectory(fn);
        File.WriteAllText(Path.Combine(fn, "vendor"), vendor + "\n");
        File.WriteAllText(Path.Combine(fn, "class"), cls + "\n");
        var dir = Path.Combine(_sysfs, "kernel/iommu_groups", group.ToString(), "devices");
        Directory.CreateDirectory(dir);
        File.CreateSymbolicLink(Path.Combine(dir, address), fn);
    }

    public void Dispose() => Directory.Delete(_sysfs, recursive: true);

    static JsonObject Device(string path) => new() { ["path"] = path, ["type"] = "c", ["major"] = 1, ["minor"] = 3 };

    [Theory]
    [InlineData("absent")]
    [InlineData("null")]
    [InlineData("empty")]
    public void Vfio_devices_are_annotated_in_state_whatever_the_annotations_were(string annotations)
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sh", "-c", "ls /dev/vfio");
        switch (annotations)
        {
            case "absent": bundle.Config.Remove("annotations"); break;
            case "null": bundle.Config["annotations"] = null; break;
            case "empty": bundle.Config["annotations"] = new JsonObject(); break;
        }
        var linux = (JsonObject)(bundle.Config["linux"] ??= new JsonObject());
        linux["devices"] = new JsonArray(Device("/dev/vfio/12"), Device("/dev/vfio/9"), Device("/dev/vfio/7"));
        bundle.Save();
        Assert.Equal(annotations == "absent", !File.ReadAllText(bundle.ConfigPath).Contains("\"annotations\""));

        var env = new RunOptions { Environment = new Dictionary<string, string?> { ["HUSK_SYSFS_ROOT"] = _sysfs, ["HUSK_CDI_SPEC_DIRS"] = null } };
        var id = root.NewId();
        root.Run(env, "create", "--bundle", bundle.Dir, id).AssertSuccess();
        var state = JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!;
        var ann = state["annotations"]?.AsObject();
        Assert.NotNull(ann);
        Assert.Equal("nvidia.com/gpu=0", (string?)ann["cdi.k8s.io/vfio7"]);
        Assert.Equal("nvidia.com/gpu=1", (string?)ann["cdi.k8s.io/vfio12"]);
        Assert.False(ann.ContainsKey("cdi.k8s.io/vfio9"), "the NVSwitch-like function must not be annotated");
        root.Run("delete", "--force", id).AssertSuccess();

        // And a whole run: the device nodes exist inside.
        var r = root.Run(env, "run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
        Assert.Equal(["12", "7", "9"], r.StdoutLines.SelectMany(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Order());
    }
}
