using System.Globalization;

namespace Husk.Vm;

/// <summary>What one VM is started with: everything <see cref="QemuCommand.Arguments"/> needs. Pure data.</summary>
public sealed record VmPlan
{
    public required string Kernel { get; init; }
    public required string Initrd { get; init; }
    /// <summary>KVM, or TCG emulation.</summary>
    public required bool Kvm { get; init; }
    public required int MemoryMiB { get; init; }
    public required int Cpus { get; init; }
    /// <summary>virtiofsd's vhost-user socket for the rootfs share.</summary>
    public required string FsSocket { get; init; }
    /// <summary>The virtio-serial ports: each a connected socket QEMU inherits as this fd number.</summary>
    public required IReadOnlyList<(string Name, int Fd)> Ports { get; init; }
    /// <summary>The guest kernel's own messages (its serial console) go to this file.</summary>
    public required string ConsoleLog { get; init; }
    /// <summary>The host CPU's TSC rate: under TCG the guest otherwise sometimes hangs calibrating it.</summary>
    public long TscKhz { get; init; }
}

/// <summary>
/// QEMU's command line for a container VM: the `microvm` machine (no PCI, no firmware: the
/// kernel is loaded directly), virtio over MMIO (modern devices only: libvhost-user refuses the
/// legacy ones), guest memory a shared memfd (vhost-user needs it), the rootfs and bind sources over virtio-fs
/// (tag <see cref="GuestInit.ShareTag"/>), and virtio-serial ports on sockets Husk holds.
/// </summary>
public static class QemuCommand
{
    /// <summary>
    /// The ports between Husk on the host and in the guest: control (container id and config.json
    /// in, signals in, the exit status out) and the workload's stdin, stdout and stderr, each its
    /// own port so that the end of stdin (the host closes that socket) ends nothing else, and the execs.
    /// </summary>
    public const string ControlPort = "husk.control", StdinPort = "husk.stdin", StdoutPort = "husk.stdout", StderrPort = "husk.stderr",
        ExecPort = "husk.exec";

    /// <summary>The ports in the order of <see cref="VmPlan.Ports"/>; <see cref="ExecPort"/> carries every exec, multiplexed (<see cref="VmExec"/>).</summary>
    public static readonly string[] Ports = [ControlPort, StdinPort, StdoutPort, StderrPort, ExecPort];

    public static IReadOnlyList<string> Arguments(VmPlan p)
    {
        var inv = CultureInfo.InvariantCulture;
        var append = "console=ttyS0 quiet panic=-1 reboot=t rdinit=/init";
        if (!p.Kvm && p.TscKhz > 0) append += string.Create(inv, $" tsc_early_khz={p.TscKhz}");
        var args = new List<string>
        {
            "-M", "microvm,x-option-roms=off,rtc=off,memory-backend=mem",
            // TCG's translation cache would otherwise take up to 1 GiB of host memory per VM.
            "-accel", p.Kvm ? "kvm" : "tcg,tb-size=64",
            "-cpu", p.Kvm ? "host" : "max",
            "-smp", p.Cpus.ToString(inv),
            "-m", $"{p.MemoryMiB.ToString(inv)}M",
            "-object", $"memory-backend-memfd,id=mem,size={p.MemoryMiB.ToString(inv)}M,share=on",
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-global", "virtio-mmio.force-legacy=false",
            "-serial", $"file:{p.ConsoleLog}",
            "-kernel", p.Kernel, "-initrd", p.Initrd, "-append", append,
            "-chardev", $"socket,id=fs,path={p.FsSocket}",
            "-device", $"vhost-user-fs-device,chardev=fs,tag={GuestInit.ShareTag}",
            "-device", "virtio-serial-device",
            // The guest reports the memory it frees, and QEMU gives it back to the host.
            "-device", "virtio-balloon-device,free-page-reporting=on",
        };
        for (int i = 0; i < p.Ports.Count; i++)
        {
            var (name, fd) = p.Ports[i];
            args.Add("-chardev"); args.Add($"socket,id=port{i},fd={fd.ToString(inv)}");
            args.Add("-device"); args.Add($"virtserialport,chardev=port{i},name={name}");
        }
        return args;
    }
}
