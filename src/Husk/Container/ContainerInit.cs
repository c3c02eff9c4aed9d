using System.Text;
using Husk.Init;
using Husk.Linux;
using Husk.Rootfs;

namespace Husk.Container;

/// <summary>
/// `husk init`: the container's init after nsexec.c has put it in its namespaces. Builds the
/// container (rootfs, hostname, sysctl, masked paths, rlimits), tells `create` it is ready,
/// waits on the exec fifo for `start`, then becomes the user process. Runs on the main thread
/// throughout: credentials, capabilities and no_new_privs must be set on the thread that execs.
/// </summary>
public static class ContainerInit
{
    public static int Run()
    {
        int fifoFd = InitLauncher.InheritedFd(InitLauncher.FifoFdEnv);
        using var channel = new InitChannel(InitLauncher.InheritedFd(InitLauncher.InitPipeEnv));
        // The parent is gone or confused when this fails; it reports what happened.
        if (InitLauncher.ReceiveConfig(channel) is not { } config) return 1;

        var process = config.Process;
        Husk.Seccomp.SeccompListener? seccompListener = null;
        try
        {
            // The bind sources create opened (BindSources) follow the config at once: taken before
            // anything here can fail, so create never sends them to an init that exited with an error.
            var bindSources = BindSources.Receive(channel, config.BindSources);
            // As runc's nsexec: the init leads its own session (CRIU cannot checkpoint a container
            // whose session leader is outside its pid namespace).
            Native.EnsureSessionLeader();
            // First, as runc: do not share the caller's session keyring (unless --no-new-keyring).
            if (!config.NoNewKeyring) ProcessSetup.JoinSessionKeyring(config.Id, config.UserNamespace);
            // While the host's files are in reach: load libseccomp (from the host, never from the
            // container's image) and connect to the seccomp agent.
            seccompListener = Husk.Seccomp.SeccompFilter.Prepare(config.Seccomp);
            var rootfsSpec = config.RootfsSpec();
            RootfsBuilder.Prepare(rootfsSpec, config.Rootfs,
                new RootfsOptions
                {
                    NoPivot = config.NoPivot, InUserNamespace = config.UserNamespace,
                    IdmappedMountFds = Husk.Rootfs.IdmappedMounts.FromEnvironment(),
                    BindSourceFds = bindSources,
                    // As runc: a missing cwd is created (0755) in the new root, before it may turn read-only.
                    AfterPivot = () => ProcessSetup.CreateCwd(process.Cwd),
                },
                beforePivot: () =>
                {
                    channel.Send(InitMessage.RunCreateRuntimeHooks, ReadOnlySpan<byte>.Empty);
                    channel.Expect(InitMessage.HooksDone, "while createRuntime hooks ran");
                    if (config.CreateContainerHooks.Count > 0)
                        HookRunner.Run(config.CreateContainerHooks, config.StateJson(ContainerStatus.Creating), "createContainer");
                });
            // process.terminal: the pty is made here, from the container's own /dev/ptmx (after
            // pivot_root), and its master sent over the console socket (ContainerConsole).
            if (process.Terminal) ContainerConsole.Setup(ContainerConsole.InheritedSocket(), process.ConsoleSize, process.User.UID);

            // Set only in a UTS namespace of the container's own (InitConfig.ForCreate decided).
            if (config.Hostname is { } hostname) ProcessSetup.SetHostname(hostname);
            if (config.Domainname is { } domainname) ProcessSetup.SetDomainname(domainname);
            if (config.Linux is { } linux)
            {
                ProcessSetup.ApplySysctl(linux.Sysctl);
                RootfsBuilder.ApplyReadonlyPaths(linux.ReadonlyPaths);
                RootfsBuilder.ApplyMaskedPaths(linux.MaskedPaths);
                // As runc's standard init, after the paths: linux.personality (e.g. LINUX32 for `uname -m` i686).
                ProcessSetup.ApplyPersonality(linux.Personality);
            }
            RootfsBuilder.ApplyRootPropagation(rootfsSpec);
            ProcessSetup.ApplyRlimits(process.Rlimits);
            // Fail at create, not after start, when the program cannot be found (as runc does).
            ProcessSetup.ResolveExecutable(process.Args[0], process.Env, process.Cwd);
            channel.Send(InitMessage.Ready, ReadOnlySpan<byte>.Empty);
        }
        catch (Exception e)
        {
            var msg = e is HuskException ? e.Message : $"container init: {e.GetType().Name}: {e.Message}";
            try { channel.Send(InitMessage.Error, msg); } catch (HuskException) { }
            return 1;
        }
        channel.Dispose();

        try
        {
            WaitForStart(fifoFd);
            var seccomp = config.Seccomp;
            string seccompState = seccomp is null ? "" : config.StateJson(ContainerStatus.Running);
            // The startContainer hooks run last, as the container's user with its capabilities and
            // filter (runc's standard init): they come from the image.
            Action? startContainerHooks = null;
            if (config.StartContainerHooks.Count > 0)
            {
                string hookState = config.StateJson(ContainerStatus.Created);
                startContainerHooks = () => HookRunner.Run(config.StartContainerHooks, hookState, "startContainer");
            }
            ProcessSetup.BecomeProcess(process, config.PreserveFds,
                seccomp is null ? null : () => Husk.Seccomp.SeccompFilter.Install(seccomp, seccompState, 0, seccompListener),
                startContainerHooks);
            return 127; // BecomeProcess only returns by throwing
        }
        catch (Exception e)
        {
            // After create has returned: `start` waits for this process to exec or exit and reports
            // what is left in the exec fifo; the container's stderr gets it too.
            string msg = e is HuskException ? e.Message : $"container init: {e.GetType().Name}: {e.Message}";
            ReportStartError(fifoFd, msg);
            Console.Error.WriteLine($"husk: {(e is HuskException ? e.Message : e.ToString())}");
            return 127;
        }
    }

    /// <summary>
    /// Blocks until `start` writes to the exec fifo. The fifo stays open, close-on-exec: `start`
    /// waits until no reader is left (this process exec'd the program or died) before it runs the
    /// poststart hooks, and reads any error this process left in it (<see cref="ReportStartError"/>).
    /// When `start` does not come at once (as in `run`), the pages only read so far are given back
    /// first: a created container may wait for a long time.
    /// </summary>
    internal static unsafe void WaitForStart(int fifoFd)
    {
        const int StartsAtOnceMs = 20;
        var pfd = new Native.PollFd { Fd = fifoFd, Events = Native.POLLIN };
        int ready;
        while ((ready = Native.poll(&pfd, 1, StartsAtOnceMs)) < 0 && Native.Errno == Native.EINTR) { }
        if (ready == 0) ProcessMemory.DropCleanFilePages();
        byte b;
        while (true)
        {
            nint n = Native.read(fifoFd, &b, 1);
            if (n == 1) break;
            if (n < 0 && Native.Errno == Native.EINTR) continue;
            throw new HuskException("exec fifo closed before start");
        }
        int flags = Native.fcntl(fifoFd, Native.F_GETFD, 0);
        if (flags >= 0) Native.fcntl(fifoFd, Native.F_SETFD, flags | Native.FD_CLOEXEC);
    }

    /// <summary>Leaves one line for `start` in the exec fifo (best effort: `start` may be gone).</summary>
    internal static void ReportStartError(int fifoFd, string message)
    {
        try { Native.WriteAll(fifoFd, Encoding.UTF8.GetBytes(message.ReplaceLineEndings(" ") + "\n"), "exec fifo"); }
        catch (HuskException) { }
    }
}
