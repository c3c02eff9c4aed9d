using System.Diagnostics;
using System.Text.Json.Nodes;
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

    /// <summary>QEMU or virtiofsd processes of this test's VM, and its runtime directory.</summary>
    static List<string> Leftovers(string id)
    {
        var left = new List<string>();
        foreach (var dir in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            string cmdline;
            try { cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' '); }
            catch (IOException) { continue; }
            if (cmdline.Contains($"/run/husk-vm/{id}/")) left.Add($"process {Path.GetFileName(dir)}: {cmdline}");
        }
        if (Directory.Exists($"/run/husk-vm/{id}")) left.Add($"directory /run/husk-vm/{id}");
        if (File.Exists($"/run/husk-vm/{id}.lock")) left.Add($"lock /run/husk-vm/{id}.lock");
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
        Assert.Empty(Leftovers(id));
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
            Assert.Empty(Leftovers(id));
        }
        finally
        {
            if (!husk.HasExited) { husk.Kill(); husk.WaitForExit(); }
        }
    }

    [Fact]
    public async Task A_killed_husk_run_takes_its_vm_down_and_the_id_can_run_again()
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
        // The guest sees its control port close and powers off; QEMU and virtiofsd end with it.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (Leftovers(id).Any(l => l.StartsWith("process", StringComparison.Ordinal)) && DateTime.UtcNow < deadline)
            await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.DoesNotContain(Leftovers(id), l => l.StartsWith("process", StringComparison.Ordinal));

        bundle.SetScript("echo again").Save();
        var r = root.Run(new RunOptions { Timeout = VmTimeout }, "run", "--bundle", bundle.Dir, id).AssertSuccess();
        Assert.Equal(["again"], r.StdoutLines);
        Assert.Empty(Leftovers(id));
    }

    [Fact]
    public void Husk_started_as_husk_vm_defaults_to_a_vm_and_create_is_refused_in_one_line()
    {
        HostFacts.Here.Require("vm", "VM isolation (guest kernel, QEMU, virtiofsd)");
        var huskVm = Path.Combine(Path.GetDirectoryName(HuskCli.BinaryPath)!, "husk-vm");
        Assert.True(File.Exists(huskVm), $"make builds {huskVm}");
        using var root = new TestRoot();
        using var bundle = new Bundle("sh", "-c", "cat /proc/version");
        var id = root.NewId("vm");
        var r = ProcessRunner.Run(huskVm, ["--root", root.Path, "run", "--bundle", bundle.Dir, id], new RunOptions { Timeout = VmTimeout }).AssertSuccess();
        Assert.DoesNotContain(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), r.Stdout);

        var refused = ProcessRunner.Run(huskVm, ["--root", root.Path, "create", "--bundle", bundle.Dir, id], new RunOptions()).AssertFailure();
        Assert.Single(refused.Stderr.Trim().Split('\n'));
        Assert.Contains("VM isolation", refused.Stderr);
        Assert.Empty(root.ListIds());
        Assert.Empty(Leftovers(id));
    }
}
