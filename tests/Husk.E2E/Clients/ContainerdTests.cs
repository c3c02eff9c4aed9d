using System.Diagnostics;
using Husk.E2E.Terminal;
using Xunit;

namespace Husk.E2E.Clients;

/// <summary>
/// A private containerd (Debian's 1.6, <see cref="ContainerdDaemon"/>) for the tests of one class:
/// the CRI plugin disabled, a namespace of its own, and the busybox image imported offline. Its runc shim (containerd-shim-runc-v2) runs bin/husk as the runtime
/// binary (<c>ctr run --runc-binary</c>); the shim keeps the runtime's state in
/// /run/containerd/runc/&lt;namespace&gt;.
/// </summary>
public sealed class ContainerdFixture : IDisposable
{
    readonly ContainerdDaemon _daemon = new(_ => """disabled_plugins = ["io.containerd.grpc.v1.cri"]""" + "\n");
    public string Dir => _daemon.Dir;
    public string Socket => _daemon.Socket;
    public string Namespace { get; } = "husk-e2e-" + Guid.NewGuid().ToString("N")[..8];
    public BusyboxImage Image { get; }

    public ContainerdFixture()
    {
        Image = new BusyboxImage("docker.io/library/husk-busybox:e2e");
        Ctr("images", "import", "--all-platforms", Image.OciArchive).AssertSuccess("ctr images import");
    }

    public Result Ctr(params string[] args) => Ctr(new RunOptions { Timeout = TimeSpan.FromSeconds(60) }, args);

    public Result Ctr(RunOptions options, params string[] args) => _daemon.Ctr(Namespace, options, args);

    /// <summary>`ctr` as a shell command line (for a <see cref="PtySession"/>).</summary>
    public string CtrCommandLine(params string[] args) => PtySession.CommandLine(["ctr", "-a", Socket, "-n", Namespace, .. args]);

    public string TaskStatus(string id)
    {
        var line = Ctr("task", "ls").AssertSuccess().StdoutLines.FirstOrDefault(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var t, ..] && t == id);
        return line?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1] ?? "";
    }

    public void WaitForStatus(string id, string status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            if ((last = TaskStatus(id)) == status) return;
            Thread.Sleep(100);
        }
        Assert.Fail($"task {id} stayed {last}, expected {status}");
    }

    public void Dispose()
    {
        try
        {
            _daemon.RemoveAll(Namespace);
            Ctr("images", "rm", Image.Name);
        }
        catch (Exception) { }
        _daemon.Dispose();
        Image.Dispose();
        // The shim leaves the namespace's (empty) state directory of the runtime behind.
        try { Directory.Delete($"/run/containerd/runc/{Namespace}"); } catch (Exception) { }
    }
}

/// <summary>containerd 1.6 drives Husk through its own runc shim: run, exec, pause, resume, ps, kill, delete, terminals, errors.</summary>
public class ContainerdTests(ContainerdFixture ctd) : IClassFixture<ContainerdFixture>
{
    string Husk => HuskCli.BinaryPath;

    static string NewId() => ContainerIds.New("ctd");

    [Fact]
    public void Ctr_run_rm_prints_hi()
    {
        HostFacts.Here.RequireController("cpu");   // containerd's default spec sets cpu shares
        var id = NewId();
        var r = ctd.Ctr("run", "--rm", "--runc-binary", Husk, ctd.Image.Name, id, "echo", "hi").AssertSuccess();
        Assert.Equal("hi\n", r.Stdout);
        Assert.DoesNotContain(id, ctd.Ctr("containers", "ls", "-q").Stdout);
    }

    [Fact]
    public async Task A_detached_task_is_execd_into_paused_resumed_listed_killed_and_deleted()
    {
        HostFacts.Here.RequireController("cpu");   // containerd's default spec sets cpu shares
        var id = NewId();
        ctd.Ctr("run", "-d", "--runc-binary", Husk, ctd.Image.Name, id, "sleep", "1000").AssertSuccess();
        ctd.WaitForStatus(id, "RUNNING");

        var exec = ctd.Ctr("task", "exec", "--exec-id", "x1", id, "sh", "-c", "echo hi from exec; cat /proc/1/cmdline | tr '\\0' ' '").AssertSuccess();
        Assert.Equal(["hi from exec", "sleep 1000 "], exec.StdoutLines);
        Assert.Equal(3, ctd.Ctr("task", "exec", "--exec-id", "x2", id, "sh", "-c", "exit 3").ExitCode);

        // A long-running exec'd process shows up in `ctr task ps` (husk ps --format json) beside the init.
        var bg = Task.Run(() => ctd.Ctr(new RunOptions { Timeout = TimeSpan.FromSeconds(60) }, "task", "exec", "--exec-id", "x3", id, "sleep", "30"));
        // While the exec starts, ps may also list its short-lived helper (the process that forks into
        // the pid namespace and exits): wait for two pids that are all still there.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string[] pids = [];
        while (DateTime.UtcNow < deadline && (pids.Length < 2 || !pids.All(pid => Directory.Exists($"/proc/{pid}"))))
        {
            Thread.Sleep(100);
            pids = ctd.Ctr("task", "ps", id).AssertSuccess().StdoutLines.Skip(1).Select(l => l.Split(' ')[0]).Where(p => p.Length > 0).ToArray();
        }
        Assert.True(pids.Length >= 2, $"ctr task ps listed {string.Join(",", pids)}");
        foreach (var pid in pids) Assert.True(Directory.Exists($"/proc/{pid}"), $"ctr task ps listed pid {pid}, which does not exist");

        ctd.Ctr("task", "pause", id).AssertSuccess();
        Assert.Equal("PAUSED", ctd.TaskStatus(id));
        ctd.Ctr("task", "resume", id).AssertSuccess();
        Assert.Equal("RUNNING", ctd.TaskStatus(id));
        Assert.Equal("still here\n", ctd.Ctr("task", "exec", "--exec-id", "x4", id, "echo", "still here").AssertSuccess().Stdout);

        ctd.Ctr("task", "kill", "-s", "9", id).AssertSuccess();
        ctd.WaitForStatus(id, "STOPPED");
        ctd.Ctr("task", "delete", id).AssertSuccess();
        ctd.Ctr("containers", "rm", id).AssertSuccess();
        Assert.DoesNotContain(id, ctd.Ctr("task", "ls").Stdout);
        Assert.False(Directory.Exists($"/run/containerd/runc/{ctd.Namespace}/{id}"), "husk's state of the deleted task is still there");
        await Task.WhenAny(bg, Task.Delay(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
    }

    /// <summary>The runc shim with bin/husk-vm as its binary: each task in its own VM (io.husk.isolation defaults to vm).</summary>
    [Fact]
    public void Ctr_runs_and_execs_tasks_in_vms_with_husk_vm_and_leaves_no_vm_behind()
    {
        HostFacts.Here.RequireController("cpu");   // containerd's default spec sets cpu shares
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        var huskVm = HuskCli.VmBinaryPath;
        var slow = new RunOptions { Timeout = TimeSpan.FromMinutes(3) };
        var id = NewId();
        var r = ctd.Ctr(slow, "run", "--rm", "--runc-binary", huskVm, ctd.Image.Name, id, "cat", "/proc/sys/kernel/osrelease").AssertSuccess();
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease"), r.Stdout);
        Assert.Contains(r.Stdout.Trim(), HostFacts.Here.Find("vm")!.Detail);

        var id2 = NewId();
        ctd.Ctr(slow, "run", "-d", "--runc-binary", huskVm, ctd.Image.Name, id2, "sleep", "1000").AssertSuccess();
        ctd.WaitForStatus(id2, "RUNNING");
        var exec = ctd.Ctr(slow, "task", "exec", "--exec-id", "x1", id2, "cat", "/proc/sys/kernel/osrelease").AssertSuccess();
        Assert.Equal(r.Stdout, exec.Stdout);
        Assert.Equal(3, ctd.Ctr(slow, "task", "exec", "--exec-id", "x2", id2, "sh", "-c", "exit 3").ExitCode);
        ctd.Ctr("task", "kill", "-s", "9", id2).AssertSuccess();
        ctd.WaitForStatus(id2, "STOPPED");
        ctd.Ctr(slow, "task", "delete", id2).AssertSuccess();
        ctd.Ctr("containers", "rm", id2).AssertSuccess();
        foreach (var task in new[] { id, id2 })
            Assert.DoesNotContain(Directory.GetDirectories("/proc"), d => File.Exists(Path.Combine(d, "cmdline"))
                && SafeRead(Path.Combine(d, "cmdline")).Contains($"/{task}/vm/"));
    }

    static string SafeRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return ""; }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Ctr_run_t_gives_a_terminal_with_the_clients_size(bool vm)
    {
        HostFacts.Here.RequireController("cpu");   // containerd's default spec sets cpu shares
        if (vm) HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        var id = NewId();
        using var s = new PtySession("stty rows 30 cols 90; exec " + ctd.CtrCommandLine("run", "-t", "--rm", "--runc-binary", vm ? HuskCli.VmBinaryPath : Husk, ctd.Image.Name, id, "sh"));
        s.WaitFor("# ", vm ? TimeSpan.FromMinutes(3) : (TimeSpan?)null);
        Thread.Sleep(300); // ctr sets the pty's size through the shim once the task has started
        s.Type("stty size; tty; cat /proc/sys/kernel/osrelease; echo typed-$((6*7))\r");
        s.WaitFor("typed-42");
        Assert.Contains("/dev/pts/0", s.Output);
        Assert.Contains("30 90", s.Output);
        // In a VM, the guest's kernel, not the host's.
        if (vm) Assert.DoesNotContain(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), s.Output);
        s.Type("exit 3\r");
        Assert.Equal(3, s.WaitForExit());
    }

    [Fact]
    public void Ctr_task_exec_t_with_husk_vm_gives_a_terminal_in_the_vm()
    {
        HostFacts.Here.RequireController("cpu");   // containerd's default spec sets cpu shares
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        var huskVm = HuskCli.VmBinaryPath;
        var id = NewId();
        ctd.Ctr(new RunOptions { Timeout = TimeSpan.FromMinutes(3) }, "run", "-d", "--runc-binary", huskVm, ctd.Image.Name, id, "sleep", "1000").AssertSuccess();
        using (var s = new PtySession(ctd.CtrCommandLine("task", "exec", "-t", "--exec-id", "t1", id, "sh")))
        {
            s.WaitFor("# ", TimeSpan.FromMinutes(2));
            s.Type("tty; cat /proc/sys/kernel/osrelease; echo exec-$((2+3))\r");
            s.WaitFor("exec-5");
            Assert.Contains("/dev/pts/", s.Output);
            Assert.DoesNotContain(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), s.Output);
            s.Type("exit 4\r");
            Assert.Equal(4, s.WaitForExit());
        }
        ctd.Ctr("task", "kill", "-s", "9", id).AssertSuccess();
        ctd.WaitForStatus(id, "STOPPED");
        ctd.Ctr("task", "delete", id).AssertSuccess();
        ctd.Ctr("containers", "rm", id).AssertSuccess();
    }

    [Fact]
    public void Ctr_task_exec_t_gives_a_terminal()
    {
        HostFacts.Here.RequireController("cpu");   // containerd's default spec sets cpu shares
        var id = NewId();
        ctd.Ctr("run", "-d", "--runc-binary", Husk, ctd.Image.Name, id, "sleep", "1000").AssertSuccess();
        using var s = new PtySession(ctd.CtrCommandLine("task", "exec", "-t", "--exec-id", "t1", id, "sh"));
        s.WaitFor("# ");
        s.Type("tty; echo exec-$((2+3))\r");
        s.WaitFor("exec-5");
        Assert.Contains("/dev/pts/", s.Output);
        s.Type("exit 4\r");
        Assert.Equal(4, s.WaitForExit());
        ctd.Ctr("task", "kill", "-s", "9", id).AssertSuccess();
        ctd.WaitForStatus(id, "STOPPED");
        ctd.Ctr("task", "delete", id).AssertSuccess();
        ctd.Ctr("containers", "rm", id).AssertSuccess();
    }

    [Fact]
    public void Husk_errors_reach_ctr_through_the_json_log()
    {
        HostFacts.Here.RequireController("cpu");   // containerd's default spec sets cpu shares
        var id = NewId();
        var r = ctd.Ctr("run", "--rm", "--runc-binary", Husk, ctd.Image.Name, id, "no-such-program").AssertFailure();
        Assert.Contains("exec: \"no-such-program\": executable file not found in $PATH", r.Stderr);
        ctd.Ctr("containers", "rm", id);

        var id2 = NewId();
        ctd.Ctr("run", "-d", "--runc-binary", Husk, ctd.Image.Name, id2, "sleep", "1000").AssertSuccess();
        var e = ctd.Ctr("task", "exec", "--exec-id", "bad", id2, "no-such-program").AssertFailure();
        Assert.Contains("exec: \"no-such-program\": executable file not found in $PATH", e.Stderr);
        ctd.Ctr("task", "kill", "-s", "9", id2).AssertSuccess();
        ctd.WaitForStatus(id2, "STOPPED");
        ctd.Ctr("task", "delete", id2).AssertSuccess();
        ctd.Ctr("containers", "rm", id2).AssertSuccess();
    }
}
