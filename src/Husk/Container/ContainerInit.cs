using System.Text;
using System.Text.Json;
using Husk.Init;
using Husk.Linux;
using Husk.Rootfs;
using Husk.Spec;

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
        int sockFd = EnvFd(InitLauncher.InitPipeEnv), fifoFd = EnvFd(InitLauncher.FifoFdEnv);
        using var channel = new InitChannel(sockFd);
        Spec.Spec spec;
        InitOptions options;
        try
        {
            spec = SpecJson.Parse(channel.Expect(InitMessage.Spec, "before receiving its spec"));
            options = JsonSerializer.Deserialize(channel.Expect(InitMessage.Options, "before receiving its options"),
                ContainerJsonContext.Default.InitOptions) ?? throw new HuskException("init: empty options");
        }
        catch (HuskException) { return 1; } // the parent is gone or confused; it reports what happened

        var process = spec.Process!;
        try
        {
            RootfsBuilder.Prepare(spec, options.Rootfs,
                new RootfsOptions { NoPivot = options.NoPivot, InUserNamespace = options.UserNamespace },
                beforePivot: () =>
                {
                    channel.Send(InitMessage.RunCreateRuntimeHooks, ReadOnlySpan<byte>.Empty);
                    channel.Expect(InitMessage.HooksDone, "while createRuntime hooks ran");
                    if (spec.Hooks is { } hooks) HookRunner.Run(hooks.CreateContainer, options.StateJson, "createContainer");
                });

            var namespaces = NamespacePlan.From(spec);
            if (namespaces.Creates("uts") || namespaces.JoinsExisting("uts"))
            {
                if (!string.IsNullOrEmpty(spec.Hostname)) ProcessSetup.SetHostname(spec.Hostname);
                if (!string.IsNullOrEmpty(spec.Domainname)) ProcessSetup.SetDomainname(spec.Domainname);
            }
            if (spec.Linux is { } linux)
            {
                ProcessSetup.ApplySysctl(linux.Sysctl);
                RootfsBuilder.ApplyReadonlyPaths(linux.ReadonlyPaths);
                RootfsBuilder.ApplyMaskedPaths(linux.MaskedPaths);
            }
            RootfsBuilder.ApplyRootPropagation(spec);
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
            if (spec.Hooks is { } hooks) HookRunner.Run(hooks.StartContainer, options.StateJson.Replace("\"creating\"", "\"running\""), "startContainer");
            ProcessSetup.ApplyUserAndCapabilities(process);
            if (process.NoNewPrivileges) ProcessSetup.SetNoNewPrivileges();
            ProcessSetup.SetUmask(process.User.Umask);
            ProcessSetup.Exec(process, options.PreserveFds);
            return 127; // Exec only returns by throwing
        }
        catch (Exception e)
        {
            // After create has returned, the container's stderr is the only place left to say why.
            Console.Error.WriteLine($"husk: {(e is HuskException ? e.Message : e.ToString())}");
            return 127;
        }
    }

    /// <summary>Blocks until `start` writes to the exec fifo.</summary>
    static unsafe void WaitForStart(int fifoFd)
    {
        byte b;
        while (true)
        {
            nint n = Native.read(fifoFd, &b, 1);
            if (n == 1) break;
            if (n < 0 && Native.Errno == Native.EINTR) continue;
            throw new HuskException("exec fifo closed before start");
        }
        Native.close(fifoFd);
    }

    static int EnvFd(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var fd) && fd > 2
            ? fd
            : throw new HuskException($"husk init is started by husk create, not by hand ({name} is not set)");
}
