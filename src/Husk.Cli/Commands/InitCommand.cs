using Husk.Container;

namespace Husk.Cli.Commands;

/// <summary>`husk init`: internal; the container's init, started by create (never by hand).</summary>
public sealed class InitCommand : Command
{
    public override string Name => "init";
    public override string Usage => "";
    public override string Summary => "internal: the container's init";
    public override bool Hidden => true;

    /// <summary>Started by create (ContainerInit, or VmMonitor for a container in a VM) or, in exec mode, by exec (ExecInit).</summary>
    public override int Execute(ParsedArgs args, GlobalOptions global)
    {
        // Run from /proc/PID/fd/N, the process would be named "N" in ps until it execs.
        Husk.Linux.Native.SetProcessName("husk:init");
        return Environment.GetEnvironmentVariable(InitLauncher.InitModeEnv) switch
        {
            InitLauncher.ExecMode => ExecInit.Run(),
            InitLauncher.VmMode => Husk.Vm.VmMonitor.Run(),
            Husk.Vm.VmExec.RelayMode => Husk.Vm.VmExec.RunRelay(),
            _ => ContainerInit.Run(),
        };
    }
}
