using System.Text;
using System.Text.Json;
using Husk.Cgroups;
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

/// <summary>Options `husk exec` sends its exec init besides the spec (whose process is the one to run).</summary>
public sealed class ExecInitOptions
{
    public string Id { get; set; } = "";
    public bool UserNamespace { get; set; }
    public int PreserveFds { get; set; }
    public bool NoNewKeyring { get; set; }
    /// <summary>The container's state (status running), for a seccomp listener.</summary>
    public string StateJson { get; set; } = "";
    /// <summary>The host pid of the process, for a seccomp listener.</summary>
    public int ProcessPid { get; set; }

    public static readonly JsonShape<ExecInitOptions> Shape = new(m =>
    [
        m.String("id", o => o.Id, (o, v) => o.Id = v),
        m.Value("userNamespace", o => o.UserNamespace, (o, v) => o.UserNamespace = v, JsonCodecs.Boolean),
        m.Value("preserveFds", o => o.PreserveFds, (o, v) => o.PreserveFds = v, JsonCodecs.Int32),
        m.Value("noNewKeyring", o => o.NoNewKeyring, (o, v) => o.NoNewKeyring = v, JsonCodecs.Boolean),
        m.String("stateJson", o => o.StateJson, (o, v) => o.StateJson = v),
        m.Value("processPid", o => o.ProcessPid, (o, v) => o.ProcessPid = v, JsonCodecs.Int32),
    ]);
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
        ContainerRecord r;
        Spec.Spec spec;
        using (store.Lock(o.Id))
        {
            r = store.ReadRecord(o.Id) ?? throw new HuskException($"container \"{o.Id}\" has no state; delete it with --force");
            var status = ContainerStatus.Of(store, r, createInProgress: false);
            if (status == ContainerStatus.Stopped) throw new HuskException($"cannot exec in a stopped container \"{o.Id}\"");
            if (status == ContainerStatus.Paused && !o.IgnorePaused)
                throw new HuskException($"cannot exec in a paused container \"{o.Id}\" (use --ignore-paused to override)");
            spec = store.ReadConfig(o.Id) ?? throw new HuskException($"container \"{o.Id}\" has no config.json in its state");
        }
        var process = BuildProcess(spec, o);
        var subCgroups = ParseSubCgroups(o.SubCgroups);
        Husk.Seccomp.SeccompFilter.Check(spec.Linux?.Seccomp);
        if (o.PreserveFds < 0 || o.PreserveFds > 1000) throw new HuskException($"--preserve-fds {o.PreserveFds}: out of range");
        if (o.PreserveFds > 0) Native.CheckOpenAtStart(3, o.PreserveFds, $"--preserve-fds {o.PreserveFds}");
        if (process.Terminal && o.ConsoleSocket == null && o.Detach)
            throw new HuskException("cannot allocate a terminal for a detached exec without --console-socket");

        var execSpec = Husk.Spec.Spec.Shape.Copy(spec);
        execSpec.Process = process;
        // Refused now, in one line, what the init could not apply here (as create does).
        Husk.Init.Lsm.CheckHost(execSpec);
        var joins = Joins(spec, r.Pid);

        // In the foreground the process is our child, or (forked into the pid namespace by nsexec's
        // intermediate process) reparented to us as a subreaper, so we can wait for its status.
        if (!o.Detach) Native.prctl(Native.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

        int consoleParent = -1, consoleChild = -1, pid = 0, spawned = 0;
        TerminalRelay? relay = null;
        // A notify listener is reached from here, the host: the exec init is in the container's mount namespace.
        using var listener = Husk.Seccomp.SeccompListener.Open(spec.Linux?.Seccomp);
        try
        {
            if (process.Terminal)
            {
                if (o.ConsoleSocket != null) consoleChild = Native.ConnectUnix(o.ConsoleSocket);
                else (consoleParent, consoleChild) = TerminalRelay.NewConsoleSocketPair();
            }
            // The process starts inside the container's cgroup without a move by pid (InitLauncher.JoinCgroup).
            var cgroup = r.Cgroup != null ? CgroupManagers.Open(r.Cgroup) : null;
            if (subCgroups.Count > 0)
                cgroup = (cgroup ?? throw new HuskException($"--cgroup: container \"{o.Id}\" has no cgroup")).Below(subCgroups);
            using var placement = cgroup?.NewProcessPlacement();
            using (var launch = InitLauncher.Launch(o.PreserveFds, null, consoleChild, exec: true, seccompListener: listener?.Fd ?? -1, cgroup: placement))
            {
                spawned = launch.SpawnedPid;
                // Paused meanwhile, the process would never answer; with --ignore-paused it waits for the resume.
                if (cgroup != null && !o.IgnorePaused)
                    launch.Channel.WhileWaiting = () =>
                    {
                        if (cgroup.FrozenDirectory() is { } dir)
                            throw new HuskException($"cannot exec in container \"{o.Id}\": its cgroup {dir} was frozen while the process started (paused?)");
                    };
                if (consoleChild >= 0) { Native.close(consoleChild); consoleChild = -1; }
                var b = new InitChannel.BootstrapBuilder();
                launch.JoinCgroup(placement, b);
                b.AddUInt32(BootstrapRecord.CloneFlags, 0);
                // The exec init starts inside the container's mount namespace: libseccomp must be
                // loaded by nsexec.c from the host before it joins (never from the container's image).
                if (spec.Linux?.Seccomp != null) b.AddText(BootstrapRecord.Preload, Native.LibSeccomp + "\0");
                foreach (var (flag, path) in joins) b.AddNamespacePath(flag, path);
                launch.Channel.Send(InitMessage.Bootstrap, b.ToArray());
                pid = AwaitPid(launch);

                var options = new ExecInitOptions
                {
                    Id = o.Id, PreserveFds = o.PreserveFds,
                    UserNamespace = joins.Any(j => j.Flag == NamespaceKinds.CLONE_NEWUSER),
                    StateJson = Creator.StateJson(r, spec, ContainerStatus.Running), ProcessPid = pid,
                };
                launch.Channel.Send(InitMessage.Spec, SpecJson.SerializeToUtf8(execSpec));
                launch.Channel.Send(InitMessage.Options, ExecInitOptions.Shape.WriteDocument(options));
                launch.Channel.Expect(InitMessage.Ready, "before the process was ready");
                // The socket is close-on-exec: end-of-file now means the program runs.
                var after = launch.Channel.Receive();
                if (after is { Type: InitMessage.Error } err) throw new HuskException(Encoding.UTF8.GetString(err.Payload));
                if (after != null) throw new HuskException($"exec init sent unexpected {after.Value.Type}");
            }
            if (consoleParent >= 0)
            {
                int master = TerminalRelay.Receive(consoleParent);
                consoleParent = -1;
                relay = TerminalRelay.Start(master);
            }
            if (o.PidFile != null) SmallFile.WriteAtomically(Path.GetFullPath(o.PidFile), Encoding.ASCII.GetBytes(pid.ToString()));
        }
        catch (Exception)
        {
            relay?.Dispose();
            if (pid > 0) Cleanup.KillAndReap(pid);
            if (spawned > 0 && spawned != pid) Cleanup.KillAndReap(spawned);
            if (consoleParent >= 0) Native.close(consoleParent);
            if (consoleChild >= 0) Native.close(consoleChild);
            throw;
        }
        if (o.Detach) return 0;

        try
        {
            int status = Runner.WaitForwardingSignals(pid);
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

    /// <summary>
    /// The namespaces to join: every type the container's spec lists, through the init's
    /// /proc/PID/ns file (also for those the container itself joined by path), except those this
    /// process is already in (setns into one's own user namespace fails).
    /// </summary>
    static List<(uint Flag, string Path)> Joins(Spec.Spec spec, int initPid)
    {
        var joins = new List<(uint, string)>();
        foreach (var ns in spec.Linux?.Namespaces ?? [])
        {
            var kind = NamespaceKinds.Find(ns.Type) ?? throw new HuskException($"/linux/namespaces: unknown namespace type \"{ns.Type}\"");
            var (flag, name) = (kind.CloneFlag, kind.ProcName);
            var path = $"/proc/{initPid}/ns/{name}";
            string? theirs = LinkOf(path);
            if (theirs == null) throw new HuskException($"cannot exec: the container's {ns.Type} namespace ({path}) is gone");
            if (theirs == LinkOf($"/proc/self/ns/{name}")) continue;
            if (joins.Any(j => j.Item1 == flag)) continue;
            joins.Add((flag, path));
        }
        return joins;
    }

    static string? LinkOf(string path)
    {
        try { return new FileInfo(path).LinkTarget; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Serves nsexec.c until it reports the pid of the process in the container (no user maps to write: it joins).</summary>
    static int AwaitPid(InitLauncher launch)
    {
        var msg = launch.Channel.Receive()
            ?? throw new HuskException($"exec init exited while joining the container's namespaces ({Cleanup.DescribeExit(launch.SpawnedPid)})");
        if (msg.Type == InitMessage.Error) throw new HuskException(Encoding.UTF8.GetString(msg.Payload));
        if (msg.Type != InitMessage.ChildPid) throw new HuskException($"exec init sent unexpected {msg.Type}");
        int pid = InitChannel.ReadInt(msg.Payload);
        // Forked into the container's pid namespace: reap the intermediate process.
        if (pid != launch.SpawnedPid) Cleanup.Reap(launch.SpawnedPid);
        return pid;
    }
}
