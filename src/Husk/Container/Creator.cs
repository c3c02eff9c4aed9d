using System.Text;
using Husk.Cgroups;
using Husk.Container.Launch;
using Husk.Linux;
using Husk.Spec;

namespace Husk.Container;

/// <summary>What `husk create` (and `run`) was asked for on the command line.</summary>
public sealed class CreateOptions
{
    public required string Id { get; init; }
    public required string Bundle { get; init; }
    public string? PidFile { get; init; }
    public string? ConsoleSocket { get; init; }
    /// <summary>An already connected console socket (`run -t` in the foreground relays the pty itself); -1: none.</summary>
    public int ConsoleSocketFd { get; set; } = -1;
    public bool NoPivot { get; init; }
    public bool NoNewKeyring { get; init; }
    public int PreserveFds { get; init; }
    /// <summary>
    /// The global --rootless: true ignores cgroup permission errors (the container runs without a
    /// cgroup of its own), false never does, null decides by the effective uid (runc's "auto").
    /// </summary>
    public bool? Rootless { get; init; }
    /// <summary>CDI spec directories, lowest priority first; null: --cdi-spec-dirs, $HUSK_CDI_SPEC_DIRS or the defaults.</summary>
    public IReadOnlyList<string>? CdiSpecDirs { get; init; }
}

/// <summary>
/// `create`: validates the bundle, makes the state directory and cgroup, starts the init
/// (whose C constructor enters the namespaces), answers its requests (uid/gid maps,
/// createRuntime hooks) and returns once it waits for `start`. On any failure everything made
/// so far is undone: no process, cgroup or state directory stays behind.
/// </summary>
public static class Creator
{
    /// <summary>
    /// The number of socket-activation fds passed to this process (LISTEN_FDS, when LISTEN_PID is
    /// this process, as go-systemd's activation.Files that runc uses); 0 when none.
    /// </summary>
    public static int ListenFds()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("LISTEN_FDS"), out int n) || n <= 0) return 0;
        if (!int.TryParse(Environment.GetEnvironmentVariable("LISTEN_PID"), out int pid) || pid != Environment.ProcessId) return 0;
        return Math.Min(n, 1000);
    }

    /// <param name="loaded">The bundle's spec when the caller has read it already (<see cref="Load"/>).</param>
    /// <param name="whenReady">Called the moment the init reports ready, before the created state is written (`run` starts it then).</param>
    /// <returns>The container, no longer locked.</returns>
    public static ContainerHandle Create(StateStore store, CreateOptions o, Spec.Spec? loaded = null, Action? whenReady = null)
    {
        var bundle = Path.GetFullPath(o.Bundle);
        var spec = loaded ?? Load(bundle);
        // VM isolation: what the host lacks for it is named now, before anything is made.
        var vmAssets = Husk.Vm.VmIsolation.Selected(spec) ? Husk.Vm.GuestAssets.Find().Require() : null;
        if (vmAssets != null)
        {
            Husk.Vm.VmInstance.RefuseUnsupported(spec);
            // Recorded, so that `state` shows it and later commands know, however it was chosen.
            spec.Annotations[Husk.Vm.VmIsolation.Annotation] = "vm";
        }
        // CDI devices from cdi.k8s.io/* annotations and VFIO annotations, before validation and
        // before anything is made (Husk.Cdi); record.Annotations below copies the result.
        Cdi.DeviceInjector.Apply(spec, o.CdiSpecDirs);
        Validate(spec, bundle);
        // What this host cannot enforce is refused now, in one line: LSM labels, seccomp features.
        Husk.Init.Lsm.CheckHost(spec);
        Husk.Seccomp.SeccompFilter.Check(spec.Linux?.Seccomp);
        var rootfs = RootfsOf(spec, bundle);
        if (spec.Process!.Terminal && o.ConsoleSocket == null && o.ConsoleSocketFd < 0)
            throw new HuskException("/process/terminal: a terminal needs --console-socket when the runtime does not stay attached");
        // Socket activation, as runc: LISTEN_FDS meant for us come first (3..), then --preserve-fds.
        int listenFds = ListenFds();
        int preserveFds = InitLauncher.CheckPreserveFds(o.PreserveFds, listenFds);
        var plan = NamespacePlan.From(spec);
        RefuseRuntimeMountNamespace(plan);
        ICgroupManager? cgroup = CgroupManagers.ForContainer(spec.Linux?.CgroupsPath, o.Id);
        // What the cgroup version cannot express (unified keys on v1) is refused before anything is made.
        if (spec.Linux?.Resources is { } resources) cgroup.CheckResources(resources);
        CheckExistingCgroup(cgroup);

        using var container = ContainerHandle.CreateNew(store, o.Id, bundle, rootfs, spec);
        var record = container.Record;
        LaunchStrategy? launch = null;
        try
        {
            // The cgroup is recorded before it is created, so a create killed half-way can still be cleaned up.
            record.Cgroup = cgroup.ToInfo();
            container.Save();

            // The cgroup decides what exists before the init starts (what it is started inside) and
            // what is made while it starts (what it moves itself into); the launch passes the placement on.
            bool rootless = o.Rootless ?? Native.geteuid() != 0;
            using var placement = CreateCgroupOrSkipWhenRootless(cgroup, spec, rootless);
            if (placement is null) cgroup = null;

            var configJson = SpecJson.SerializeToUtf8(spec);
            if (listenFds > 0) spec.Process.Env.AddRange([$"LISTEN_FDS={listenFds}", "LISTEN_PID=1"]);
            launch = vmAssets != null
                ? new Husk.Vm.VmStrategy(container, spec, o, vmAssets, placement, configJson)
                : new CreateStrategy(container, spec, plan, o, preserveFds, placement, cgroup, configJson);
            int initPid = InitLaunch.Run(launch);

            whenReady?.Invoke();
            if (o.PidFile != null) SmallFile.WriteAtomically(Path.GetFullPath(o.PidFile), Encoding.ASCII.GetBytes(initPid.ToString()));
            record.CreateFinished = true;
            container.Save();
            return container;
        }
        catch (Exception)
        {
            launch?.Terminate();
            try { cgroup?.Destroy(); } catch (HuskException e) { Log.Warn($"cleanup: {e.Message}"); }
            // Runtime spec lifecycle: a create that fails once the container exists (a prestart,
            // createRuntime or createContainer hook, or any later step) destroys it and goes on to
            // the poststop hooks, as runc's destroy does. Their failures are only warnings.
            if (launch is { Spawned: > 0 } && spec.Hooks is { Poststop.Count: > 0 } hooks)
                HookRunner.RunBestEffort(hooks.Poststop, container.StateJson(spec, ContainerStatus.Stopped), "poststop", Log.Warn);
            store.RemoveDirectory(o.Id);
            throw;
        }
    }

    /// <summary>
    /// runc's checks of a cgroup that exists before create: a frozen one is refused before anything
    /// is made (the init would stop before its first instruction and create would wait for it);
    /// processes already in it are only a warning.
    /// </summary>
    static void CheckExistingCgroup(ICgroupManager cgroup)
    {
        if (cgroup.FrozenDirectory() is { } frozen)
            throw new HuskException($"container's cgroup unexpectedly frozen: {frozen}; thaw it or use another linux.cgroupsPath");
        if (cgroup.Pids() is { Count: > 0 } pids)
            Log.Warn($"container's cgroup is not empty: {pids.Count} process(es) found");
    }

    /// <summary>
    /// Creates the container's cgroup for its init (<see cref="ICgroupManager.CreateForInit"/>). Rootless (run by
    /// a non-root user, or --rootless true), a cgroup tree that was not delegated to that user cannot be written:
    /// the container then runs without a cgroup of its own (as runc's rootless mode), said in a debug line, and
    /// in a warning when linux.resources asked for limits that are therefore not applied. Returns null when skipped.
    /// </summary>
    static CgroupPlacement? CreateCgroupOrSkipWhenRootless(ICgroupManager cgroup, Spec.Spec spec, bool rootless)
    {
        try
        {
            return cgroup.CreateForInit(rootless);
        }
        catch (HuskException e) when (rootless)
        {
            try { cgroup.Destroy(); } catch (HuskException) { }
            Log.Debug($"rootless: no cgroup for the container, the cgroup tree is not delegated to uid {Native.geteuid()} ({e.Message})");
            if (spec.Linux?.Resources is { } res && SpecJson.Serialize(res) is var json && json is not "{}" and not "null")
                Log.Warn("rootless: linux.resources are not applied: no cgroup is delegated to this user");
            return null;
        }
    }

    public static Spec.Spec LoadAndValidate(string bundle)
    {
        var spec = Load(bundle);
        Validate(spec, bundle);
        return spec;
    }

    /// <summary>
    /// The bundle's config.json. Bind sources are absolute or relative to the bundle (runtime spec;
    /// runc's cwd is the bundle, the init's here is the caller's), so relative ones are made absolute.
    /// </summary>
    public static Spec.Spec Load(string bundle)
    {
        if (!Directory.Exists(bundle)) throw new HuskException($"bundle {bundle}: no such directory");
        var spec = SpecJson.Load(Path.Combine(bundle, "config.json"));
        foreach (var m in spec.Mounts)
            if (m.Source is { Length: > 0 } src && src[0] != '/' && !src.Contains('\0') && m.IsBind)
                m.Source = Path.GetFullPath(src, bundle);
        return spec;
    }

    static void Validate(Spec.Spec spec, string bundle)
    {
        var errors = SpecValidator.Validate(spec, bundle);
        if (errors.Count == 1) throw new HuskException($"config.json: {errors[0]}");
        if (errors.Count > 1) throw new HuskException($"config.json: {errors.Count} problems: {string.Join("; ", errors)}");
    }

    /// <summary>root.path made absolute (relative to the bundle); it must be a directory.</summary>
    public static string RootfsOf(Spec.Spec spec, string bundle)
    {
        var rootfs = Path.GetFullPath(spec.Root!.Path, bundle);
        if (!Directory.Exists(rootfs)) throw new HuskException($"/root/path: rootfs \"{rootfs}\" is not a directory");
        return rootfs;
    }

    /// <summary>
    /// Joining the runtime's own mount namespace would bind, pivot_root and remount the host's root:
    /// refused (the validator already requires a mount namespace, new or joined).
    /// </summary>
    static unsafe void RefuseRuntimeMountNamespace(NamespacePlan plan)
    {
        foreach (var (flag, path) in plan.Joins)
        {
            if (flag != NamespaceKinds.CLONE_NEWNS) continue;
            Native.Statx joined, own;
            if (Native.statx(Native.AT_FDCWD, path, 0, Native.STATX_BASIC_STATS, &joined) < 0) continue; // nsexec reports it
            if (Native.statx(Native.AT_FDCWD, "/proc/self/ns/mnt", 0, Native.STATX_BASIC_STATS, &own) < 0) continue;
            // stx_ino is at offset 32 of struct statx.
            if (joined.DevMajor == own.DevMajor && joined.DevMinor == own.DevMinor
                && *(ulong*)((byte*)&joined + 32) == *(ulong*)((byte*)&own + 32))
                throw new HuskException($"/linux/namespaces: mount namespace {path} is the runtime's own (the host's); a container needs a mount namespace of its own");
        }
    }
}
