using System.Text;
using Husk.Container;
using Husk.Spec.Json;

namespace Husk.Vm;

/// <summary>What `create` sends a VM container's monitor (<see cref="VmMonitor"/>).</summary>
public sealed class VmMonitorConfig
{
    public string Id { get; set; } = "";
    /// <summary>The rootfs on the host, links resolved (virtiofsd shares a directory).</summary>
    public string Rootfs { get; set; } = "";
    /// <summary>The guest's initramfs (located by create: the monitor runs from a sealed copy of husk).</summary>
    public string Initrd { get; set; } = "";
    /// <summary>Where the VM's sockets and logs go: in the container's state directory, so `delete` removes it in any case.</summary>
    public string RuntimeDirectory { get; set; } = "";
    /// <summary>The container's config.json.</summary>
    public string Spec { get; set; } = "";

    public static readonly JsonShape<VmMonitorConfig> Shape = new(m =>
    [
        m.String("id", c => c.Id, (c, v) => c.Id = v),
        m.String("rootfs", c => c.Rootfs, (c, v) => c.Rootfs = v),
        m.String("initrd", c => c.Initrd, (c, v) => c.Initrd = v),
        m.String("runtimeDirectory", c => c.RuntimeDirectory, (c, v) => c.RuntimeDirectory = v),
        m.String("spec", c => c.Spec, (c, v) => c.Spec = v),
    ]);
}

/// <summary>
/// `husk init` in VM mode: the process that stands for a VM container on the host (its pid in
/// `state`, as runsc's sandbox process), in the container's cgroup with QEMU and virtiofsd as its
/// children. It boots the VM, reports ready to `create` once the guest has created the container,
/// waits on the exec fifo for `start` like any init, then lets the workload run, relays its stdio,
/// passes signals on, and exits with the workload's exit code.
/// </summary>
public static class VmMonitor
{
    public static int Run()
    {
        int fifoFd = InitLauncher.InheritedFd(InitLauncher.FifoFdEnv);
        VmInstance vm;
        using (var channel = new InitChannel(InitLauncher.InheritedFd(InitLauncher.InitPipeEnv)))
        {
            VmMonitorConfig config;
            try
            {
                config = VmMonitorConfig.Shape.ReadDocument(channel.Expect(InitMessage.Config, "before receiving its config"))
                    ?? throw new HuskException("VM monitor: empty config");
            }
            catch (HuskException) { return 1; } // the parent is gone or confused; it reports what happened
            try
            {
                vm = VmInstance.Boot(config);
                try { vm.AwaitCreated(); }
                catch { vm.Dispose(); throw; }
                channel.Send(InitMessage.Ready, ReadOnlySpan<byte>.Empty);
            }
            catch (Exception e)
            {
                try { channel.Send(InitMessage.Error, e is HuskException ? e.Message : $"VM monitor: {e.GetType().Name}: {e.Message}"); } catch (HuskException) { }
                return 1;
            }
        }
        using (vm)
        {
            try
            {
                ContainerInit.WaitForStart(fifoFd);
                vm.Start();
            }
            catch (HuskException e)
            {
                // As the init's: `start` reports what is left in the fifo.
                ContainerInit.ReportStartError(fifoFd, e.Message);
                Console.Error.WriteLine($"husk: {e.Message}");
                return 127;
            }
            // Started: `start` sees the fifo without a reader.
            Linux.Native.close(fifoFd);
            try { return vm.AwaitExit(); }
            catch (HuskException e)
            {
                Console.Error.WriteLine($"husk: {e.Message}");
                return 127;
            }
        }
    }
}
