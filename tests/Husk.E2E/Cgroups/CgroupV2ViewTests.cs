using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Cgroups;

/// <summary>
/// The same operations with a pure cgroup v2 /sys/fs/cgroup, inside a private mount namespace
/// (<see cref="V2View"/>). On this hybrid machine the cgroup2 hierarchy has only the controllers
/// no v1 hierarchy holds (hugetlb here): hugetlb, unified keys, the eBPF device program,
/// cgroup.freeze and cgroup.kill are exercised for real; memory, pids and cpu must then fail
/// create with a clear error and leave nothing behind.
/// </summary>
public class CgroupV2ViewTests
{
    [Fact]
    public void Resources_pause_update_events_devices_and_cleanup_on_a_pure_v2_hierarchy()
    {
        using var root = new TestRoot();
        using var view = new V2View();
        using var bundle = new Bundle();
        bundle.Writable();
        bundle.SetScript("mknod /tmp/loop b 7 0 && head -c 1 /tmp/loop; echo rc=$?; head -c 3 /dev/zero | wc -c; " +
                         "i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.02; done");
        bundle.AddCapability("CAP_MKNOD");
        bool huge = view.Facts(root).HasController("hugetlb");
        string parent = Cg.NewParent(), id = root.NewId(), path = $"{parent}/{id}";
        Cg.SetResources(bundle, huge
            ? """{"devices": [{"allow": false, "access": "rwm"}], "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}], "unified": {"cgroup.max.descendants": "7"}}"""
            : """{"devices": [{"allow": false, "access": "rwm"}], "unified": {"cgroup.max.descendants": "7"}}""", path);
        File.WriteAllText(Path.Combine(view.Out, "update.json"), huge
            ? """{"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}], "unified": {"cgroup.max.descendants": "9"}}"""
            : """{"unified": {"cgroup.max.descendants": "9"}}""");
        var r = view.Run(root, $$"""
            D=/sys/fs/cgroup{{path}}
            H check > $OUT/check.txt
            H create --bundle {{bundle.Dir}} {{id}} > $OUT/container.out 2> $OUT/container.err || { echo create failed; cat $OUT/container.err; exit 1; }
            cat $D/cgroup.max.descendants > $OUT/descendants
            cat $D/hugetlb.2MB.max > $OUT/huge 2>/dev/null
            H start {{id}}
            PID=$(H state {{id}} | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
            # The container replaces the file by a rename, so a read (or a freeze) never sees it half written.
            count() { c=$(cat /proc/$PID/root/tmp/count 2>/dev/null); echo "${c:-0}"; }
            n=0; while [ $(count) -lt 3 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
            H pause {{id}}; H state {{id}} > $OUT/state-paused; cat $D/cgroup.events > $OUT/events-paused
            a=$(count); sleep 0.4; b=$(count); echo "$a $b" > $OUT/paused-counts
            H resume {{id}}; H state {{id}} > $OUT/state-resumed
            sleep 0.4; count > $OUT/resumed-count
            H events --stats {{id}} > $OUT/stats
            H ps -f json {{id}} > $OUT/ps
            H update -r - {{id}} < $OUT/update.json || echo update failed
            cat $D/cgroup.max.descendants > $OUT/descendants-updated
            cat $D/hugetlb.2MB.max > $OUT/huge-updated 2>/dev/null
            H delete --force {{id}} || echo delete failed
            [ -d $D ] && echo "left: $D"
            [ -d /sys/fs/cgroup{{parent}} ] && echo "left: {{parent}}"
            # delete --force of an id whose create has not made its state yet succeeds at once and the run
            # would then never end (its container loops): wait for the state (bounded) on a slow host.
            i=0; while [ $i -lt 20 ]; do H run --bundle {{bundle.Dir}} loop$i-{{id}} > /dev/null 2>&1 & P=$!; sleep 0.1; w=0; while ! H state loop$i-{{id}} > /dev/null 2>&1 && [ $w -lt 100 ]; do sleep 0.02; w=$((w+1)); done; H delete --force loop$i-{{id}}; wait $P; i=$((i+1)); done
            [ -d /sys/fs/cgroup{{parent}} ] && echo "left after 20: {{parent}}"
            H list -q
            exit 0
            """);
        r.AssertSuccess();
        Assert.DoesNotContain("failed", r.Stdout);
        Assert.DoesNotContain("left", r.Stdout);
        Assert.Equal("", r.Stdout.Trim()); // husk list -q: nothing remains

        Assert.Matches(@"cgroup\.layout\s+ok\s+v2", view.File("check.txt"));
        Assert.Equal("7", view.File("descendants").Trim());
        Assert.Equal("9", view.File("descendants-updated").Trim());
        if (huge)
        {
            Assert.Equal("4194304", view.File("huge").Trim());
            Assert.Equal("2097152", view.File("huge-updated").Trim());
        }
        // The eBPF device program: a block device node made inside cannot be opened, /dev/zero can.
        Assert.Contains("head: /tmp/loop: Operation not permitted", view.File("container.err"));
        Assert.Contains("rc=1", view.File("container.out"));
        Assert.Contains("3\n", view.File("container.out"));

        Assert.Equal("paused", (string)JsonNode.Parse(view.File("state-paused"))!["status"]!);
        Assert.Contains("frozen 1", view.File("events-paused"));
        Assert.True(view.File("paused-counts").Trim().Split(' ').Length == 2, $"{r}\n{string.Join("\n", Directory.GetFiles(view.Out).Select(f => $"{Path.GetFileName(f)}: {File.ReadAllText(f)}"))}");
        var counts = view.File("paused-counts").Trim().Split(' ').Select(long.Parse).ToArray();
        Assert.True(counts[0] > 0 && counts[0] == counts[1], $"counter moved while paused: {counts[0]} → {counts[1]}");
        Assert.Equal("running", (string)JsonNode.Parse(view.File("state-resumed"))!["status"]!);
        Assert.True(long.Parse(view.File("resumed-count").Trim()) > counts[1], "counter did not restart after resume");

        var stats = JsonNode.Parse(view.File("stats"))!;
        Assert.Equal("stats", (string)stats["type"]!);
        Assert.True((ulong)stats["data"]!["cpu"]!["usage"]!["total"]! > 0);
        Assert.NotNull(stats["data"]!["memory"]);
        Assert.True((ulong)stats["data"]!["pids"]!["current"]! >= 1);
        Assert.NotEmpty(JsonNode.Parse(view.File("ps"))!.AsArray());

        Assert.Empty(Cg.Leftovers(parent));
    }

    /// <summary>
    /// A limit is written to its v2 file where the cgroup2 hierarchy has the controller; where not
    /// (this hybrid machine's holds none of these), create fails with one clear line and leaves nothing.
    /// </summary>
    [Theory]
    [InlineData("memory", """{"memory": {"limit": 33554432}}""", "/linux/resources/memory/limit", "memory.max", "33554432")]
    [InlineData("pids", """{"pids": {"limit": 10}}""", "/linux/resources/pids/limit", "pids.max", "10")]
    [InlineData("cpu", """{"cpu": {"shares": 512}}""", "/linux/resources/cpu/shares", "cpu.weight", "20")]
    public void A_limit_is_written_where_cgroup_v2_has_its_controller_and_refused_clearly_where_not(string controller, string resources, string pointer, string file, string value)
    {
        using var root = new TestRoot();
        using var view = new V2View();
        using var bundle = new Bundle("true");
        string parent = Cg.NewParent(), id = root.NewId();
        Cg.SetResources(bundle, resources, $"{parent}/{id}");
        // Asked in the same script, just before the create, so the two see the same hierarchy.
        var r = view.Run(root, $$"""
            H check --format json > $OUT/check.json
            cat /sys/fs/cgroup/cgroup.controllers > $OUT/controllers
            H create --bundle {{bundle.Dir}} {{id}} 2> $OUT/err && echo created
            cat /sys/fs/cgroup{{parent}}/{{id}}/{{file}} > $OUT/value 2>/dev/null
            H delete --force {{id}} 2>/dev/null
            [ -d /sys/fs/cgroup{{parent}} ] && echo "left: {{parent}}"
            H list -q
            exit 0
            """).AssertSuccess();
        bool has = HostFacts.Of(view.File("check.json")).HasController(controller);
        string seen = $"husk check said {controller} is {(has ? "" : "not ")}available; create printed [{r.Stdout.Trim()}], stderr [{view.File("err").Trim()}]; " +
                      $"the view's cgroup.controllers: [{view.File("controllers").Trim()}]";
        if (has)
        {
            Assert.True(r.Stdout.Trim() == "created", seen);
            Assert.Equal(value, view.File("value").Trim());
        }
        else
        {
            Assert.True(r.Stdout.Trim() == "", seen);
            var err = view.File("err").Trim();
            Assert.Single(err.Split('\n'));
            Assert.Contains(pointer, err);
            Assert.Contains($"the {controller} controller is not available", err);
        }
        Assert.False(Directory.Exists(Path.Combine(root.Path, id)));
        Assert.Empty(Cg.Leftovers(parent));
    }

    [Fact]
    public void Memory_and_pids_limits_are_enforced_where_cgroup_v2_has_the_controllers()
    {
        // On a host whose cgroup2 hierarchy holds memory and pids (pure v2 hosts); a hybrid machine's v1 hierarchies hold them.
        using var root = new TestRoot();
        using var view = new V2View();
        view.Facts(root).RequireController("memory");
        view.Facts(root).RequireController("pids");
        using var oom = new Bundle();
        oom.Writable();
        oom.SetScript("x=$(head -c 60000000 /dev/zero | tr '\\0' a); echo survived");
        Cg.SetResources(oom, """{"memory": {"limit": 16777216, "swap": 16777216}}""");
        using var fork = new Bundle();
        fork.Writable();
        fork.SetScript("i=0; while [ $i -lt 12 ]; do sleep 30 & i=$((i+1)); done; echo started; exit 0");
        Cg.SetResources(fork, """{"pids": {"limit": 5}}""");
        var r = view.Run(root, $$"""
            H run --bundle {{oom.Dir}} oom-{{root.NewId()}} > $OUT/oom.out; echo $? > $OUT/oom.rc
            H run --bundle {{fork.Dir}} fork-{{root.NewId()}} > $OUT/fork.out 2> $OUT/fork.err
            exit 0
            """).AssertSuccess();
        Assert.Equal("137", view.File("oom.rc").Trim());
        Assert.DoesNotContain("survived", view.File("oom.out"));
        Assert.Matches("can't fork|Resource temporarily unavailable", view.File("fork.err"));
        Assert.DoesNotContain("started", view.File("fork.out"));
    }
}
