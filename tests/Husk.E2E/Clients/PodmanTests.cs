using Husk.E2E.Terminal;
using Xunit;

namespace Husk.E2E.Clients;

/// <summary>
/// A private podman (Debian's 4.3) for the tests of one class: CONTAINERS_CONF and
/// CONTAINERS_STORAGE_CONF point at a config and a vfs store in a temp dir; cgroupfs (no
/// systemd here), the file events logger, no network (no CNI configured), and ulimits the
/// host's bounding set allows (it lacks CAP_SYS_RESOURCE, so podman's default nofile of 1048576
/// fails with any runtime). The busybox image comes from `podman import` of a rootfs tarball.
/// Podman runs bin/husk through conmon with <c>--runtime</c>.
/// </summary>
public sealed class PodmanFixture : IDisposable
{
    public string Dir { get; }
    public string Image { get; } = "localhost/husk-busybox-e2e";
    readonly Dictionary<string, string?> _env;

    public PodmanFixture()
    {
        foreach (var tool in new[] { "podman", "conmon" })
            if (!(Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)))
                && !File.Exists($"/usr/libexec/podman/{tool}") && !File.Exists($"/usr/bin/{tool}"))
                throw new InvalidOperationException($"{tool} is not installed: run scripts/install-deps.sh (Debian packages podman, conmon)");
        Dir = Directory.CreateTempSubdirectory("husk-podman-").FullName;
        File.WriteAllText(Path.Combine(Dir, "containers.conf"), $"""
            [containers]
            netns = "none"
            default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

            [engine]
            cgroup_manager = "cgroupfs"
            events_logger = "file"
            events_logfile_path = "{Dir}/events.log"
            tmp_dir = "{Dir}/tmp"
            volume_path = "{Dir}/volumes"

            [engine.runtimes]
            husk = ["{HuskCli.BinaryPath}"]
            """);
        File.WriteAllText(Path.Combine(Dir, "storage.conf"), $"""
            [storage]
            driver = "vfs"
            runroot = "{Dir}/run"
            graphroot = "{Dir}/graph"
            """);
        _env = new Dictionary<string, string?>
        {
            ["CONTAINERS_CONF"] = Path.Combine(Dir, "containers.conf"),
            ["CONTAINERS_STORAGE_CONF"] = Path.Combine(Dir, "storage.conf"),
        };
        using var image = new BusyboxImage(Image);
        Podman("import", image.LayerTar, Image).AssertSuccess("podman import");
    }

    public IReadOnlyDictionary<string, string> Env => _env.ToDictionary(kv => kv.Key, kv => kv.Value!);

    /// <summary>`podman --runtime bin/husk ARGS`.</summary>
    public Result Podman(params string[] args) => PodmanWith(HuskCli.BinaryPath, args);

    /// <summary>`podman --runtime RUNTIME ARGS` (bin/husk-vm: VM isolation).</summary>
    public Result PodmanWith(string runtime, params string[] args) =>
        ProcessRunner.Run("podman", ["--runtime", runtime, .. args],
            new RunOptions { Environment = _env, Timeout = TimeSpan.FromSeconds(180) });

    public string CommandLine(params string[] args) => PtySession.CommandLine(["podman", "--runtime", HuskCli.BinaryPath, .. args]);

    public void Dispose()
    {
        try { Podman("rm", "--all", "--force", "--time", "0"); } catch (Exception) { }
        try { Podman("rmi", "--all", "--force"); } catch (Exception) { }
        try { Mounts.UnmountUnder(Dir); } catch (Exception) { }
        try { Directory.Delete(Dir, recursive: true); } catch (Exception) { }
    }
}

/// <summary>podman 4.3 (through conmon) runs, execs into, stops and removes containers on Husk, with terminals.</summary>
public class PodmanTests(PodmanFixture pod) : IClassFixture<PodmanFixture>
{
    static string NewName() => ContainerIds.New("pod");

    [Fact]
    public void Podman_run_rm_prints_hi()
    {
        HostFacts.Here.RequireController("pids");   // podman sets a pids limit on every container
        var r = pod.Podman("run", "--rm", pod.Image, "echo", "hi").AssertSuccess();
        Assert.Equal("hi\n", r.Stdout);
    }

    [Fact]
    public void Podman_runs_and_execs_containers_in_vms_with_husk_vm_and_leaves_no_vm_behind()
    {
        HostFacts.Here.RequireController("pids");   // podman sets a pids limit on every container
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        var huskVm = HuskCli.VmBinaryPath;
        // podman binds /etc/hosts, /etc/hostname and /run/.containerenv from the host: they reach the guest.
        var r = pod.PodmanWith(huskVm, "run", "--rm", pod.Image, "sh", "-c", "cat /proc/sys/kernel/osrelease; test -f /run/.containerenv && echo containerenv").AssertSuccess();
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), r.StdoutLines[0]);
        Assert.Contains(r.StdoutLines[0], HostFacts.Here.Find("vm")!.Detail);
        Assert.Equal("containerenv", r.StdoutLines[1]);

        var name = NewName();
        pod.PodmanWith(huskVm, "run", "-d", "--name", name, pod.Image, "sleep", "1000").AssertSuccess();
        Assert.Contains(name, pod.PodmanWith(huskVm, "ps", "--format", "{{.Names}}").AssertSuccess().Stdout);
        var exec = pod.PodmanWith(huskVm, "exec", name, "sh", "-c", "cat /proc/sys/kernel/osrelease; exit 4");
        Assert.Equal(4, exec.ExitCode);
        Assert.Equal(r.StdoutLines[0], exec.StdoutLines[0]);
        var id = pod.PodmanWith(huskVm, "inspect", "--format", "{{.Id}}", name).AssertSuccess().Stdout.Trim();
        string VmOf(string d) => SafeRead(Path.Combine(d, "cmdline"));
        Assert.Contains(Directory.GetDirectories("/proc"), d => VmOf(d).Contains("qemu-system") && VmOf(d).Contains($"/{id}/vm/"));
        pod.PodmanWith(huskVm, "kill", name).AssertSuccess();
        pod.PodmanWith(huskVm, "rm", "--force", name).AssertSuccess();
        Assert.DoesNotContain(Directory.GetDirectories("/proc"), d => VmOf(d).Contains($"/{id}/vm/"));
    }

    static string SafeRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return ""; }
    }

    [Fact]
    public void Run_detached_exec_stop_and_rm()
    {
        HostFacts.Here.RequireController("pids");   // podman sets a pids limit on every container
        var name = NewName();
        pod.Podman("run", "-d", "--name", name, pod.Image, "sleep", "1000").AssertSuccess();
        Assert.Contains(name, pod.Podman("ps", "--format", "{{.Names}} {{.Status}}").AssertSuccess().Stdout);

        var exec = pod.Podman("exec", name, "sh", "-c", "echo exec-ok; cat /proc/1/cmdline | tr '\\0' ' '").AssertSuccess();
        Assert.Equal(["exec-ok", "sleep 1000 "], exec.StdoutLines);
        Assert.Equal(6, pod.Podman("exec", name, "sh", "-c", "exit 6").ExitCode);

        pod.Podman("stop", "--time", "1", name).AssertSuccess();
        Assert.StartsWith("exited", pod.Podman("inspect", "--format", "{{.State.Status}}", name).AssertSuccess().Stdout.Trim());
        pod.Podman("rm", name).AssertSuccess();
        Assert.DoesNotContain(name, pod.Podman("ps", "-a", "--format", "{{.Names}}").AssertSuccess().Stdout);
    }

    [Fact]
    public void Run_it_gives_a_terminal_that_echoes_what_is_typed()
    {
        HostFacts.Here.RequireController("pids");   // podman sets a pids limit on every container
        using var s = new PtySession("stty rows 28 cols 88; exec " + pod.CommandLine("run", "-it", "--rm", pod.Image, "sh"), pod.Env);
        s.WaitFor("# ");
        s.Type("echo typed-$((6*7)); tty; stty size\r");
        s.WaitFor("typed-42");
        s.WaitFor("28 88");
        Assert.Contains("echo typed-$((6*7))", s.Output);   // the input, echoed by the container's pty
        Assert.Contains("/dev/pts/0", s.Output);
        s.Type("exit 2\r");
        Assert.Equal(2, s.WaitForExit(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void Run_it_with_husk_vm_gives_a_terminal_in_the_vm()
    {
        HostFacts.Here.RequireController("pids");   // podman sets a pids limit on every container
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        var huskVm = HuskCli.VmBinaryPath;
        using var s = new PtySession("stty rows 28 cols 88; exec " + PtySession.CommandLine(["podman", "--runtime", huskVm, "run", "-it", "--rm", pod.Image, "sh"]), pod.Env);
        s.WaitFor("# ", TimeSpan.FromMinutes(3));
        s.Type("echo typed-$((6*7)); tty; stty size; cat /proc/sys/kernel/osrelease\r");
        s.WaitFor("typed-42");
        s.WaitFor("28 88");
        Assert.Contains("/dev/pts/0", s.Output);
        Assert.DoesNotContain(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), s.Output);
        s.Type("exit 2\r");
        Assert.Equal(2, s.WaitForExit(TimeSpan.FromSeconds(60)));
    }

    [Fact]
    public void Exec_it_gives_a_terminal()
    {
        HostFacts.Here.RequireController("pids");   // podman sets a pids limit on every container
        var name = NewName();
        pod.Podman("run", "-d", "--name", name, pod.Image, "sleep", "1000").AssertSuccess();
        using (var s = new PtySession(pod.CommandLine("exec", "-it", name, "sh"), pod.Env))
        {
            s.WaitFor("# ");
            s.Type("tty; echo in-exec-$((1+1))\r");
            s.WaitFor("in-exec-2");
            Assert.Contains("/dev/pts/", s.Output);
            s.Type("exit\r");
            s.WaitForExit(TimeSpan.FromSeconds(60));
        }
        pod.Podman("rm", "--force", "--time", "0", name).AssertSuccess();
    }
}
