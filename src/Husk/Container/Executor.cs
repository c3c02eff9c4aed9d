using System.Text;
using System.Text.Json;
using Husk.Cgroups;
using Husk.Container.Launch;
using Husk.Linux;
using Husk.Spec;
using Husk.Spec.Json;

namespace Husk.Container;

/// <summary>What `husk exec` was asked for on the command line.</summary>
public sealed class ExecOptions
{
    public required string Id { get; init; }
    /// <summary>--process: a process JSON; else <see cref="Args"/> over the container's process.</summary>
    public string? ProcessFile { get; init; }
    public IReadOnlyList<string> Args { get; init; } = [];
    /// <summary>--tty; null when not given (the process is then not on a terminal, as in runc).</summary>
    public bool? Tty { get; init; }
    public string? ConsoleSocket { get; init; }
    public string? PidFile { get; init; }
    public bool Detach { get; init; }
    public string? Cwd { get; init; }
    public IReadOnlyList<string> Env { get; init; } = [];
    /// <summary>--user uid[:gid].</summary>
    public string? User { get; init; }
    public IReadOnlyList<uint> AdditionalGids { get; init; } = [];
    public IReadOnlyList<string> Caps { get; init; } = [];
    /// <summary>--no-new-privs; null when not given.</summary>
    public bool? NoNewPrivs { get; init; }
    public string? AppArmor { get; init; }
    public string? ProcessLabel { get; init; }
    public int PreserveFds { get; init; }
    public bool IgnorePaused { get; init; }
    /// <summary>--cgroup values, "[controller[,controller]:]path": existing sub-cgroups to run in.</summary>
    public IReadOnlyList<string> SubCgroups { get; init; } = [];
}

/// <summary>
/// `exec`: runs a new process in a running container. The process joins every namespace the
/// container's spec lists (through the init's /proc/PID/ns files, by nsexec.c: the user namespace
/// first, a fork for the pid namespace) and the container's cgroup, then `husk init` in exec mode
/// (<see cref="ExecInit"/>) sets it up and execs. In the foreground the exit code comes back
/// (128+signal when killed); with --detach, exec returns once the program runs.
/// </summary>
public static class Executor
{
    const string MissingCommand = "exec: a command is required (usage: husk exec [command options] <container-id> <command> [args...])";

    /// <summary>
    /// The --cgroup values as runc's getSubCgroupPaths reads them: "path" alone (once) for every
    /// hierarchy under the key "", or "controller[,controller]:path" per controller. Pure.
    /// </summary>
    public static Dictionary<string, string> ParseSubCgroups(IReadOnlyList<string> values)
    {
        var paths = new Dictionary<string, string>();
        foreach (var value in values)
        {
            var parts = value.Split(':', 3);
            if (parts.Length > 2) throw new HuskException($"invalid --cgroup argument: {value}");
            if (parts.Length == 1)
            {
                if (values.Count != 1) throw new HuskException($"invalid --cgroup argument: {value} (missing <controller>: prefix)");
                paths[""] = value;
            }
            else
                foreach (var controller in parts[0].Split(','))
                    paths[controller] = parts[1];
        }
        return paths;
    }

    public static int Exec(StateStore store, ExecOptions o)
    {
        if (o.ProcessFile == null && o.Args.Count == 0) throw new HuskException(MissingCommand);
        StateStore.ValidateId(o.Id);
        if (!store.Exists(o.Id)) throw new HuskException($"container \"{o.Id}\" does not exist");
        var container = ContainerHandle.Open(store, o.Id);
        Spec.Spec spec;
        using (container)
        {
            var status = container.Status();
            if (status == ContainerStatus.Stopped) throw new HuskException($"cannot exec in a stopped container \"{o.Id}\"");
            if (status == ContainerStatus.Paused && !o.IgnorePaused)
                throw new HuskException($"cannot exec in a paused container \"{o.Id}\" (use --ignore-paused to override)");
            spec = store.ReadConfig(o.Id) ?? throw new HuskException($"container \"{o.Id}\" has no config.json in its state");
        }
        var process = BuildProcess(spec, o);
        if (process.Terminal && o.ConsoleSocket == null && o.Detach)
            throw new HuskException("cannot allocate a terminal for a detached exec without --console-socket");
        // In its own VM: a host process stands for the guest's (Husk.Vm.VmExec).
        if (Husk.Vm.VmIsolation.InVm(spec)) return Husk.Vm.VmExec.Run(container.Dir, process, o.Detach, o.PidFile, o.ConsoleSocket);
        var subCgroups = ParseSubCgroups(o.SubCgroups);
        Husk.Seccomp.SeccompFilter.Check(spec.Linux?.Seccomp);
        InitLauncher.CheckPreserveFds(o.PreserveFds, listenFds: 0);
        // Refused now, in one line, what the init could not apply here (as create does): its labels are the process's.
        Husk.Init.Lsm.CheckHost(new Spec.Spec { Process = process, Linux = spec.Linux });
        var joins = ExecStrategy.Joins(spec, container.Record.Pid);

        // In the foreground the process is our child, or (forked into the pid namespace by nsexec's
        // intermediate process) reparented to us as a subreaper, so we can wait for its status.
        if (!o.Detach) Native.prctl(Native.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

        int pid;
        ExecStrategy? launch = null;
        TerminalRelay? relay = null;
        // A notify listener is reached from here, the host: the exec init is in the container's mount namespace.
        using var listener = Husk.Seccomp.SeccompListener.Open(spec.Linux?.Seccomp);
        try
        {
            // The process starts inside the container's cgroup without a move by pid (InitLauncher.JoinCgroup).
            var cgroup = container.Record.Cgroup != null ? CgroupManagers.Open(container.Record.Cgroup) : null;
            if (subCgroups.Count > 0)
                cgroup = (cgroup ?? throw new HuskException($"--cgroup: container \"{o.Id}\" has no cgroup")).Below(subCgroups);
            using var placement = cgroup?.NewProcessPlacement();
            launch = new ExecStrategy(container, spec, process, o, joins, cgroup, placement, listener);
            pid = InitLaunch.Run(launch);
            if (launch.ConsoleParent is { } consoleParent) relay = TerminalRelay.Start(TerminalRelay.Receive(consoleParent));
            if (o.PidFile != null) SmallFile.WriteAtomically(Path.GetFullPath(o.PidFile), Encoding.ASCII.GetBytes(pid.ToString()));
        }
        catch (Exception)
        {
            relay?.Dispose();
            launch?.Terminate();
            throw;
        }
        if (o.Detach) return 0;

        try
        {
            int status = Foreground.WaitForwardingSignals(pid);
            relay?.Drain(TimeSpan.FromSeconds(2));
            return Cleanup.ExitCode(status);
        }
        finally { relay?.Dispose(); }
    }

    /// <summary>
    /// The process to run, as runc's exec: --process FILE as written, with the container's
    /// capabilities, rlimits, apparmor profile, selinux label and no_new_privs where the file has
    /// none; or the container's process with the args and the flags applied over it.
    /// </summary>
    public static Process BuildProcess(Spec.Spec spec, ExecOptions o)
    {
        var container = spec.Process ?? new Process();
        Process p;
        if (o.ProcessFile != null)
        {
            if (o.Args.Count > 0) throw new HuskException("exec: give either --process or a command, not both");
            byte[] json;
            try { json = File.ReadAllBytes(o.ProcessFile); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new HuskException($"--process {o.ProcessFile}: {e.Message}");
            }
            p = SpecJson.ParseProcess(json, o.ProcessFile);
            p.Capabilities ??= container.Capabilities is { } caps ? LinuxCapabilities.Shape.Copy(caps) : null;
            if (p.Rlimits.Count == 0) p.Rlimits = [.. container.Rlimits];
            if (string.IsNullOrEmpty(p.ApparmorProfile)) p.ApparmorProfile = container.ApparmorProfile;
            if (string.IsNullOrEmpty(p.SelinuxLabel)) p.SelinuxLabel = container.SelinuxLabel;
            if (!HasProperty(json, "noNewPrivileges")) p.NoNewPrivileges = container.NoNewPrivileges;
        }
        else
        {
            if (o.Args.Count == 0) throw new HuskException(MissingCommand);
            p = Process.Shape.Copy(container);
            p.Args = [.. o.Args];
            p.Terminal = o.Tty ?? false;
            p.ConsoleSize = null;
            if (!string.IsNullOrEmpty(o.Cwd)) p.Cwd = o.Cwd;
            p.Env.AddRange(o.Env);
            if (o.User is { Length: > 0 } user) (p.User.UID, p.User.GID) = ParseUser(user, p.User.GID);
            p.User.AdditionalGids.AddRange(o.AdditionalGids);
            if (o.Caps.Count > 0)
            {
                p.Capabilities ??= new LinuxCapabilities();
                foreach (var cap in o.Caps)
                {
                    var name = cap.ToUpperInvariant();
                    if (!name.StartsWith("CAP_", StringComparison.Ordinal)) name = "CAP_" + name;
                    if (!Spec.Capabilities.All.ContainsKey(name)) throw new HuskException($"--cap {cap}: unknown capability");
                    p.Capabilities.Bounding.Add(name);
                    p.Capabilities.Effective.Add(name);
                    p.Capabilities.Permitted.Add(name);
                    // Ambient needs the inheritable bit; as runc, only when the spec has inheritable ones.
                    if (p.Capabilities.Inheritable.Count > 0) p.Capabilities.Ambient.Add(name);
                }
            }
            if (o.NoNewPrivs is bool nnp) p.NoNewPrivileges = nnp;
            if (!string.IsNullOrEmpty(o.AppArmor)) p.ApparmorProfile = o.AppArmor;
            if (!string.IsNullOrEmpty(o.ProcessLabel)) p.SelinuxLabel = o.ProcessLabel;
        }
        if (p.Args.Count == 0) throw new HuskException("exec: args must not be empty");
        if (p.Cwd == "") p.Cwd = "/";
        if (!p.Cwd.StartsWith('/')) throw new HuskException($"exec: cwd \"{p.Cwd}\" must be an absolute path");
        // The rules create applies to the container's process (capabilities, rlimits, oomScoreAdj, env, ...).
        var errors = SpecValidator.ValidateProcess(p);
        if (errors.Count > 0)
            throw new HuskException($"{o.ProcessFile ?? "exec"}: {errors[0]}{(errors.Count > 1 ? $" (and {errors.Count - 1} more problems)" : "")}");
        return p;
    }


    static bool HasProperty(byte[] json, string name)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(name, out _);
        }
        catch (JsonException) { return false; }
    }

    /// <summary>"uid" or "uid:gid" (numbers, as runc's exec --user).</summary>
    public static (uint Uid, uint Gid) ParseUser(string text, uint defaultGid)
    {
        var parts = text.Split(':');
        if (parts.Length > 2 || !uint.TryParse(parts[0], out uint uid))
            throw new HuskException($"--user \"{text}\": expected uid[:gid] (numbers)");
        uint gid = defaultGid;
        if (parts.Length == 2 && !uint.TryParse(parts[1], out gid))
            throw new HuskException($"--user \"{text}\": expected uid[:gid] (numbers)");
        return (uid, gid);
    }
}
