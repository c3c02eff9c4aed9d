using System.Text;
using Husk.Cgroups;
using Husk.Container;
using Husk.Container.Launch;
using Husk.Linux;
using Husk.Spec;

namespace Husk.Vm;

/// <summary>
/// `create` of a container in its own VM: the process started is the VM's monitor (`husk init` in
/// <see cref="InitLauncher.VmMode"/>, <see cref="VmMonitor"/>) in the container's cgroup, with the
/// exec fifo and, for a terminal, the console socket; it enters no namespace on the host (the guest makes the container's), and is ready
/// once the guest has created the container. linux.resources shape the guest (its memory and
/// vCPUs) and are applied again inside it, not to the host cgroup, which also holds QEMU.
/// </summary>
public sealed class VmStrategy(ContainerHandle container, Spec.Spec spec, CreateOptions options, GuestAssets assets, CgroupPlacement? placement, byte[] configJson) : LaunchStrategy
{
    public override string InitName => "VM monitor";
    public override string EnteringNamespaces => "starting";
    public override CgroupPlacement? Placement => placement;
    public override Action? StallCheck => null;

    public override InitLauncher Spawn()
    {
        var fifoPath = MakeExecFifo(container);
        // process.terminal: the monitor makes the pty on the host and sends its master over the console socket, as an init does.
        int console = ConsoleSocket(spec.Process!, options, out var connected);
        using var connectedScope = connected;
        return InitLauncher.Launch(0, fifoPath, console, mode: InitLauncher.VmMode, cgroup: placement);
    }

    public override void BeforeBootstrap() => placement?.CreateWhileStarting();

    /// <summary>
    /// The cgroup, and a mount namespace of the monitor's own (the binds of the VM's share live and
    /// end there); the container's namespaces are the guest's.
    /// </summary>
    public override InitChannel.BootstrapBuilder Bootstrap(IReadOnlyList<string> cgroupTasks) =>
        CgroupRecords(cgroupTasks).AddUInt32(BootstrapRecord.CloneFlags, NamespaceKinds.CLONE_NEWNS);

    public override void AfterBootstrap() => container.Store.WriteConfig(container.Id, configJson);

    public override void Configure(InitChannel channel)
    {
        container.Record.Pid = Pid;
        container.Record.PidStartTime = ProcFs.Stat(Pid)?.StartTime ?? 0;
        var rootfs = container.Record.Rootfs;
        // virtiofsd shares a directory, not a symbolic link to one.
        if (new DirectoryInfo(rootfs).ResolveLinkTarget(returnFinalTarget: true) is { } target) rootfs = target.FullName;
        var config = new VmMonitorConfig
        {
            Id = container.Id, Rootfs = rootfs, Initrd = Initramfs.For(assets),
            RuntimeDirectory = Path.Combine(container.Dir, "vm"),
            Spec = Encoding.UTF8.GetString(configJson),
        };
        channel.Send(InitMessage.Config, VmMonitorConfig.Shape.WriteDocument(config));
    }

    public override void AwaitReady(InitChannel channel) => channel.Expect(InitMessage.Ready, "before its VM was ready");

    public override void Terminate()
    {
        Cleanup.KillInit(container.Record.Pid, container.Record.PidStartTime);
        if (Spawned > 0 && container.Record.Pid == 0) Cleanup.KillAndReap(Spawned);
    }
}
