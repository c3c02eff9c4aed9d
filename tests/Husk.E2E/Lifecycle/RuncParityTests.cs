using System.Text.Json.Nodes;
using Husk.E2E.Reliability;
using Xunit;

namespace Husk.E2E.Lifecycle;

/// <summary>
/// Where runc 1.1.5's integration suite and containerd's CRI plugin found Husk behaving unlike
/// runc (issue 15). Each expectation is what runc 1.1.5 does on this host (checked side by side
/// with /usr/sbin/runc), with the runc test or code it comes from.
/// </summary>
public class RuncParityTests
{
    static string Status(TestRoot root, string id) =>
        (string)JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!["status"]!;

    static void WaitForStatus(TestRoot root, string id, string status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Status(root, id) != status)
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"container {id} never became {status}");
            Thread.Sleep(20);
        }
    }

    /// <summary>Alive and not a zombie (PID 1 of this host reaps nothing).</summary>
    static bool IsLive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] is not ('Z' or 'X');
        }
        catch (IOException) { return false; }
    }

    /// <summary>A bundle without a pid namespace, as a pod's container sharing the pause container's: its init's exit does not end its children.</summary>
    static Bundle BundleWithoutPidNamespace(string script)
    {
        var bundle = new Bundle();
        var namespaces = (JsonArray)bundle.Config["linux"]!["namespaces"]!;
        foreach (var pid in namespaces.Where(n => (string)n!["type"]! == "pid").ToList()) namespaces.Remove(pid);
        bundle.SetScript(script).Save();
        return bundle;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Kill_all_after_the_init_exited_kills_what_is_left_and_succeeds(bool childLeft)
    {
        // containerd's runc shim, after the init exited: `runc kill --all ID KILL`. runc 1.1.5
        // (libcontainer Signal with all=true) signals whatever is in the cgroup and exits 0, also
        // when nothing is left; a plain kill of the stopped container fails: "container not running".
        using var root = new TestRoot();
        using var bundle = BundleWithoutPidNamespace(childLeft ? "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!" : "echo none");
        var id = root.NewId();
        var run = root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        WaitForStatus(root, id, "stopped");
        int child = childLeft ? int.Parse(run.Stdout.Trim()) : 0;
        if (childLeft) Assert.True(IsLive(child), $"the background child {child} should outlive the init");

        root.Run("kill", "--all", id, "KILL").AssertSuccess();
        if (childLeft)
        {
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (IsLive(child) && DateTime.UtcNow < deadline) Thread.Sleep(20);
            Assert.False(IsLive(child), $"kill --all left {child} alive");
        }
        root.Run("kill", "--all", id, "KILL").AssertSuccess("nothing left to signal is no error");

        var plain = root.Run("kill", id, "KILL").AssertFailure(1);
        Assert.Contains("container not running", plain.Stderr);
        Assert.Single(plain.Stderr.Trim().Split('\n'));

        root.Run("delete", id).AssertSuccess();
        Leftovers.AssertClean(root.Path, [id], [bundle.Dir], "after kill --all and delete");
    }

    /// <summary>
    /// Freezes the (new) cgroup at <paramref name="cgroupPath"/>: the v1 freezer where the host has
    /// one (v1, hybrid), else cgroup.freeze of cgroup v2. Returns the directory.
    /// </summary>
    static string MakeFrozenCgroup(string cgroupPath)
    {
        bool v1 = HostFacts.Here.HasV1;
        string dir = v1 ? $"/sys/fs/cgroup/freezer{cgroupPath}" : $"/sys/fs/cgroup{cgroupPath}";
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, v1 ? "freezer.state" : "cgroup.freeze"), v1 ? "FROZEN" : "1");
        return dir;
    }

    /// <summary>Thaws <paramref name="frozenDir"/>, then removes <paramref name="cgroupPath"/> and what is below it in every hierarchy.</summary>
    static void ThawAndRemove(string frozenDir, string cgroupPath)
    {
        bool v1 = File.Exists(Path.Combine(frozenDir, "freezer.state"));
        File.WriteAllText(Path.Combine(frozenDir, v1 ? "freezer.state" : "cgroup.freeze"), v1 ? "THAWED" : "0");
        foreach (var dir in Cgroups.Cg.Leftovers(cgroupPath))
            foreach (var d in Directory.GetDirectories(dir, "*", SearchOption.AllDirectories).Reverse().Append(dir))
                for (int i = 0; i < 100 && Directory.Exists(d); i++)
                {
                    // A killed process takes a moment to leave once thawed.
                    try { Directory.Delete(d); } catch (IOException) { Thread.Sleep(50); }
                }
    }

    [Theory]
    [InlineData("create")]
    [InlineData("run")]
    public void Create_in_a_frozen_cgroup_is_refused_at_once(string command)
    {
        // runc 1.1.5 cgroups.bats "runc run/create should refuse pre-existing frozen cgroup":
        // exit 1, "container's cgroup unexpectedly frozen", the cgroup left as it was.
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        string path = Cgroups.Cg.NewParent();
        bundle.Config["linux"]!["cgroupsPath"] = path;
        bundle.Save();
        string frozen = MakeFrozenCgroup(path);
        try
        {
            var id = root.NewId();
            string[] args = command == "run" ? ["run", "-d", "--bundle", bundle.Dir, id] : ["create", "--bundle", bundle.Dir, id];
            var r = root.Run(new RunOptions { Timeout = TimeSpan.FromSeconds(10) }, args).AssertFailure(1);
            Assert.Contains("container's cgroup unexpectedly frozen", r.Stderr);
            Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.Empty(root.ListIds());
            Assert.True(Directory.Exists(frozen), "the user's cgroup was removed");
            Assert.Empty(File.ReadAllText(Path.Combine(frozen, "cgroup.procs")).Trim());
        }
        finally { ThawAndRemove(frozen, path); }
    }

    [Fact]
    public void Create_under_a_frozen_parent_gives_up_in_bounded_time()
    {
        // The container's own cgroup is new, so the check before create passes, but it is made frozen
        // by its parent and the init stops at once. runc 1.1.5 waits for it for ever (compat/DEVIATIONS.md);
        // Husk notices the frozen cgroup while it waits and fails.
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        string parent = Cgroups.Cg.NewParent();
        bundle.Config["linux"]!["cgroupsPath"] = parent + "/ctr";
        bundle.Save();
        string frozen = MakeFrozenCgroup(parent);
        try
        {
            var id = root.NewId();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var r = root.Run(new RunOptions { Timeout = TimeSpan.FromSeconds(60) }, "run", "-d", "--bundle", bundle.Dir, id).AssertFailure(1);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
            Assert.Contains("was frozen while the container was created", r.Stderr);
            Assert.Empty(root.ListIds());
        }
        finally { ThawAndRemove(frozen, parent); }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_linux_devices_node_is_usable_only_when_a_device_rule_allows_it(bool allowRule)
    {
        // runc 1.1.5 (specconv.CreateCgroupConfig): the nodes of linux.devices get no allow rule;
        // under the default spec's deny-all, writing /dev/kmsg fails with EPERM unless
        // linux.resources.devices allows c 1:11.
        using var root = new TestRoot();
        using var bundle = new Bundle();
        var linux = bundle.Config["linux"]!.AsObject();
        linux["devices"] = new JsonArray(new JsonObject { ["path"] = "/dev/kmsg", ["type"] = "c", ["major"] = 1, ["minor"] = 11, ["fileMode"] = 438 });
        var rules = (JsonArray)linux["resources"]!["devices"]!;
        Assert.Equal("""{"allow":false,"access":"rwm"}""", rules.Single()!.ToJsonString());
        if (allowRule) rules.Add(new JsonObject { ["allow"] = true, ["type"] = "c", ["major"] = 1, ["minor"] = 11, ["access"] = "w" });
        bundle.SetScript("ls /dev/kmsg && { echo husk-e2e > /dev/kmsg && echo written; } 2>&1; echo x > /dev/null && echo null-ok").Save();
        var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
        Assert.Equal("/dev/kmsg", r.StdoutLines[0]);
        if (allowRule) Assert.Equal("written", r.StdoutLines[1]);
        else Assert.Contains("Operation not permitted", r.StdoutLines[1]);
        Assert.Equal("null-ok", r.StdoutLines[2]);
    }

    [Fact]
    public void Exec_failures_exit_255_and_the_process_status_comes_back()
    {
        // runc 1.1.5 exec.go: fatalWithCode(..., 255) for every failure after the arguments were
        // checked; a missing container id is a usage error (exit 1).
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        Assert.Equal(3, root.Run("exec", id, "sh", "-c", "exit 3").ExitCode);
        Assert.Contains("executable file not found", root.Run("exec", id, "no-such-program").AssertFailure(255).Stderr);
        Assert.Contains("does not exist", root.Run("exec", "no-such-container", "true").AssertFailure(255).Stderr);
        Assert.Contains("a command is required", root.Run("exec", id).AssertFailure(255).Stderr);
        root.Run("pause", id).AssertSuccess();
        try { Assert.Contains("cannot exec in a paused container", root.Run("exec", id, "true").AssertFailure(255).Stderr); }
        finally { root.Run("resume", id); }
        root.Run("exec").AssertFailure(1);
        root.Run("delete", "--force", id).AssertSuccess();
    }

    [Fact]
    public void Exec_cgroup_joins_an_existing_sub_cgroup_only()
    {
        // runc 1.1.5 exec.bats "runc exec --cgroup sub-cgroups [v1]" / "subcgroup [v2]".
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        Assert.Contains(" .. is not a sub cgroup path", root.Run("exec", "--cgroup", "..", id, "true").AssertFailure(255).Stderr);
        Assert.Contains(" /../x is not a sub cgroup path", root.Run("exec", "--cgroup", "/../x", id, "true").AssertFailure(255).Stderr);
        Assert.Matches(" adding pid .*/nonexistent/cgroup.procs: no such file ", root.Run("exec", "--cgroup", "nonexistent", id, "true").AssertFailure(255).Stderr);
        Assert.Contains("unknown controller ", root.Run("exec", "--cgroup", "whaaat:/", id, "true").AssertFailure(255).Stderr);
        Assert.Contains("missing <controller>: prefix", root.Run("exec", "--cgroup", "a", "--cgroup", "b", id, "true").AssertFailure(255).Stderr);

        var own = root.Run("exec", "--cgroup", "/", id, "cat", "/proc/self/cgroup").AssertSuccess().StdoutLines;
        Assert.Equal(root.Run("exec", id, "cat", "/proc/self/cgroup").AssertSuccess().StdoutLines, own);

        foreach (var dir in Cgroups.Cg.Leftovers($"/husk/{id}"))
        {
            Directory.CreateDirectory(Path.Combine(dir, "sub"));
            // A new v1 cpuset takes no task until its cpus and mems are set.
            foreach (var file in new[] { "cpuset.cpus", "cpuset.mems" })
                if (File.Exists(Path.Combine(dir, file)))
                    File.WriteAllText(Path.Combine(dir, "sub", file), File.ReadAllText(Path.Combine(dir, file)).Trim());
        }
        var lines = root.Run("exec", "--cgroup", "sub", id, "cat", "/proc/self/cgroup").AssertSuccess().StdoutLines;
        // On a v2 host only the unified line is husk's (a v2 view of a hybrid host still lists the v1 hierarchies).
        Assert.All(HostFacts.Here.HasV1 ? lines : lines.Where(l => l.StartsWith("0::", StringComparison.Ordinal)), l => Assert.EndsWith("/sub", l));
        Assert.Equal(own.Length, lines.Length);
        root.Run("delete", "--force", id).AssertSuccess();
        Assert.Empty(Cgroups.Cg.Leftovers($"/husk/{id}"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Spec_writes_what_runc_spec_writes_on_this_host(bool rootless)
    {
        // runc 1.1.5 adds a cgroup namespace only on a pure cgroup v2 host (specconv.Example). The
        // documented differences (compat/DEVIATIONS.md) are put into runc's output before comparing.
        var dirs = new[] { "runc", "husk" }.Select(n => Directory.CreateTempSubdirectory($"husk-spec-{n}-").FullName).ToArray();
        try
        {
            string[] args = rootless ? ["spec", "--rootless"] : ["spec"];
            ProcessRunner.Run("runc", args, new RunOptions { WorkingDirectory = dirs[0] }).AssertSuccess();
            HuskCli.Run(new RunOptions { WorkingDirectory = dirs[1] }, args).AssertSuccess();
            var runc = JsonNode.Parse(File.ReadAllText(Path.Combine(dirs[0], "config.json")))!;
            var husk = JsonNode.Parse(File.ReadAllText(Path.Combine(dirs[1], "config.json")))!;
            runc["ociVersion"] = "1.2.0";
            runc["hostname"] = "husk";
            var masked = runc["linux"]!["maskedPaths"]!.AsArray();
            masked.Insert(masked.Count - 1, "/sys/devices/virtual/powercap");
            Assert.True(JsonNode.DeepEquals(runc, husk), $"runc spec (with Husk's deviations):\n{runc.ToJsonString()}\nhusk spec:\n{husk.ToJsonString()}");
        }
        finally
        {
            foreach (var d in dirs) Directory.Delete(d, recursive: true);
        }
    }

    [Fact]
    public void Flags_may_follow_the_container_id_except_for_exec()
    {
        // runc 1.1.5 (urfave/cli reorderArgs): `runc update ID --cpu-period N` works; exec and ps
        // (SkipArgReorder) pass what follows the id to the program.
        HostFacts.Here.RequireController("cpu");
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        string period() => HostFacts.Here.HasV1
            ? Cgroups.Cg.Read(Cgroups.Cg.V1("cpu", $"/husk/{id}") + "/cpu.cfs_period_us")
            : Cgroups.Cg.Read($"/sys/fs/cgroup/husk/{id}/cpu.max").Split(' ')[1];
        root.Run("update", id, "--cpu-period", "200000").AssertSuccess();
        Assert.Equal("200000", period());
        root.Run("update", "--cpu-period=300000", id).AssertSuccess();
        Assert.Equal("300000", period());
        Assert.Equal("--version\n", root.Run("exec", id, "echo", "--version").AssertSuccess().Stdout);
        root.Run("delete", id, "--force").AssertSuccess();
        Assert.Empty(root.ListIds());
    }

    [Fact]
    public void Unified_resources_on_a_cgroup_v1_host_are_an_invalid_configuration()
    {
        // runc 1.1.5 cgroups.bats "runc run (cgroup v1 + unified resources should fail)": hybrid
        // hosts count as v1; "invalid configuration", before anything is made.
        bool pureV2 = HostFacts.Here.CgroupLayout == "v2";
        if (pureV2) HostFacts.Here.RequireController("memory");
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        string path = Cgroups.Cg.NewParent();
        Cgroups.Cg.SetResources(bundle, """{"unified": {"memory.min": "131072"}}""", path);
        var id = root.NewId();
        var r = root.Run("run", "--bundle", bundle.Dir, id);
        if (pureV2) r.AssertSuccess();
        else
        {
            r.AssertFailure(1);
            Assert.Contains("/linux/resources/unified/memory.min: invalid configuration: cannot use unified on cgroup v1", r.Stderr);
            Assert.Single(r.Stderr.Trim().Split('\n'));
        }
        Assert.Empty(root.ListIds());
        Assert.Empty(Cgroups.Cg.Leftovers(path));
    }

    [Fact]
    public void Create_in_a_cgroup_with_processes_warns_and_goes_on()
    {
        // runc 1.1.5 (factory_linux.go Create): "container's cgroup is not empty: N process(es) found", a warning only.
        string path = Cgroups.Cg.NewParent();
        bool v1 = HostFacts.Here.HasV1;
        string dir = v1 ? Cgroups.Cg.V1("pids", path) : $"/sys/fs/cgroup{path}";
        Directory.CreateDirectory(dir);
        using var sleeper = System.Diagnostics.Process.Start("sleep", "1000");
        try
        {
            File.WriteAllText(Path.Combine(dir, "cgroup.procs"), sleeper.Id.ToString());
            using var root = new TestRoot();
            using var bundle = new Bundle("true");
            bundle.Config["linux"]!["cgroupsPath"] = path;
            bundle.Save();
            var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
            Assert.Contains("container's cgroup is not empty: 1 process(es) found", r.Stderr);
        }
        finally
        {
            sleeper.Kill();
            sleeper.WaitForExit();
            foreach (var d in Cgroups.Cg.Leftovers(path))
                for (int i = 0; i < 100 && Directory.Exists(d); i++)
                {
                    try { Directory.Delete(d); } catch (IOException) { Thread.Sleep(20); }
                }
        }
    }

    [Fact]
    public void Device_access_with_other_letters_and_a_fifo_with_numbers_are_accepted()
    {
        // runc 1.1.5: update.bats uses access "rwa" (its device emulator keeps r, w and m and ignores
        // the rest); the runtime spec makes major and minor optional for a fifo (type p) and runc ignores them.
        using var root = new TestRoot();
        using var bundle = new Bundle();
        var linux = bundle.Config["linux"]!.AsObject();
        linux["devices"] = new JsonArray(
            new JsonObject { ["path"] = "/dev/kmsg", ["type"] = "c", ["major"] = 1, ["minor"] = 11 },
            new JsonObject { ["path"] = "/dev/myfifo", ["type"] = "p", ["major"] = 1, ["minor"] = 2 });
        ((JsonArray)linux["resources"]!["devices"]!).Add(new JsonObject { ["allow"] = true, ["type"] = "c", ["major"] = 1, ["minor"] = 11, ["access"] = "rwa" });
        bundle.SetScript("stat -c '%F %t:%T' /dev/myfifo; echo husk-e2e > /dev/kmsg && echo written").Save();
        var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
        Assert.Equal(["fifo 0:0", "written"], r.StdoutLines);
    }

    [Theory]
    [InlineData("/proc", "proc", true)]
    [InlineData("/proc", "proc", false)]
    [InlineData("/sys", "sysfs", true)]
    public void Proc_or_sys_that_is_no_directory_in_the_image_is_refused(string target, string type, bool symlink)
    {
        // runc 1.1.5 (rootfs_linux.go mountToRootfs): filesystem "proc" must be mounted on ordinary directory.
        using var root = new TestRoot();
        using var bundle = new Bundle();
        string inImage = bundle.HostPath(target);
        Directory.Delete(inImage);
        if (symlink) File.CreateSymbolicLink(inImage, "/tmp");
        else File.WriteAllText(inImage, "");
        var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertFailure(1);
        Assert.Contains($"filesystem \"{type}\" must be mounted on ordinary directory", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Empty(root.ListIds());
        Assert.True(symlink ? File.ResolveLinkTarget(inImage, false)?.FullName == "/tmp" : File.Exists(inImage), "the image's entry was changed");
    }

    [Fact]
    public void Sigkill_of_a_paused_container_stops_it()
    {
        // runc 1.1.5 (libcontainer Signal): a frozen v1 process acts on SIGKILL only once thawed, so
        // runc thaws a paused container after sending it SIGKILL.
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        root.Run("pause", id).AssertSuccess();
        Assert.Equal("paused", Status(root, id));
        root.Run("kill", id, "KILL").AssertSuccess();
        WaitForStatus(root, id, "stopped");
        root.Run("delete", id).AssertSuccess();
        Leftovers.AssertClean(root.Path, [id], [bundle.Dir], "after kill of a paused container");
    }

    [Fact]
    public void Start_of_a_container_frozen_after_create_gives_up_in_bounded_time()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        var id = root.NewId();
        root.Run("create", "--bundle", bundle.Dir, id).AssertSuccess();
        string dir = MakeFrozenCgroup($"/husk/{id}");
        try
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var r = root.Run(new RunOptions { Timeout = TimeSpan.FromSeconds(30) }, "start", id).AssertFailure(1);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
            Assert.Contains("is frozen", r.Stderr);
        }
        finally
        {
            File.WriteAllText(Path.Combine(dir, File.Exists(Path.Combine(dir, "freezer.state")) ? "freezer.state" : "cgroup.freeze"),
                File.Exists(Path.Combine(dir, "freezer.state")) ? "THAWED" : "0");
            root.Run("delete", "--force", id).AssertSuccess();
        }
        Leftovers.AssertClean(root.Path, [id], [bundle.Dir], "after the frozen start");
    }
}
