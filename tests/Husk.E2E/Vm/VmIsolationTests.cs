using System.Diagnostics;
using System.Text.Json.Nodes;
using Husk.E2E.Terminal;
using Xunit;

namespace Husk.E2E.Vm;

/// <summary>
/// VM isolation (io.husk.isolation=vm): the container runs on a guest kernel in its own QEMU VM,
/// with Husk as the guest's init. Skipped, with husk check's line, on a host without the guest
/// kernel, QEMU or virtiofsd. Each test boots a VM (seconds under TCG), so they are few.
/// </summary>
public class VmIsolationTests
{
    static readonly TimeSpan VmTimeout = TimeSpan.FromSeconds(180);

    static Bundle VmBundle(string script)
    {
        var bundle = new Bundle().SetScript(script);
        bundle.Config["annotations"] = new JsonObject { ["io.husk.isolation"] = "vm" };
        bundle.Config["root"]!["readonly"] = false;
        bundle.Save();
        return bundle;
    }

    /// <summary>QEMU or virtiofsd processes of this test's VM (their sockets are in its state directory), and that directory.</summary>
    static List<string> Leftovers(TestRoot root, string id)
    {
        var left = new List<string>();
        foreach (var dir in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            string cmdline;
            try { cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' '); }
            catch (IOException) { continue; }
            if (cmdline.Contains($"/{id}/vm/")) left.Add($"process {Path.GetFileName(dir)}: {cmdline}");
        }
        if (Directory.Exists(Path.Combine(root.Path, id))) left.Add($"state directory of {id}");
        return left;
    }

    [Fact]
    public void Run_gives_the_guest_kernel_stdin_and_the_exit_code_and_leaves_nothing()
    {
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        using var root = new TestRoot();
        using var bundle = VmBundle("echo kernel=$(uname -r); echo host=$(hostname); echo pid=$$; read line; echo got:$line; echo from-guest > /written; exit 7");
        var id = root.NewId("vm");
        var mountsBefore = Mounts.MountPointsExceptOtherTests(bundle.Dir, root.Path);

        var r = root.Run(new RunOptions { Stdin = "hello\n", Timeout = VmTimeout }, "run", "--bundle", bundle.Dir, id);

        Assert.True(r.ExitCode == 7, r.Describe("expected the workload's exit code 7"));
        var hostRelease = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        var kernel = r.StdoutLines.Single(l => l.StartsWith("kernel=", StringComparison.Ordinal))[7..];
        Assert.NotEqual(hostRelease, kernel);
        Assert.Contains(kernel, HostFacts.Here.Find("vm")!.Detail);
        Assert.Contains("host=" + (string)bundle.Config["hostname"]!, r.StdoutLines);
        Assert.Contains("pid=1", r.StdoutLines);
        Assert.Contains("got:hello", r.StdoutLines);
        Assert.Equal("from-guest\n", File.ReadAllText(bundle.HostPath("/written")));
        Assert.Empty(Leftovers(root, id));
        Assert.Equal(mountsBefore, Mounts.MountPointsExceptOtherTests(bundle.Dir, root.Path));
        Assert.Empty(root.ListIds());
    }

    [Fact]
    public async Task A_signal_to_husk_run_reaches_the_workload_in_the_guest()
    {
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        using var root = new TestRoot();
        // The workload is its pid namespace's init: it gets only the signals it has a handler for.
        using var bundle = VmBundle("trap 'echo got-term; exit 42' TERM; echo started; sleep 1000 & wait");
        var id = root.NewId("vm");
        var psi = new ProcessStartInfo(HuskCli.BinaryPath, ["--root", root.Path, "run", "--bundle", bundle.Dir, id])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        using var husk = Process.Start(psi)!;
        try
        {
            var first = await husk.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(VmTimeout, TestContext.Current.CancellationToken);
            Assert.Equal("started", first);
            ProcessRunner.Run("kill", ["-TERM", husk.Id.ToString()], new RunOptions()).AssertSuccess();
            Assert.True(husk.WaitForExit(VmTimeout), "husk run did not end after SIGTERM");
            Assert.Equal(42, husk.ExitCode);
            Assert.Equal("got-term", await husk.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken));
            Assert.Empty(Leftovers(root, id));
        }
        finally
        {
            if (!husk.HasExited) { husk.Kill(); husk.WaitForExit(); }
        }
    }

    [Fact]
    public async Task After_a_killed_husk_run_delete_force_removes_the_vm_and_the_id_can_run_again()
    {
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        using var root = new TestRoot();
        using var bundle = VmBundle("echo started; sleep 1000");
        var id = root.NewId("vm");
        var psi = new ProcessStartInfo(HuskCli.BinaryPath, ["--root", root.Path, "run", "--bundle", bundle.Dir, id])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        using (var husk = Process.Start(psi)!)
        {
            var first = await husk.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(VmTimeout, TestContext.Current.CancellationToken);
            Assert.Equal("started", first);
            husk.Kill();
            await husk.WaitForExitAsync(TestContext.Current.CancellationToken);
        }
        // As with runc, the container outlives a killed `run`; delete --force takes its VM down.
        root.Run(new RunOptions { Timeout = VmTimeout }, "delete", "--force", id).AssertSuccess();
        Assert.Empty(Leftovers(root, id));

        bundle.SetScript("echo again").Save();
        var r = root.Run(new RunOptions { Timeout = VmTimeout }, "run", "--bundle", bundle.Dir, id).AssertSuccess();
        Assert.Equal(["again"], r.StdoutLines);
        Assert.Empty(Leftovers(root, id));
    }

    [Fact]
    public void Without_a_pid_namespace_the_workload_sees_the_guests_processes_and_none_of_the_hosts()
    {
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        using var root = new TestRoot();
        var marker = $"/run/husk-host-marker-{Guid.NewGuid():N}";
        File.WriteAllText(marker, "host only");
        try
        {
            using var bundle = VmBundle($"for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done; cat {marker} 2>&1; true");
            var namespaces = (JsonArray)bundle.Config["linux"]!["namespaces"]!;
            foreach (var ns in namespaces.Where(n => (string)n!["type"]! == "pid").ToList()) namespaces.Remove(ns);
            bundle.Save();
            var id = root.NewId("vm");

            var r = root.Run(new RunOptions { Timeout = VmTimeout }, "run", "--bundle", bundle.Dir, id).AssertSuccess();

            // The guest's own PID 1 (husk, the initramfs's /init) is there; this test's processes are not.
            Assert.Contains(r.StdoutLines, l => l.StartsWith("/init", StringComparison.Ordinal));
            Assert.DoesNotContain(r.StdoutLines, l => l.Contains("dotnet") || l.Contains("testhost") || l.Contains("qemu"));
            Assert.Contains("No such file or directory", r.Stdout);
            Assert.Empty(Leftovers(root, id));
        }
        finally { File.Delete(marker); }
    }

    [Fact]
    public void Bind_mounts_from_the_host_reach_the_guest_read_only_where_asked_and_leave_no_mount()
    {
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        using var root = new TestRoot();
        var hostDir = Directory.CreateTempSubdirectory("husk-vm-bind-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(hostDir, "in-dir"), "from a host directory");
            var hostFile = Path.Combine(hostDir, "single-file");
            File.WriteAllText(hostFile, "from a host file");
            using var bundle = VmBundle("cat /data/in-dir /etc/one; echo; echo x > /data/new 2>/dev/null && echo writable || echo read-only; echo y > /rw/written && echo rw-ok");
            var mounts = (JsonArray)bundle.Config["mounts"]!;
            mounts.Add(new JsonObject { ["destination"] = "/data", ["type"] = "bind", ["source"] = hostDir, ["options"] = new JsonArray("rbind", "ro") });
            mounts.Add(new JsonObject { ["destination"] = "/etc/one", ["type"] = "bind", ["source"] = hostFile, ["options"] = new JsonArray("bind") });
            var rw = Directory.CreateDirectory(Path.Combine(hostDir, "rw")).FullName;
            mounts.Add(new JsonObject { ["destination"] = "/rw", ["type"] = "bind", ["source"] = rw, ["options"] = new JsonArray("rbind") });
            bundle.Save();
            var id = root.NewId("vm");
            var mountsBefore = Mounts.MountPointsExceptOtherTests(bundle.Dir, root.Path);

            var r = root.Run(new RunOptions { Timeout = VmTimeout }, "run", "--bundle", bundle.Dir, id).AssertSuccess();

            Assert.Equal(["from a host directoryfrom a host file", "read-only", "rw-ok"], r.StdoutLines);
            Assert.Equal("y\n", File.ReadAllText(Path.Combine(rw, "written")));
            Assert.False(File.Exists(Path.Combine(hostDir, "new")));
            Assert.Equal(mountsBefore, Mounts.MountPointsExceptOtherTests(bundle.Dir, root.Path));
            Assert.Empty(Leftovers(root, id));
        }
        finally { Directory.Delete(hostDir, recursive: true); }
    }

    [Fact]
    public void Run_t_relays_a_terminal_in_the_guest_with_the_callers_size()
    {
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        using var root = new TestRoot();
        using var bundle = VmBundle("sh");
        bundle.Process["terminal"] = true;
        bundle.Save();
        var id = root.NewId("vm");
        using var s = new PtySession("stty rows 33 cols 77; exec " + PtySession.CommandLine(HuskCli.BinaryPath, "--root", root.Path, "run", "--bundle", bundle.Dir, id));
        s.WaitFor("# ", VmTimeout);
        s.Type("stty size; tty; echo typed-$((6*7))\r");
        s.WaitFor("typed-42");
        Assert.Contains("33 77", s.Output);
        Assert.Contains("/dev/pts/0", s.Output);
        s.Type("exit 5\r");
        Assert.Equal(5, s.WaitForExit(VmTimeout));
        Assert.Empty(Leftovers(root, id));
    }

    [Fact]
    public void Husk_started_as_husk_vm_defaults_to_a_vm()
    {
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        var huskVm = HuskCli.VmBinaryPath;
        Assert.True(File.Exists(huskVm), $"make builds {huskVm}");
        using var root = new TestRoot();
        using var bundle = new Bundle("sh", "-c", "cat /proc/version");
        var id = root.NewId("vm");
        var r = ProcessRunner.Run(huskVm, ["--root", root.Path, "run", "--bundle", bundle.Dir, id], new RunOptions { Timeout = VmTimeout }).AssertSuccess();
        Assert.DoesNotContain(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), r.Stdout);
        Assert.Empty(Leftovers(root, id));
    }

    [Fact]
    public void Create_start_exec_pause_resume_kill_and_delete_drive_the_vm()
    {
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        using var root = new TestRoot();
        // The trap is set before the file appears (the workload is its pid namespace's init: a
        // signal it has no handler for is not delivered).
        using var bundle = VmBundle("trap 'exit 9' TERM; touch /trapped; sleep 1000 & wait");
        var id = root.NewId("vm");
        var options = new RunOptions { Timeout = VmTimeout };

        root.Run(options, "create", "--bundle", bundle.Dir, id).AssertSuccess();
        var created = JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!;
        Assert.Equal("created", (string)created["status"]!);
        Assert.True((int)created["pid"]! > 0);
        Assert.Equal("vm", (string)created["annotations"]!["io.husk.isolation"]!);
        // The pid stands for the workload: the monitor, parent of QEMU, in the container's cgroup.
        Assert.Contains(Leftovers(root, id), l => l.Contains("qemu-system-x86_64"));

        root.Run(options, "start", id).AssertSuccess();
        Assert.Equal("running", (string)JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!["status"]!);
        // A host process stands for each exec in the guest: stdin, stdout, stderr and the exit code pass.
        var exec = root.Run(new RunOptions { Stdin = "typed\n", Timeout = VmTimeout }, "exec", id, "sh", "-c", "cat /proc/sys/kernel/osrelease; read l; echo got:$l; echo to-err >&2; exit 3");
        Assert.True(exec.ExitCode == 3, exec.Describe("expected exec's exit code 3"));
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease"), exec.StdoutLines[0] + "\n");
        Assert.Equal("got:typed", exec.StdoutLines[1]);
        Assert.Contains("to-err", exec.Stderr);
        var pidFile = Path.Combine(bundle.Dir, "exec.pid");
        root.Run(new RunOptions { Timeout = VmTimeout }, "exec", "--detach", "--pid-file", pidFile, id, "sleep", "1").AssertSuccess();
        Assert.True(int.Parse(File.ReadAllText(pidFile)) > 0);

        // ps gives the guest's pids: the workload is its pid namespace's init there.
        var ps = JsonNode.Parse(root.Run("ps", "--format", "json", id).AssertSuccess().Stdout)!.AsArray();
        Assert.NotEmpty(ps);
        Assert.DoesNotContain(ps, p => Directory.Exists($"/proc/{(int)p!}") && File.ReadAllText($"/proc/{(int)p!}/cmdline").Contains("sleep"));
        // Paused, the whole VM is frozen with the container's cgroup (QEMU and virtiofsd are in it).
        root.Run("pause", id).AssertSuccess();
        Assert.Equal("paused", (string)JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!["status"]!);
        root.Run("resume", id).AssertSuccess();
        Assert.Equal("running", (string)JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!["status"]!);
        var trapped = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!File.Exists(bundle.HostPath("/trapped")) && DateTime.UtcNow < trapped) Thread.Sleep(50);
        root.Run("kill", id, "TERM").AssertSuccess();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while ((string)JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!["status"]! != "stopped" && DateTime.UtcNow < deadline)
            Thread.Sleep(100);
        Assert.Equal("stopped", (string)JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!["status"]!);

        root.Run("delete", id).AssertSuccess();
        Assert.Empty(Leftovers(root, id));
    }

    [Fact]
    public void A_vm_container_killed_with_SIGKILL_is_deleted_without_leftovers()
    {
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        using var root = new TestRoot();
        using var bundle = VmBundle("sleep 1000");
        var id = root.NewId("vm");
        var options = new RunOptions { Timeout = VmTimeout };
        root.Run(options, "create", "--bundle", bundle.Dir, id).AssertSuccess();
        root.Run(options, "start", id).AssertSuccess();

        root.Run("kill", id, "KILL").AssertSuccess();
        root.Run(options, "delete", "--force", id).AssertSuccess();

        Assert.Empty(Leftovers(root, id));
        Assert.Empty(root.ListIds());
    }
}
