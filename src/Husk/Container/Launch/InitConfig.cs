using Husk.Spec;
using Husk.Spec.Json;

namespace Husk.Container.Launch;

/// <summary>
/// Everything `husk init` needs, translated from the spec once in the parent (<see cref="ForCreate"/>,
/// <see cref="ForExec"/>, both pure) with the decisions made there, and sent as one message
/// (<see cref="InitMessage.Config"/>): the init parses nothing else and derives nothing again.
/// </summary>
public sealed class InitConfig
{
    public string Id { get; set; } = "";
    /// <summary>Whether the process is in a user namespace (created or joined): its session keyring is made for that.</summary>
    public bool UserNamespace { get; set; }
    /// <summary>The fds 3.. it keeps (socket activation and --preserve-fds).</summary>
    public int PreserveFds { get; set; }
    public bool NoNewKeyring { get; set; }
    /// <summary>The process it becomes.</summary>
    public Process Process { get; set; } = new();
    /// <summary>
    /// The container's linux section: its seccomp filter for both; for create also what builds the
    /// rootfs and the rest (devices, sysctl, masked and read-only paths, propagation).
    /// </summary>
    public Spec.Linux? Linux { get; set; }
    /// <summary>The container's state (create: creating; exec: running) for the hooks and a seccomp listener.</summary>
    public State State { get; set; } = new();

    // create only
    /// <summary>root.path, made absolute by create.</summary>
    public string Rootfs { get; set; } = "";
    public Root? Root { get; set; }
    public List<Mount> Mounts { get; set => field = value ?? []; } = [];
    public bool NoPivot { get; set; }
    /// <summary>How many bind mount sources create opened for the init; they follow this message (<see cref="Husk.Rootfs.BindSources"/>).</summary>
    public int BindSources { get; set; }
    /// <summary>The hostname to set; null when none, or when the container has no UTS namespace of its own (the host's would change).</summary>
    public string? Hostname { get; set; }
    /// <summary>As <see cref="Hostname"/>, the domainname.</summary>
    public string? Domainname { get; set; }
    /// <summary>The hooks the init runs itself (the others run in the runtime).</summary>
    public List<Hook> CreateContainerHooks { get; set => field = value ?? []; } = [];
    public List<Hook> StartContainerHooks { get; set => field = value ?? []; } = [];

    // exec only
    /// <summary>The host pid of the exec'd process, for a seccomp listener.</summary>
    public int ProcessPid { get; set; }

    public LinuxSeccomp? Seccomp => Linux?.Seccomp;

    /// <summary>
    /// The container's init: the decisions of <paramref name="plan"/> (made once, from the same spec)
    /// and the parts of the spec it applies. <see cref="BindSources"/> is set once they are opened.
    /// </summary>
    public static InitConfig ForCreate(Spec.Spec spec, NamespacePlan plan, string rootfs, State state,
        int preserveFds, bool noPivot, bool noNewKeyring)
    {
        bool ownUts = plan.Creates(NamespaceKind.Uts) || plan.JoinsExisting(NamespaceKind.Uts);
        return new InitConfig
        {
            Id = state.ID, UserNamespace = plan.HasUserNamespace, PreserveFds = preserveFds, NoNewKeyring = noNewKeyring,
            Process = spec.Process!, Linux = spec.Linux, State = state,
            Rootfs = rootfs, Root = spec.Root, Mounts = spec.Mounts, NoPivot = noPivot,
            Hostname = ownUts && !string.IsNullOrEmpty(spec.Hostname) ? spec.Hostname : null,
            Domainname = ownUts && !string.IsNullOrEmpty(spec.Domainname) ? spec.Domainname : null,
            CreateContainerHooks = spec.Hooks?.CreateContainer ?? [],
            StartContainerHooks = spec.Hooks?.StartContainer ?? [],
        };
    }

    /// <summary>A process joining the running container: <paramref name="process"/>, with the container's filter.</summary>
    /// <param name="joins">The namespaces it joins (<see cref="ExecStrategy.Joins"/>).</param>
    public static InitConfig ForExec(Spec.Spec spec, Process process, IReadOnlyList<(uint Flag, string Path)> joins,
        State state, int preserveFds, int processPid) => new()
    {
        Id = state.ID, PreserveFds = preserveFds, Process = process, Linux = spec.Linux, State = state, ProcessPid = processPid,
        UserNamespace = joins.Any(j => j.Flag == NamespaceKinds.CLONE_NEWUSER),
    };

    /// <summary>The spec the rootfs is built from (RootfsBuilder reads root, mounts and linux).</summary>
    public Spec.Spec RootfsSpec() => new() { Process = Process, Root = Root, Mounts = Mounts, Linux = Linux };

    /// <summary>The state JSON with <paramref name="status"/>: each hook kind sees its own (startContainer "created", as runc).</summary>
    public string StateJson(string status)
    {
        State.Status = status;
        return SpecJson.Serialize(State);
    }

    public static readonly JsonShape<InitConfig> Shape = new(m =>
    [
        m.String("id", c => c.Id, (c, v) => c.Id = v),
        m.Value("userNamespace", c => c.UserNamespace, (c, v) => c.UserNamespace = v, JsonCodecs.Boolean, omitDefault: true),
        m.Value("preserveFds", c => c.PreserveFds, (c, v) => c.PreserveFds = v, JsonCodecs.Int32, omitDefault: true),
        m.Value("noNewKeyring", c => c.NoNewKeyring, (c, v) => c.NoNewKeyring = v, JsonCodecs.Boolean, omitDefault: true),
        m.Value("process", c => c.Process, (c, v) => c.Process = v, Process.Shape),
        m.Value("linux", c => c.Linux, (c, v) => c.Linux = v, Spec.Linux.Shape),
        m.Value("state", c => c.State, (c, v) => c.State = v, State.Shape),
        m.String("rootfs", c => c.Rootfs, (c, v) => c.Rootfs = v),
        m.Value("root", c => c.Root, (c, v) => c.Root = v, Root.Shape),
        m.List("mounts", c => c.Mounts, (c, v) => c.Mounts = v, Mount.Shape),
        m.Value("noPivot", c => c.NoPivot, (c, v) => c.NoPivot = v, JsonCodecs.Boolean, omitDefault: true),
        m.Value("bindSources", c => c.BindSources, (c, v) => c.BindSources = v, JsonCodecs.Int32, omitDefault: true),
        m.String("hostname", c => c.Hostname, (c, v) => c.Hostname = v),
        m.String("domainname", c => c.Domainname, (c, v) => c.Domainname = v),
        m.List("createContainerHooks", c => c.CreateContainerHooks, (c, v) => c.CreateContainerHooks = v, Hook.Shape),
        m.List("startContainerHooks", c => c.StartContainerHooks, (c, v) => c.StartContainerHooks = v, Hook.Shape),
        m.Value("processPid", c => c.ProcessPid, (c, v) => c.ProcessPid = v, JsonCodecs.Int32, omitDefault: true),
    ]);
}
