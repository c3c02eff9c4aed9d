using System.Net.Sockets;
using Grpc.Net.Client;
using Xunit;

namespace Husk.E2E.Clients.Cri;

/// <summary>
/// A private containerd with its CRI plugin, as a Kubernetes node runs it: a runtime handler
/// "husk" whose runc shim runs bin/husk (<c>BinaryName</c>), a pause-like sandbox image made
/// locally, no CNI (pods use the host's network), and <c>restrict_oom_score_adj</c> (this host
/// cannot lower oom_score_adj). <see cref="Runtime"/> is a CRI client over containerd's gRPC
/// socket, the kubelet's side of the conversation.
/// </summary>
public sealed class CriFixture : IDisposable
{
    public const string Handler = "husk";
    /// <summary>The CRI plugin keeps its containers in this containerd namespace; the shim keeps Husk's state in /run/containerd/runc/k8s.io.</summary>
    public const string Namespace = "k8s.io";

    readonly ContainerdDaemon _daemon;
    readonly GrpcChannel _channel;
    public BusyboxImage Image { get; }
    public BusyboxImage Pause { get; }
    public RuntimeService.RuntimeServiceClient Runtime { get; }
    public string Dir => _daemon.Dir;

    public CriFixture()
    {
        Image = new BusyboxImage("docker.io/library/husk-busybox:cri");
        // The pod's infrastructure container only has to wait: a sleep, as pause does (for a time
        // of this fixture's own, so the test can tell its pods' processes from any other).
        Pause = new BusyboxImage("docker.io/library/husk-pause:cri", "sleep", $"{2_000_000_000 + Random.Shared.Next(100_000_000)}");
        string husk = HuskCli.BinaryPath;
        _daemon = new ContainerdDaemon(dir => $"""
            [plugins."io.containerd.grpc.v1.cri"]
              sandbox_image = "{Pause.Name}"
              restrict_oom_score_adj = true
              [plugins."io.containerd.grpc.v1.cri".containerd]
                default_runtime_name = "{Handler}"
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{Handler}]
                  runtime_type = "io.containerd.runc.v2"
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{Handler}.options]
                    BinaryName = "{husk}"
              [plugins."io.containerd.grpc.v1.cri".cni]
                bin_dir = "{dir}/cni/bin"
                conf_dir = "{dir}/cni/conf"
            """);
        foreach (var image in new[] { Image, Pause })
            _daemon.Ctr(Namespace, new RunOptions { Timeout = TimeSpan.FromSeconds(60) }, "images", "import", "--all-platforms", image.OciArchive)
                .AssertSuccess("ctr images import");
        string socket = _daemon.Socket;
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
                    return new NetworkStream(s, ownsSocket: true);
                },
            },
        });
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
    }

    /// <summary>The pids of this containerd's shims.</summary>
    public List<int> ShimPids() => _daemon.ShimPids();

    public void Dispose()
    {
        _channel.Dispose();
        // Pods of a failed test: their containers are tasks of the CRI plugin's namespace.
        try { _daemon.RemoveAll(Namespace); } catch (Exception) { }
        _daemon.Dispose();
        Image.Dispose();
        Pause.Dispose();
    }
}

/// <summary>
/// The calls a kubelet makes for a pod with one container, through containerd's CRI plugin and
/// its runc shim to Husk: RunPodSandbox, CreateContainer, StartContainer, ExecSync,
/// StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox. Every call succeeds and
/// nothing is left behind: no shim, no process, no cgroup, no state directory.
/// </summary>
public class CriTests(CriFixture cri) : IClassFixture<CriFixture>
{
    static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(60);

    Grpc.Core.CallOptions Call() => new(deadline: DateTime.UtcNow + CallTimeout, cancellationToken: TestContext.Current.CancellationToken);

    [Fact]
    public async Task A_pod_runs_execs_stops_and_is_removed_twice_in_a_row_leaving_nothing()
    {
        HostFacts.Here.RequireController("cpu");   // containerd's CRI plugin sets cpu shares on every container
        var version = await cri.Runtime.VersionAsync(new VersionRequest { Version = "v1" }, Call());
        Assert.Equal("containerd", version.RuntimeName);
        for (int round = 1; round <= 2; round++) await OnePod(round);
    }

    async Task OnePod(int round)
    {
        string uid = Guid.NewGuid().ToString("N")[..12];
        string cgroupParent = $"/husk-cri-{uid}";
        string marker = $"{3_000_000 + Random.Shared.Next(1_000_000)}";   // an argument only this pod's process has
        string logDir = Path.Combine(cri.Dir, "pods", uid);
        Directory.CreateDirectory(logDir);
        var sandboxConfig = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = $"pod{round}", Uid = uid, Namespace = "husk-e2e", Attempt = 0 },
            // No hostname: a kubelet sets none for a pod on the host's network (it has the node's).
            LogDirectory = logDir,
            Linux = new LinuxPodSandboxConfig
            {
                CgroupParent = cgroupParent,
                SecurityContext = new LinuxSandboxSecurityContext
                {
                    NamespaceOptions = new NamespaceOption { Network = NamespaceMode.Node, Pid = NamespaceMode.Container, Ipc = NamespaceMode.Pod },
                },
            },
        };
        var pod = (await cri.Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = sandboxConfig, RuntimeHandler = CriFixture.Handler }, Call())).PodSandboxId;

        var container = (await cri.Runtime.CreateContainerAsync(new CreateContainerRequest
        {
            PodSandboxId = pod,
            SandboxConfig = sandboxConfig,
            Config = new ContainerConfig
            {
                Metadata = new ContainerMetadata { Name = "app" },
                Image = new ImageSpec { Image = cri.Image.Name },
                Command = { "sh", "-c", $"echo started; exec sleep {marker}" },
                LogPath = "app.log",
            },
        }, Call())).ContainerId;
        await cri.Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = container }, Call());
        Assert.Equal(ContainerState.ContainerRunning, (await Status(container)).State);

        var exec = await cri.Runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = container, Cmd = { "sh", "-c", "echo hi from $(hostname); echo oops >&2; exit 3" }, Timeout = 30 }, Call());
        Assert.Equal($"hi from {Environment.MachineName}\n", exec.Stdout.ToStringUtf8());   // host network: the node's hostname
        Assert.Equal("oops\n", exec.Stderr.ToStringUtf8());
        Assert.Equal(3, exec.ExitCode);
        Assert.Contains("started", File.ReadAllText(Path.Combine(logDir, "app.log")));

        // SIGTERM, then SIGKILL after the timeout; once the init has exited the shim runs
        // `husk kill --all <id> KILL` on the stopped container to reap what is left in its cgroup.
        await cri.Runtime.StopContainerAsync(new StopContainerRequest { ContainerId = container, Timeout = 1 }, Call());
        var stopped = await Status(container);
        Assert.Equal(ContainerState.ContainerExited, stopped.State);
        Assert.Contains(stopped.ExitCode, new[] { 128 + 15, 128 + 9 });
        await cri.Runtime.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = container }, Call());
        await cri.Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = pod }, Call());
        await cri.Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = pod }, Call());

        // Nothing left: shims exit (give them a moment), no process of the pod, no cgroup, no state.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (cri.ShimPids().Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Empty(cri.ShimPids());
        Assert.DoesNotContain(Processes(), cmd => cmd.Contains(marker, StringComparison.Ordinal) || cmd.StartsWith(string.Join(' ', cri.Pause.Cmd), StringComparison.Ordinal));
        foreach (var id in new[] { pod, container })
        {
            Assert.Empty(global::Husk.E2E.Cgroups.Cg.Leftovers($"{cgroupParent}/{id}"));
            Assert.False(Directory.Exists($"/run/containerd/runc/{CriFixture.Namespace}/{id}"), $"husk's state of {id} is left");
        }
        Assert.Empty(global::Husk.E2E.Cgroups.Cg.Leftovers(cgroupParent));
    }

    async Task<ContainerStatus> Status(string id) =>
        (await cri.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id }, Call())).Status;

    /// <summary>The command lines of every process, arguments joined by spaces.</summary>
    static List<string> Processes()
    {
        var list = new List<string>();
        foreach (var d in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out _)) continue;
            try { list.Add(File.ReadAllText(Path.Combine(d, "cmdline")).Replace('\0', ' ')); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return list;
    }
}
