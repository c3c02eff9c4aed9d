using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Process;

/// <summary>
/// process.cwd, env, user, umask, rlimits, capabilities, noNewPrivileges and oomScoreAdj, seen
/// from inside the container and from the host (/proc/PID/status, limits, oom_score_adj).
/// </summary>
public class ProcessSettingsTests
{
    [Fact]
    public void A_missing_cwd_is_created_0755_as_runc_does_even_with_a_read_only_root()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("pwd");
        Assert.True(bundle.Config["root"]!["readonly"]?.GetValue<bool>() ?? false, "the default spec has a read-only root");
        bundle.Process["cwd"] = "/work/deep/dir";
        bundle.Save();
        Assert.False(Directory.Exists(bundle.HostPath("/work")));

        var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();

        Assert.Equal("/work/deep/dir\n", r.Stdout);
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(bundle.HostPath("/work/deep/dir")));
    }

    [Fact]
    public void An_existing_cwd_is_used()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("pwd");
        bundle.Process["cwd"] = "/etc";
        bundle.Save();
        Assert.Equal("/etc\n", root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess().Stdout);
    }

    [Fact]
    public void Env_is_exactly_the_spec_plus_HOME_from_etc_passwd()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("/bin/cat", "/proc/self/environ");
        bundle.Process["env"] = ProcessProbe.Strings("PATH=/bin:/usr/bin", "A=1", "B=two words", "EMPTY=", "A=again");
        bundle.Save();

        var r = root.Run(new RunOptions { Environment = new Dictionary<string, string?> { ["LEAK_ME"] = "no" } },
            "run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();

        Assert.Equal(["PATH=/bin:/usr/bin", "A=1", "B=two words", "EMPTY=", "A=again", "HOME=/root"], r.Stdout.TrimEnd('\0').Split('\0'));
    }

    [Fact]
    public void Env_with_HOME_gets_no_other_HOME_and_a_user_without_passwd_entry_gets_slash()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("/bin/cat", "/proc/self/environ");
        bundle.Process["env"] = ProcessProbe.Strings("HOME=/custom", "X=y");
        bundle.Save();
        Assert.Equal(["HOME=/custom", "X=y"], root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess().Stdout.TrimEnd('\0').Split('\0'));

        bundle.Process["env"] = ProcessProbe.Strings("X=y");
        bundle.Process["user"] = new JsonObject { ["uid"] = 4321, ["gid"] = 4321 };
        bundle.Save();
        Assert.Equal(["X=y", "HOME=/"], root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess().Stdout.TrimEnd('\0').Split('\0'));
    }

    [Fact]
    public void User_uid_gid_additional_gids_and_umask_apply_inside_and_show_on_the_host()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.Config["root"]!["readonly"] = false;
        bundle.Process["user"] = new JsonObject
        {
            ["uid"] = 1000, ["gid"] = 1001, ["umask"] = 23, ["additionalGids"] = new JsonArray(10, 2000),
        };
        bundle.SetScript("{ id; umask; touch /tmp/f; stat -c %a /tmp/f; } > /tmp/out 2>&1; exec sleep 1000").Save();
        var id = root.NewId();

        int pid = ProcessProbe.RunDetached(root, bundle, id);
        string inside = ProcessProbe.WaitForFile(bundle.HostPath("/tmp/out"));
        ProcessProbe.WaitForComm(pid, "sleep");

        Assert.Equal(["uid=1000 gid=1001 groups=10,2000", "0027", "640"], inside.TrimEnd('\n').Split('\n'));
        var st = ProcessProbe.Status(pid);
        Assert.Equal("1000\t1000\t1000\t1000", st["Uid"]);
        Assert.Equal("1001\t1001\t1001\t1001", st["Gid"]);
        Assert.Equal("10 2000", st["Groups"]);
        Assert.Equal("0027", st["Umask"]);
        root.Run("delete", "--force", id).AssertSuccess();
    }

    [Fact]
    public void Default_umask_is_0022()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sh", "-c", "umask");
        Assert.Equal("0022\n", root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess().Stdout);
    }

    [Fact]
    public void Rlimits_are_set_soft_and_hard_inside_and_in_proc_limits()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.Config["root"]!["readonly"] = false;
        bundle.Process["rlimits"] = new JsonArray(
            new JsonObject { ["type"] = "RLIMIT_NOFILE", ["soft"] = 1234, ["hard"] = 2345 },
            new JsonObject { ["type"] = "RLIMIT_CORE", ["soft"] = 0, ["hard"] = 4096 });
        bundle.SetScript("{ ulimit -n; ulimit -Hn; } > /tmp/out; exec sleep 1000").Save();
        var id = root.NewId();

        int pid = ProcessProbe.RunDetached(root, bundle, id);
        Assert.Equal("1234\n2345\n", ProcessProbe.WaitForFile(bundle.HostPath("/tmp/out")));

        var limits = File.ReadAllLines($"/proc/{pid}/limits");
        Assert.Matches(@"^Max open files\s+1234\s+2345\s+files", limits.Single(l => l.StartsWith("Max open files")));
        Assert.Matches(@"^Max core file size\s+0\s+4096\s+bytes", limits.Single(l => l.StartsWith("Max core file size")));
        root.Run("delete", "--force", id).AssertSuccess();
    }

    [Fact]
    public void All_five_capability_sets_of_a_root_process_equal_the_spec()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.Config["root"]!["readonly"] = false;
        // For root, execve makes permitted = bounding | inheritable and effective = permitted:
        // the spec below is consistent with that, so every set must come out exactly as written.
        string[] bnd = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"];
        bundle.Process["capabilities"] = new JsonObject
        {
            ["bounding"] = ProcessProbe.Strings(bnd),
            ["effective"] = ProcessProbe.Strings(bnd),
            ["permitted"] = ProcessProbe.Strings(bnd),
            ["inheritable"] = ProcessProbe.Strings("CAP_KILL"),
            ["ambient"] = ProcessProbe.Strings("CAP_KILL"),
        };
        bundle.SetScript("grep ^Cap /proc/self/status > /tmp/out; exec sleep 1000").Save();
        var id = root.NewId();

        int pid = ProcessProbe.RunDetached(root, bundle, id);
        string inside = ProcessProbe.WaitForFile(bundle.HostPath("/tmp/out"));
        ProcessProbe.WaitForComm(pid, "sleep");

        string all = ProcessProbe.CapMask(bnd), kill = ProcessProbe.CapMask("CAP_KILL");
        var st = ProcessProbe.Status(pid);
        Assert.Equal((all, all, all, kill, kill), (st["CapBnd"], st["CapPrm"], st["CapEff"], st["CapInh"], st["CapAmb"]));
        Assert.Equal($"CapInh:\t{kill}\nCapPrm:\t{all}\nCapEff:\t{all}\nCapBnd:\t{all}\nCapAmb:\t{kill}\n", inside);
        root.Run("delete", "--force", id).AssertSuccess();
    }

    [Fact]
    public void A_non_root_user_keeps_its_ambient_capabilities_and_can_use_them()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.Config["root"]!["readonly"] = false;
        bundle.Process["user"] = new JsonObject { ["uid"] = 1000, ["gid"] = 1000 };
        bundle.Process["capabilities"] = new JsonObject
        {
            ["bounding"] = ProcessProbe.Strings("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
            ["effective"] = ProcessProbe.Strings("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
            ["permitted"] = ProcessProbe.Strings("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
            ["inheritable"] = ProcessProbe.Strings("CAP_CHOWN", "CAP_KILL"),
            ["ambient"] = ProcessProbe.Strings("CAP_CHOWN"),
        };
        // chown to another uid needs CAP_CHOWN: it works only through the ambient set.
        bundle.SetScript("{ touch /tmp/f && chown 2222 /tmp/f && stat -c %u /tmp/f; grep ^Cap /proc/self/status; } > /tmp/out 2>&1; exec sleep 1000").Save();
        var id = root.NewId();

        int pid = ProcessProbe.RunDetached(root, bundle, id);
        string inside = ProcessProbe.WaitForFile(bundle.HostPath("/tmp/out"));
        ProcessProbe.WaitForComm(pid, "sleep");

        // A non-root execve: permitted = effective = ambient; inheritable and bounding as set.
        string chown = ProcessProbe.CapMask("CAP_CHOWN");
        Assert.StartsWith("2222\n", inside);
        var st = ProcessProbe.Status(pid);
        Assert.Equal("1000\t1000\t1000\t1000", st["Uid"]);
        Assert.Equal(ProcessProbe.CapMask("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"), st["CapBnd"]);
        Assert.Equal(ProcessProbe.CapMask("CAP_CHOWN", "CAP_KILL"), st["CapInh"]);
        Assert.Equal((chown, chown, chown), (st["CapPrm"], st["CapEff"], st["CapAmb"]));
        Assert.Contains($"CapAmb:\t{chown}", inside);
        root.Run("delete", "--force", id).AssertSuccess();
    }

    [Fact]
    public void No_capabilities_at_all_when_the_spec_has_none()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("grep", "^Cap", "/proc/self/status");
        bundle.Process.Remove("capabilities");
        bundle.Save();
        var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
        Assert.Equal(["CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
            "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000"], r.StdoutLines);
    }

    [Theory]
    [InlineData(true, "1")]
    [InlineData(false, "0")]
    public void NoNewPrivileges_shows_in_proc_status(bool noNewPrivileges, string expected)
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("sleep", "1000");
        bundle.Process["noNewPrivileges"] = noNewPrivileges;
        bundle.Save();
        var id = root.NewId();

        int pid = ProcessProbe.RunDetached(root, bundle, id);
        ProcessProbe.WaitForComm(pid, "sleep");

        Assert.Equal(expected, ProcessProbe.Status(pid)["NoNewPrivs"]);
        root.Run("delete", "--force", id).AssertSuccess();
        bundle.SetArgs("grep", "^NoNewPrivs", "/proc/self/status").Save();
        Assert.Equal($"NoNewPrivs:\t{expected}\n", root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess().Stdout);
    }

    [Fact]
    public void OomScoreAdj_is_set_for_the_container_process()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle();
        bundle.Config["root"]!["readonly"] = false;
        bundle.Process["oomScoreAdj"] = 345;
        bundle.SetScript("cat /proc/self/oom_score_adj > /tmp/out; exec sleep 1000").Save();
        var id = root.NewId();

        int pid = ProcessProbe.RunDetached(root, bundle, id);

        Assert.Equal("345\n", ProcessProbe.WaitForFile(bundle.HostPath("/tmp/out")));
        Assert.Equal("345", File.ReadAllText($"/proc/{pid}/oom_score_adj").Trim());
        root.Run("delete", "--force", id).AssertSuccess();
    }

    [Fact]
    public void Linux_personality_LINUX32_makes_the_process_see_a_32_bit_machine()
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("uname", "-m");
        bundle.Config["linux"]!["personality"] = new System.Text.Json.Nodes.JsonObject { ["domain"] = "LINUX32" };
        bundle.Save();

        var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();

        Assert.Equal(["i686"], r.StdoutLines);
    }
}
