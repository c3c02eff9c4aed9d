using Husk.Init;
using Husk.Linux;

namespace Husk.Container;

/// <summary>
/// `husk init` in exec mode (<see cref="InitLauncher.InitModeEnv"/>): a process that nsexec.c has
/// put into every namespace of a running container (joining its mount namespace put it at the
/// container's root), and that `husk exec` has put into its cgroup. No rootfs work: the session,
/// terminal, rlimits, labels, user, capabilities, no_new_privs, umask, cwd, then execve
/// (runc's setns_init_linux.go), with the container's seccomp filter. Reports Ready just before execve; the socket is close-on-exec,
/// so `husk exec` sees end-of-file once the program runs, or an Error if execve failed.
/// </summary>
public static class ExecInit
{
    public static int Run()
    {
        using var channel = new InitChannel(InitLauncher.InheritedFd(InitLauncher.InitPipeEnv));
        // The parent is gone or confused when this fails; it reports what happened.
        if (InitLauncher.ReceiveConfig(channel) is not { } config) return 1;

        var process = config.Process;
        try
        {
            // As runc's nsexec: lead a session (and so be able to take a controlling terminal).
            Native.EnsureSessionLeader();
            if (!config.NoNewKeyring) ProcessSetup.JoinSessionKeyring(config.Id, config.UserNamespace);
            if (process.Terminal)
                ContainerConsole.Setup(ContainerConsole.InheritedSocket(), process.ConsoleSize, process.User.UID);
            ProcessSetup.ApplyRlimits(process.Rlimits);
            var seccomp = config.Seccomp;
            var listener = Husk.Seccomp.SeccompListener.Inherited(seccomp);
            // Fail with a clear message now when the program cannot be found. Errors after Ready
            // still reach `exec` (it reads the socket until the close-on-exec end-of-file).
            ProcessSetup.ResolveExecutable(process.Args.Count > 0 ? process.Args[0] : "",
                ProcessSetup.ProcessEnvironment(process.Env, process.User.UID), process.Cwd);
            channel.Send(InitMessage.Ready, ReadOnlySpan<byte>.Empty);
            // The rest in ContainerInit's order (runc's setns init).
            ProcessSetup.BecomeProcess(process, config.PreserveFds,
                seccomp is null ? null : () => Husk.Seccomp.SeccompFilter.Install(seccomp, config.StateJson(ContainerStatus.Running), config.ProcessPid, listener));
            return 127; // BecomeProcess only returns by throwing
        }
        catch (Exception e)
        {
            var msg = e is HuskException ? e.Message : $"exec init: {e.GetType().Name}: {e.Message}";
            try { channel.Send(InitMessage.Error, msg); } catch (HuskException) { }
            return 127;
        }
    }
}
