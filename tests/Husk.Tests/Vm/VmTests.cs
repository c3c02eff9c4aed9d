using System.Text;
using Husk.Spec;
using Husk.Vm;
using Xunit;

namespace Husk.Tests.Vm;

public class CpioWriterTests
{
    /// <summary>The newc entries of an archive: (name, mode, data), read as the kernel reads them.</summary>
    static List<(string Name, uint Mode, byte[] Data)> Read(byte[] archive)
    {
        var entries = new List<(string, uint, byte[])>();
        int at = 0;
        while (true)
        {
            Assert.Equal("070701", Encoding.ASCII.GetString(archive, at, 6));
            uint Field(int i) => Convert.ToUInt32(Encoding.ASCII.GetString(archive, at + 6 + 8 * i, 8), 16);
            uint mode = Field(1), size = Field(6), nameSize = Field(11);
            string name = Encoding.UTF8.GetString(archive, at + 110, (int)nameSize - 1);
            int data = (at + 110 + (int)nameSize + 3) & ~3;
            Assert.Equal(0, data % 4);
            if (name == "TRAILER!!!") { Assert.Equal(archive.Length, data); return entries; }
            entries.Add((name, mode, archive[data..(data + (int)size)]));
            at = (data + (int)size + 3) & ~3;
        }
    }

    [Fact]
    public void Entries_read_back_with_their_modes_and_data_on_four_byte_boundaries()
    {
        var output = new MemoryStream();
        var cpio = new CpioWriter(output);
        cpio.Directory("lib");
        cpio.File("init", [1, 2, 3, 4, 5], 0x1ed);
        cpio.File("lib/x", [], 0x1a4);
        cpio.Finish();

        var entries = Read(output.ToArray());

        Assert.Equal(["lib", "init", "lib/x"], entries.Select(e => e.Name));
        Assert.Equal(0x41edu, entries[0].Mode);
        Assert.Equal(0x81edu, entries[1].Mode);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, entries[1].Data);
        Assert.Empty(entries[2].Data);
    }
}

public class QemuCommandTests
{
    static VmPlan Plan(bool kvm) => new()
    {
        Kernel = "/k", Initrd = "/i", Kvm = kvm, MemoryMiB = 384, Cpus = 2, FsSocket = "/run/x/fs.sock",
        Ports = [(QemuCommand.ControlPort, 3), (QemuCommand.StdinPort, 4)], ConsoleLog = "/run/x/console.log", TscKhz = 2100000,
    };

    static string After(IReadOnlyList<string> args, string flag, int nth = 0) =>
        args.Select((a, i) => (a, i)).Where(x => x.a == flag).Select(x => args[x.i + 1]).ElementAt(nth);

    [Fact]
    public void Tcg_gets_a_small_translation_cache_and_the_tsc_rate_kvm_neither()
    {
        var tcg = QemuCommand.Arguments(Plan(kvm: false));
        Assert.Equal("tcg,tb-size=64", After(tcg, "-accel"));
        Assert.Contains("tsc_early_khz=2100000", After(tcg, "-append"));
        var kvm = QemuCommand.Arguments(Plan(kvm: true));
        Assert.Equal("kvm", After(kvm, "-accel"));
        Assert.DoesNotContain("tsc_early_khz", After(kvm, "-append"));
    }

    [Fact]
    public void Guest_memory_is_a_shared_memfd_of_the_planned_size_for_vhost_user()
    {
        var args = QemuCommand.Arguments(Plan(kvm: false));
        Assert.Equal("384M", After(args, "-m"));
        Assert.Equal("memory-backend-memfd,id=mem,size=384M,share=on", After(args, "-object"));
        Assert.Contains("memory-backend=mem", After(args, "-M"));
        Assert.Equal("virtio-mmio.force-legacy=false", After(args, "-global"));
        Assert.Equal("2", After(args, "-smp"));
    }

    [Fact]
    public void The_rootfs_share_and_each_port_are_wired_to_their_sockets()
    {
        var args = QemuCommand.Arguments(Plan(kvm: false));
        var chardevs = Values(args, "-chardev");
        var devices = Values(args, "-device");
        Assert.Contains("socket,id=fs,path=/run/x/fs.sock", chardevs);
        Assert.Contains($"vhost-user-fs-device,chardev=fs,tag={GuestInit.ShareTag}", devices);
        Assert.Contains("socket,id=port0,fd=3", chardevs);
        Assert.Contains($"virtserialport,chardev=port0,name={QemuCommand.ControlPort}", devices);
        Assert.Contains("socket,id=port1,fd=4", chardevs);
        Assert.Contains($"virtserialport,chardev=port1,name={QemuCommand.StdinPort}", devices);
        Assert.Contains("virtio-balloon-device,free-page-reporting=on", devices);
    }

    static List<string> Values(IReadOnlyList<string> args, string flag) =>
        [.. args.Select((a, i) => (a, i)).Where(x => x.a == flag).Select(x => args[x.i + 1])];
}

public class VmIsolationTests
{
    static global::Husk.Spec.Spec With(string? isolation)
    {
        var spec = new global::Husk.Spec.Spec();
        if (isolation != null) spec.Annotations[VmIsolation.Annotation] = isolation;
        return spec;
    }

    [Theory]
    [InlineData("vm", "husk", true)]
    [InlineData("container", "husk-vm", false)]
    [InlineData(null, "/usr/local/bin/husk-vm", true)]
    [InlineData(null, "husk", false)]
    public void The_annotation_wins_else_the_name_husk_runs_as(string? annotation, string argv0, bool vm) =>
        Assert.Equal(vm, VmIsolation.Selected(With(annotation), argv0));

    [Fact]
    public void An_unknown_isolation_is_refused_by_its_path()
    {
        var e = Assert.Throws<HuskException>(() => VmIsolation.Selected(With("gvisor"), "husk"));
        Assert.Contains("/annotations/io.husk.isolation", e.Message);
    }

    [Fact]
    public void Guest_memory_follows_the_memory_limit_and_vcpus_the_cpu_quota()
    {
        var spec = new global::Husk.Spec.Spec { Linux = new global::Husk.Spec.Linux { Resources = new LinuxResources() } };
        Assert.Equal(256, VmInstance.MemoryMiB(spec));
        Assert.Equal(1, VmInstance.Cpus(spec));
        spec.Linux!.Resources!.Memory = new LinuxMemory { Limit = 512L << 20 };
        spec.Linux.Resources.CPU = new LinuxCPU { Quota = 150000, Period = 100000 };
        Assert.Equal(512 + 128, VmInstance.MemoryMiB(spec));
        Assert.Equal(Math.Min(2, Environment.ProcessorCount), VmInstance.Cpus(spec));
    }

    [Fact]
    public void Joined_namespaces_devices_and_hooks_are_refused_for_now_by_their_path()
    {
        var netns = new global::Husk.Spec.Spec { Linux = new global::Husk.Spec.Linux { Namespaces = [new LinuxNamespace { Type = "network", Path = "/var/run/netns/x" }] } };
        Assert.Contains("/linux/namespaces", Assert.Throws<HuskException>(() => VmInstance.RefuseUnsupported(netns)).Message);
        var device = new global::Husk.Spec.Spec { Linux = new global::Husk.Spec.Linux { Devices = [new LinuxDevice { Path = "/dev/fuse", Type = "c" }] } };
        Assert.Contains("/linux/devices", Assert.Throws<HuskException>(() => VmInstance.RefuseUnsupported(device)).Message);
        var hook = new global::Husk.Spec.Spec { Hooks = new Hooks { Prestart = [new Hook { Path = "/bin/true" }] } };
        Assert.Contains("/hooks", Assert.Throws<HuskException>(() => VmInstance.RefuseUnsupported(hook)).Message);
        // Binds and terminals are supported.
        VmInstance.RefuseUnsupported(new global::Husk.Spec.Spec { Mounts = [new Mount { Destination = "/data", Source = "/srv", Type = "bind", Options = ["rbind"] }] });
        VmInstance.RefuseUnsupported(new global::Husk.Spec.Spec { Process = new global::Husk.Spec.Process { Terminal = true } });
    }
}
