using Husk.Cdi;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Cdi;

/// <summary>A fake sysfs tree: PCI functions under devices/, IOMMU groups and vfio-dev links to them.</summary>
public sealed class FakeSysfs : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("husk-sysfs-").FullName;

    /// <summary>Adds PCI function <paramref name="address"/> to IOMMU group <paramref name="group"/> (a symlink, as the kernel makes).</summary>
    public FakeSysfs Function(int group, string address, string vendor, string cls)
    {
        var fn = PciDir(address, vendor, cls);
        var groupDir = Path.Combine(Root, "kernel/iommu_groups", group.ToString(), "devices");
        Directory.CreateDirectory(groupDir);
        File.CreateSymbolicLink(Path.Combine(groupDir, address), fn);
        return this;
    }

    /// <summary>Adds iommufd device vfio<paramref name="n"/> whose "device" links to PCI function <paramref name="address"/>.</summary>
    public FakeSysfs IommufdDevice(int n, string address, string vendor, string cls)
    {
        var fn = PciDir(address, vendor, cls);
        var dir = Path.Combine(Root, "class/vfio-dev", $"vfio{n}");
        Directory.CreateDirectory(dir);
        File.CreateSymbolicLink(Path.Combine(dir, "device"), fn);
        return this;
    }

    string PciDir(string address, string vendor, string cls)
    {
        var fn = Path.Combine(Root, "devices/pci0000:00", address);
        Directory.CreateDirectory(fn);
        File.WriteAllText(Path.Combine(fn, "vendor"), vendor + "\n");
        File.WriteAllText(Path.Combine(fn, "class"), cls + "\n");
        return fn;
    }

    /// <summary>Two NVIDIA GPUs (group 12 at bus 0x82, group 7 at bus 0x41, each with its audio function) and an NVSwitch-like bridge (group 9).</summary>
    public static FakeSysfs TwoGpusAndASwitch() => new FakeSysfs()
        .Function(12, "0000:82:00.0", "0x10de", "0x030200")
        .Function(12, "0000:82:00.1", "0x10de", "0x040300")
        .Function(7, "0000:41:00.0", "0x10de", "0x030000")
        .Function(7, "0000:41:00.1", "0x10de", "0x040300")
        .Function(9, "0000:05:00.0", "0x10de", "0x068000");

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>VFIO classification and the cdi.k8s.io/vfio&lt;N&gt; annotations, on fake sysfs trees.</summary>
public class VfioTests
{
    [Theory]
    [InlineData("0x10de", "0x030000", "nvidia.com/gpu")]
    [InlineData("0x10de", "0x030200", "nvidia.com/gpu")]
    [InlineData("0x10DE", "0x0302ff", "nvidia.com/gpu")]
    [InlineData("0x10de", "0x068000", null)] // NVSwitch (bridge)
    [InlineData("0x10de", "0x040300", null)] // HDMI audio
    [InlineData("0x1002", "0x030000", null)] // another vendor's GPU
    public void Classify(string vendor, string cls, string? kind) => Assert.Equal(kind, Vfio.Classify(vendor, cls));

    [Fact]
    public void Two_gpus_are_numbered_in_bus_order_and_the_switch_is_not_annotated()
    {
        using var sys = FakeSysfs.TwoGpusAndASwitch();
        var plan = Vfio.Plan(["/dev/vfio/vfio", "/dev/vfio/12", "/dev/vfio/9", "/dev/vfio/7", "/dev/null"], sys.Root);
        Assert.Equal(
            [new VfioAnnotation("/dev/vfio/12", "cdi.k8s.io/vfio12", "nvidia.com/gpu=1"),
             new VfioAnnotation("/dev/vfio/7", "cdi.k8s.io/vfio7", "nvidia.com/gpu=0")],
            plan.OrderBy(a => a.DevicePath));
    }

    [Fact]
    public void Iommufd_devices_are_found_through_vfio_dev()
    {
        using var sys = new FakeSysfs()
            .IommufdDevice(3, "0000:c1:00.0", "0x10de", "0x030200")
            .IommufdDevice(0, "0000:c2:00.0", "0x10de", "0x030200")
            .IommufdDevice(5, "0000:01:00.0", "0x10de", "0x068000");
        var plan = Vfio.Plan(["/dev/vfio/devices/vfio0", "/dev/vfio/devices/vfio3", "/dev/vfio/devices/vfio5"], sys.Root);
        Assert.Equal(
            [new VfioAnnotation("/dev/vfio/devices/vfio0", "cdi.k8s.io/vfio0", "nvidia.com/gpu=1"),
             new VfioAnnotation("/dev/vfio/devices/vfio3", "cdi.k8s.io/vfio3", "nvidia.com/gpu=0")],
            plan.OrderBy(a => a.DevicePath));
    }

    [Fact]
    public void Missing_sysfs_entries_and_odd_paths_are_skipped_without_failing()
    {
        using var sys = new FakeSysfs();
        Assert.Empty(Vfio.Plan(["/dev/vfio/42", "/dev/vfio/devices/vfio1", "/dev/vfio/abc", "/dev/vfio/", "", "/dev/vfio/vfio"], sys.Root));
        Assert.Empty(Vfio.Plan(["/dev/vfio/1"], Path.Combine(sys.Root, "does-not-exist")));
    }

    [Fact]
    public void Check_reports_the_hosts_vfio_devices_as_create_would_annotate_them()
    {
        using var sys = FakeSysfs.TwoGpusAndASwitch();
        var dev = Directory.CreateDirectory(Path.Combine(sys.Root, "fake-dev-vfio")).FullName;
        foreach (var f in new[] { "vfio", "12", "9", "7" }) File.WriteAllText(Path.Combine(dev, f), "");
        var report = CdiCheck.Run(specDirs: [Path.Combine(sys.Root, "no-cdi")], sysfsRoot: sys.Root, devVfio: dev);
        Assert.Equal(
            ["/dev/vfio/12: cdi.k8s.io/vfio12=nvidia.com/gpu=1", "/dev/vfio/7: cdi.k8s.io/vfio7=nvidia.com/gpu=0", "/dev/vfio/9: no known device kind, not annotated"],
            report.Results().Where(r => r.Name == "cdi.vfio").Select(r => r.Detail));
    }

    [Fact]
    public void Pci_addresses_order_numerically()
    {
        string[] addrs = ["0000:82:00.0", "0001:00:00.0", "0000:0a:00.0", "0000:0a:00.1", "0000:41:1f.0", "garbage"];
        Assert.Equal(["0000:0a:00.0", "0000:0a:00.1", "0000:41:1f.0", "0000:82:00.0", "0001:00:00.0", "garbage"],
            addrs.Order(Vfio.PciAddressComparer.Instance));
    }

    const string Head = """{"ociVersion":"1.2.0","process":{"args":["true"],"cwd":"/"},"root":{"path":"rootfs"},""";
    const string Devices = """
        "linux":{"namespaces":[{"type":"mount"}],"devices":[
          {"path":"/dev/vfio/vfio","type":"c","major":10,"minor":196},
          {"path":"/dev/vfio/12","type":"c","major":1,"minor":3},
          {"path":"/dev/vfio/9","type":"c","major":1,"minor":3},
          {"path":"/dev/vfio/7","type":"c","major":1,"minor":3}]}}
        """;

    [Theory]
    [InlineData("")]
    [InlineData("\"annotations\":null,")]
    [InlineData("\"annotations\":{},")]
    [InlineData("\"annotations\":{\"keep\":\"me\"},")]
    public void Absent_null_and_empty_annotations_all_get_the_vfio_annotations(string annotations)
    {
        using var sys = FakeSysfs.TwoGpusAndASwitch();
        var spec = SpecJson.Parse(Head + annotations + Devices);
        DeviceInjector.Apply(spec, specDirs: [], sysfsRoot: sys.Root);
        Assert.Equal("nvidia.com/gpu=0", spec.Annotations["cdi.k8s.io/vfio7"]);
        Assert.Equal("nvidia.com/gpu=1", spec.Annotations["cdi.k8s.io/vfio12"]);
        Assert.False(spec.Annotations.ContainsKey("cdi.k8s.io/vfio9"));
        Assert.False(spec.Annotations.ContainsKey("cdi.k8s.io/viofvfio"));
        Assert.Equal(annotations.Contains("keep") ? 3 : 2, spec.Annotations.Count);
        // And they survive a round trip through config.json, as create writes it.
        var again = SpecJson.Parse(SpecJson.Serialize(spec));
        Assert.Equal(spec.Annotations, again.Annotations);
    }

    [Fact]
    public void A_spec_made_in_code_with_a_null_annotations_map_does_not_crash()
    {
        using var sys = FakeSysfs.TwoGpusAndASwitch();
        var spec = new Husk.Spec.Spec { Annotations = null!, Linux = new Husk.Spec.Linux { Devices = [new LinuxDevice { Path = "/dev/vfio/7", Type = "c", Major = 1, Minor = 3 }] } };
        Vfio.Annotate(spec, sys.Root);
        Assert.Equal("nvidia.com/gpu=0", spec.Annotations["cdi.k8s.io/vfio7"]);
    }

    [Fact]
    public void No_vfio_devices_leave_the_spec_alone()
    {
        var spec = SpecJson.Parse(Head + "\"linux\":{\"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\",\"major\":10,\"minor\":229}]}}");
        DeviceInjector.Apply(spec, specDirs: [], sysfsRoot: "/nonexistent");
        Assert.Empty(spec.Annotations);
        spec = SpecJson.Parse(Head + "\"linux\":null}");
        DeviceInjector.Apply(spec, specDirs: [], sysfsRoot: "/nonexistent");
        Assert.Empty(spec.Annotations);
    }
}
