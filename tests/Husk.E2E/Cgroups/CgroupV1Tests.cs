using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Cgroups;

/// <summary>
/// Resources, pause/resume, update, events, ps, kill --all and cleanup on this host's cgroup v1
/// controllers (the machine is hybrid: resources go to v1). A test that reads v1 files is skipped on
/// a host without v1 (pure cgroup v2); ps, kill --all and the device rules run on any layout.
/// </summary>
public class CgroupV1Tests
{
    [Fact]
    public void Every_supported_resource_is_written_to_its_v1_file()
    {
        HostFacts.Here.RequireV1();
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        var (maj, min) = Cg.SomeBlockDevice();
        string parent = Cg.NewParent(), id = root.NewId(), path = $"{parent}/{id}";
        Cg.SetResources(bundle, $$"""
            {
              "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
              "memory": {"limit": 67108864, "reservation": 33554432, "swap": 100663296, "swappiness": 20, "disableOOMKiller": false},
              "cpu": {"shares": 512, "quota": 20000, "period": 100000, "burst": 1000, "cpus": "0", "mems": "0", "idle": 0},
              "pids": {"limit": 64},
              "blockIO": {"throttleReadBpsDevice": [{"major": {{maj}}, "minor": {{min}}, "rate": 1048576}],
                          "throttleWriteIOPSDevice": [{"major": {{maj}}, "minor": {{min}}, "rate": 300}]}
            }
            """, path);
        root.Run("create", "--bundle", bundle.Dir, id).AssertSuccess();
        try
        {
            Assert.Equal("67108864", Cg.Read(Cg.V1("memory", path) + "/memory.limit_in_bytes"));
            Assert.Equal("33554432", Cg.Read(Cg.V1("memory", path) + "/memory.soft_limit_in_bytes"));
            Assert.Equal("100663296", Cg.Read(Cg.V1("memory", path) + "/memory.memsw.limit_in_bytes"));
            Assert.Equal("20", Cg.Read(Cg.V1("memory", path) + "/memory.swappiness"));
            Assert.Equal("512", Cg.Read(Cg.V1("cpu", path) + "/cpu.shares"));
            Assert.Equal("20000", Cg.Read(Cg.V1("cpu", path) + "/cpu.cfs_quota_us"));
            Assert.Equal("100000", Cg.Read(Cg.V1("cpu", path) + "/cpu.cfs_period_us"));
            if (File.Exists(Cg.V1("cpu", path) + "/cpu.cfs_burst_us"))
                Assert.Equal("1000", Cg.Read(Cg.V1("cpu", path) + "/cpu.cfs_burst_us"));
            Assert.Equal("0", Cg.Read(Cg.V1("cpuset", path) + "/cpuset.cpus"));
            Assert.Equal("0", Cg.Read(Cg.V1("cpuset", path) + "/cpuset.mems"));
            Assert.Equal("64", Cg.Read(Cg.V1("pids", path) + "/pids.max"));
            Assert.Contains($"{maj}:{min} 1048576", Cg.Read(Cg.V1("blkio", path) + "/blkio.throttle.read_bps_device"));
            Assert.Contains($"{maj}:{min} 300", Cg.Read(Cg.V1("blkio", path) + "/blkio.throttle.write_iops_device"));
            var devices = Cg.Read(Cg.V1("devices", path) + "/devices.list").Split('\n');
            Assert.Contains("c 10:229 rw", devices);
            Assert.Contains("c 1:3 rwm", devices);
            Assert.DoesNotContain("a *:* rwm", devices);
            // The init is in the cgroup of every hierarchy.
            int pid = (int)Cg.State(root, id)["pid"]!;
            foreach (var c in new[] { "memory", "cpu", "pids", "devices", "freezer", "blkio" })
                Assert.Contains(pid.ToString(), File.ReadAllLines(Cg.V1(c, path) + "/cgroup.procs"));
        }
        finally { root.Run("delete", "--force", id).AssertSuccess(); }
        Assert.Empty(Cg.Leftovers(path));
        Assert.Empty(Cg.Leftovers(parent));
    }

    /// <summary>
    /// Settings this host may lack: where husk check says it has what <c>need</c> names, create
    /// succeeds and the value is in the file; where not (and always when <c>need</c> is empty), create
    /// fails with one line naming the JSON path and leaves nothing.
    /// </summary>
    [Theory]
    [InlineData("""{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}""", "/linux/resources/hugepageLimits/0", "cgroup.controller.hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304")]
    [InlineData("""{"network": {"classID": 1048577}}""", "/linux/resources/network/classID", "cgroup.controller.net_cls", "net_cls.classid", "1048577")]
    [InlineData("""{"rdma": {"mlx5_0": {"hcaHandles": 2}}}""", "/linux/resources/rdma/mlx5_0", "", "", "")]
    [InlineData("""{"blockIO": {"weight": 500}}""", "/linux/resources/blockIO/weight", "cgroup.blkio.weight", "blkio.bfq.weight|blkio.weight", "500")]
    [InlineData("""{"memory": {"limit": 67108864}, "cpu": {"cpus": "99"}}""", "/linux/resources/cpu/cpus", "", "", "")]
    public void A_setting_the_host_may_lack_is_applied_or_refused_in_one_line(string resources, string pointer, string need, string files, string value)
    {
        HostFacts.Here.RequireV1();
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        string parent = Cg.NewParent(), id = root.NewId(), path = $"{parent}/{id}";
        Cg.SetResources(bundle, resources, path);
        var r = root.Run("create", "--bundle", bundle.Dir, id);
        if (need.Length > 0 && HostFacts.Here.Has(need))
        {
            r.AssertSuccess($"husk check says {need} is ok");
            try
            {
                string controller = files.Split('.')[0];
                string? file = files.Split('|').Select(f => Cg.V1(controller, path) + "/" + f).FirstOrDefault(File.Exists);
                Assert.True(file != null, $"none of {files} in the {controller} cgroup");
                Assert.Contains(value, Cg.Read(file!));
            }
            finally { root.Run("delete", "--force", id).AssertSuccess(); }
        }
        else
        {
            r.AssertFailure();
            Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.Contains(pointer, r.Stderr);
            Assert.Empty(root.ListIds());
            Assert.False(Directory.Exists(Path.Combine(root.Path, id)), "state directory left behind");
        }
        Assert.Empty(Cg.Leftovers(path));
        Assert.Empty(Cg.Leftovers(parent));
    }

    /// <summary>On a hybrid host, unified keys go to the cgroup2 directory: a key of a controller it lacks is refused in one line.</summary>
    [Fact]
    public void A_unified_key_of_a_controller_the_cgroup2_hierarchy_lacks_is_refused_in_one_line()
    {
        HostFacts.Here.RequireV1();
        if (HostFacts.Here.Find("cgroup.unified")?.Detail.Contains("memory") == true)
            Assert.Skip("this host's cgroup2 hierarchy has the memory controller, so memory.high is written, not refused");
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        string parent = Cg.NewParent(), id = root.NewId(), path = $"{parent}/{id}";
        Cg.SetResources(bundle, """{"unified": {"memory.high": "1000000"}}""", path);
        var r = root.Run("create", "--bundle", bundle.Dir, id).AssertFailure();
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("/linux/resources/unified/memory.high", r.Stderr);
        Assert.Empty(root.ListIds());
        Assert.Empty(Cg.Leftovers(parent));
    }

    [Fact]
    public async Task A_process_exceeding_the_memory_limit_is_oom_killed_and_events_reports_it()
    {
        HostFacts.Here.RequireV1();
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.Writable();
        bundle.SetScript("x=$(head -c 60000000 /dev/zero | tr '\\0' a); echo survived ${#x}");
        Cg.SetResources(bundle, """{"memory": {"limit": 16777216, "swap": 16777216}}""");
        var id = root.NewId();
        root.Run("create", "--bundle", bundle.Dir, id).AssertSuccess();
        var events = root.RunInBackground(new RunOptions { Timeout = TimeSpan.FromSeconds(60) }, "events", "--interval", "30s", id);
        Thread.Sleep(500); // let events register for OOM notifications
        root.Run("start", id).AssertSuccess();
        Cg.WaitFor(() => Cg.Status(root, id) == "stopped", "the container to be OOM-killed", 30);
        var ev = await events;
        ev.AssertSuccess("events exits when the container stops");
        var lines = ev.StdoutLines.Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Contains(lines, l => (string)l["type"]! == "oom" && (string)l["id"]! == id);
        Assert.DoesNotContain("oom_kill 0", Cg.Read(Cg.V1("memory", $"/husk/{id}") + "/memory.oom_control"));
        root.Run("delete", id).AssertSuccess();

        // And with `run`: killed by SIGKILL (137), never reaching the echo.
        var id2 = root.NewId();
        var run = root.Run(new RunOptions { Timeout = TimeSpan.FromSeconds(60) }, "run", "--bundle", bundle.Dir, id2);
        Assert.Equal(137, run.ExitCode);
        Assert.DoesNotContain("survived", run.Stdout);
    }

    [Fact]
    public void The_pids_limit_makes_fork_fail()
    {
        HostFacts.Here.RequireV1();
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.Writable();
        bundle.SetScript("i=0; while [ $i -lt 12 ]; do sleep 30 & i=$((i+1)); done; echo started; exit 0");
        // Without a limit, twelve background processes start.
        root.Run(new RunOptions { Timeout = TimeSpan.FromSeconds(60) }, "run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
        Cg.SetResources(bundle, """{"pids": {"limit": 5}}""");
        var r = root.Run(new RunOptions { Timeout = TimeSpan.FromSeconds(60) }, "run", "--bundle", bundle.Dir, root.NewId());
        // busybox sh gives up at the first failed fork.
        Assert.DoesNotContain("started", r.Stdout);
        Assert.Matches("can't fork|Resource temporarily unavailable", r.Stderr);
    }

    [Fact]
    public void Pause_stops_a_counter_resume_restarts_it_and_state_shows_paused()
    {
        HostFacts.Here.RequireV1();
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.Writable();
        bundle.SetScript("i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.02; done").Save();
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        int pid = (int)Cg.State(root, id)["pid"]!;
        string counter = $"/proc/{pid}/root/tmp/count";
        long Count() { try { return long.Parse(File.ReadAllText(counter).Trim()); } catch (Exception) { return -1; } }
        Cg.WaitFor(() => Count() > 2, "the counter to run");

        root.Run("pause", id).AssertSuccess();
        Assert.Equal("paused", Cg.Status(root, id));
        Assert.Equal("FROZEN", Cg.Read(Cg.V1("freezer", $"/husk/{id}") + "/freezer.state"));
        long frozen = Count();
        Thread.Sleep(400);
        Assert.Equal(frozen, Count());
        Assert.Contains("not running", root.Run("pause", id).AssertFailure().Stderr);

        root.Run("resume", id).AssertSuccess();
        Assert.Equal("running", Cg.Status(root, id));
        Cg.WaitFor(() => Count() > frozen + 2, "the counter to run again");
        Assert.Contains("not paused", root.Run("resume", id).AssertFailure().Stderr);

        // A paused container can be deleted with --force.
        root.Run("pause", id).AssertSuccess();
        root.Run("delete", "--force", id).AssertSuccess();
        Assert.Empty(Cg.Leftovers($"/husk/{id}"));
    }

    [Fact]
    public void Update_changes_the_files_of_a_running_container_and_its_saved_config()
    {
        HostFacts.Here.RequireV1();
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        Cg.SetResources(bundle, """{"memory": {"limit": 33554432}, "cpu": {"shares": 256}, "pids": {"limit": 20}}""");
        var id = root.NewId();
        string path = $"/husk/{id}";
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();

        root.Run("update", "--memory", "64m", "--memory-swap", "128m", "--cpu-share", "768", "--pids-limit", "50", id).AssertSuccess();
        Assert.Equal("67108864", Cg.Read(Cg.V1("memory", path) + "/memory.limit_in_bytes"));
        Assert.Equal("134217728", Cg.Read(Cg.V1("memory", path) + "/memory.memsw.limit_in_bytes"));
        Assert.Equal("768", Cg.Read(Cg.V1("cpu", path) + "/cpu.shares"));
        Assert.Equal("50", Cg.Read(Cg.V1("pids", path) + "/pids.max"));

        root.Run(new RunOptions { Stdin = """{"memory": {"limit": 50331648}, "cpu": {"quota": 30000, "period": 100000}, "pids": {"limit": 40}}""" },
            "update", "--resources", "-", id).AssertSuccess();
        Assert.Equal("50331648", Cg.Read(Cg.V1("memory", path) + "/memory.limit_in_bytes"));
        Assert.Equal("134217728", Cg.Read(Cg.V1("memory", path) + "/memory.memsw.limit_in_bytes")); // not named: unchanged
        Assert.Equal("30000", Cg.Read(Cg.V1("cpu", path) + "/cpu.cfs_quota_us"));
        Assert.Equal("40", Cg.Read(Cg.V1("pids", path) + "/pids.max"));
        Assert.Equal("768", Cg.Read(Cg.V1("cpu", path) + "/cpu.shares"));

        // Saved for later updates and checkpoints.
        var saved = JsonNode.Parse(File.ReadAllText(Path.Combine(root.Path, id, "config.json")))!["linux"]!["resources"]!;
        Assert.Equal(50331648L, (long)saved["memory"]!["limit"]!);
        Assert.Equal(134217728L, (long)saved["memory"]!["swap"]!);
        Assert.Equal(768UL, (ulong)saved["cpu"]!["shares"]!);
        Assert.Equal(40L, (long)saved["pids"]!["limit"]!);

        var bad = root.Run("update", "--l3-cache-schema", "L3:0=f", id).AssertFailure();
        Assert.Contains("Intel RDT", bad.Stderr);
        Assert.Single(bad.Stderr.Trim().Split('\n'));
        var warn = root.Run("update", "--kernel-memory", "100m", id).AssertSuccess();
        Assert.Contains("ignored", warn.Stderr);
        // No memory limit any more: memory+swap goes unlimited with it (runc's update.bats).
        root.Run("update", "--memory", "-1", id).AssertSuccess();
        string unlimited = Cg.Read("/sys/fs/cgroup/memory/memory.limit_in_bytes");   // the root's: no limit
        Assert.Equal(unlimited, Cg.Read(Cg.V1("memory", path) + "/memory.limit_in_bytes"));
        Assert.Equal(unlimited, Cg.Read(Cg.V1("memory", path) + "/memory.memsw.limit_in_bytes"));
        root.Run("delete", "--force", id).AssertSuccess();
        Assert.Contains("does not exist", root.Run("update", "--memory", "1m", id).AssertFailure().Stderr);
    }

    [Fact]
    public async Task Events_stats_prints_cpu_memory_and_pids()
    {
        HostFacts.Here.RequireV1();
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        Cg.SetResources(bundle, """{"memory": {"limit": 33554432}, "pids": {"limit": 20}}""");
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        var r = root.Run("events", "--stats", id).AssertSuccess();
        var line = Assert.Single(r.StdoutLines);
        var ev = JsonNode.Parse(line)!.AsObject();
        Assert.Equal("stats", (string)ev["type"]!);
        Assert.Equal(id, (string)ev["id"]!);
        var data = ev["data"]!;
        Assert.True((ulong)data["cpu"]!["usage"]!["total"]! > 0);
        Assert.Equal(33554432UL, (ulong)data["memory"]!["usage"]!["limit"]!);
        Assert.True((ulong)data["memory"]!["usage"]!["usage"]! > 0);
        Assert.Equal(1UL, (ulong)data["pids"]!["current"]!);
        Assert.Equal(20UL, (ulong)data["pids"]!["limit"]!);
        Assert.NotNull(data["blkio"]);
        Assert.NotNull(data["hugetlb"]);

        // With an interval: stats lines until the container stops.
        var events = root.RunInBackground(new RunOptions { Timeout = TimeSpan.FromSeconds(30) }, "events", "--interval", "200ms", id);
        Thread.Sleep(900);
        root.Run("kill", id, "KILL").AssertSuccess();
        var all = (await events).AssertSuccess();
        Assert.True(all.StdoutLines.Length >= 2, all.ToString());
        Assert.All(all.StdoutLines, l => Assert.Equal("stats", (string)JsonNode.Parse(l)!["type"]!));
        root.Run("delete", id).AssertSuccess();
    }

    [Fact]
    public void Ps_lists_the_processes_of_the_container_as_json_and_as_a_ps_table()
    {
        // Any cgroup layout: only husk commands look at the cgroup.
        using var root = new TestRoot();
        using var bundle = new Bundle("sh", "-c", "sleep 1001 & sleep 1002 & wait");
        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        int init = (int)Cg.State(root, id)["pid"]!;
        Cg.WaitFor(() => JsonNode.Parse(root.Run("ps", "--format", "json", id).AssertSuccess().Stdout)!.AsArray().Count == 3, "three processes");
        var pids = JsonNode.Parse(root.Run("ps", "-f", "json", id).Stdout)!.AsArray().Select(n => (int)n!).ToList();
        Assert.Contains(init, pids);

        var table = root.Run("ps", id).AssertSuccess();
        Assert.Contains("PID", table.StdoutLines[0]);
        Assert.Equal(4, table.StdoutLines.Length);
        Assert.Contains(table.StdoutLines, l => l.Contains("sleep 1001"));
        var custom = root.Run("ps", id, "-o", "pid,comm").AssertSuccess();
        Assert.Equal("PID", custom.StdoutLines[0].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]);
        Assert.Equal(4, custom.StdoutLines.Length);
        Assert.Contains("cannot be used with", root.Run("ps", "-f", "json", id, "-o", "pid").AssertFailure().Stderr);
        root.Run("delete", "--force", id).AssertSuccess();
    }

    [Fact]
    public void Kill_all_signals_every_process_and_delete_force_kills_what_outlives_the_init()
    {
        // Any cgroup layout: only husk commands look at the cgroup.
        using var root = new TestRoot();
        // No pid namespace: the children outlive the init.
        using var bundle = new Bundle("sh", "-c", "sleep 1001 & sleep 1002 & sleep 0.3; exit 0");
        var ns = (JsonArray)bundle.Config["linux"]!["namespaces"]!;
        foreach (var n in ns.Where(n => (string)n!["type"]! == "pid").ToList()) ns.Remove(n);
        bundle.Save();

        var id = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id).AssertSuccess();
        Cg.WaitFor(() => Cg.Status(root, id) == "stopped", "the init to exit");
        var left = JsonNode.Parse(root.Run("ps", "-f", "json", id).AssertSuccess().Stdout)!.AsArray().Select(n => (int)n!).ToList();
        Assert.Equal(2, left.Count);
        root.Run("delete", "--force", id).AssertSuccess();
        Assert.All(left, pid => Assert.True(Cg.Gone(pid), $"pid {pid} of the deleted container still runs"));
        Assert.Empty(Cg.Leftovers($"/husk/{id}"));

        var id2 = root.NewId();
        root.Run("run", "-d", "--bundle", bundle.Dir, id2).AssertSuccess();
        Cg.WaitFor(() => Cg.Status(root, id2) == "stopped", "the init to exit");
        var pids = JsonNode.Parse(root.Run("ps", "-f", "json", id2).AssertSuccess().Stdout)!.AsArray().Select(n => (int)n!).ToList();
        root.Run("kill", "--all", id2, "KILL").AssertSuccess();
        Cg.WaitFor(() => pids.All(Cg.Gone), "kill --all to kill every process");
        root.Run("delete", id2).AssertSuccess();
    }

    [Fact]
    public void Twenty_containers_run_and_deleted_leave_no_cgroup_directory()
    {
        HostFacts.Here.RequireV1();
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        string parent = Cg.NewParent(), relParent = parent.TrimStart('/') + "-rel";
        var paths = new List<string>();
        for (int i = 0; i < 20; i++)
        {
            var id = root.NewId();
            // Absolute nested paths, relative ones (under husk's own cgroup), and the default /husk/<id>.
            string? cgPath = (i % 3) switch { 0 => $"{parent}/n{i % 2}/{id}", 1 => $"{relParent}/{id}", _ => null };
            Cg.SetResources(bundle, """{"memory": {"limit": 67108864}, "pids": {"limit": 32}}""", cgPath);
            if (cgPath == null) ((JsonObject)bundle.Config["linux"]!).Remove("cgroupsPath");
            bundle.Save();
            root.Run("run", "--bundle", bundle.Dir, id).AssertSuccess();
            paths.Add(cgPath ?? $"/husk/{id}");
        }
        Assert.Empty(root.ListIds());
        Assert.Empty(Cg.Leftovers(parent));
        foreach (var p in paths.Where(p => p.StartsWith('/'))) Assert.Empty(Cg.Leftovers(p));
        // Relative paths live under the test process's own cgroup in each hierarchy.
        foreach (var line in File.ReadAllLines("/proc/self/cgroup"))
        {
            var f = line.Split(':', 3);
            string ctrl = f[1].StartsWith("name=") ? f[1][5..] : f[1].Split(',')[0];
            string dir = ctrl.Length == 0 ? $"{Cg.Mount}/unified{f[2]}" : $"{Cg.Mount}/{ctrl}{f[2]}";
            Assert.False(Directory.Exists($"{dir.TrimEnd('/')}/{relParent}"), $"{dir}/{relParent} left behind");
        }
    }

    [Fact]
    public void Devices_not_allowed_cannot_be_opened_and_allowed_ones_can()
    {
        // Any cgroup layout: only husk commands look at the cgroup.
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.Writable();
        bundle.SetScript("mknod /tmp/loop b 7 0 && head -c 1 /tmp/loop; echo rc=$?; head -c 3 /dev/zero | wc -c").Save();
        bundle.AddCapability("CAP_MKNOD"); // the default spec has no CAP_MKNOD; the device cgroup allows mknod, not use
        var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
        Assert.Contains("head: /tmp/loop: Operation not permitted", r.Stderr);
        Assert.Contains("rc=1", r.Stdout);
        Assert.Contains("3", r.StdoutLines.Last());
    }

    [Fact]
    public void Check_reports_the_layout_and_the_usable_controllers()
    {
        var r = HuskCli.Run("check").AssertSuccess();
        Assert.Matches(@"cgroup\.layout\s+ok\s+(v1|v2|hybrid)", r.Stdout);
        // Looked at directly, not through HostFacts: this is the test of husk check itself.
        if (File.Exists($"{Cg.Mount}/memory/memory.limit_in_bytes"))
        {
            Assert.Matches(@"cgroup\.controller\.memory\s+ok", r.Stdout);
            Assert.Matches(@"cgroup\.controller\.pids\s+ok", r.Stdout);
        }
        var json = JsonNode.Parse(HuskCli.Run("check", "--format", "json").AssertSuccess().Stdout)!.AsArray();
        Assert.Contains(json, n => (string)n!["name"]! == "cgroup.layout");
    }
}
