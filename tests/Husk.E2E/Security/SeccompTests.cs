using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>linux.seccomp through libseccomp: errno rules, default deny, conditions, flags, no_new_privs off.</summary>
[Collection(SecurityCollection.Name)]
public class SeccompTests
{
    static JsonObject Rule(string action, params string[] names) => new() { ["names"] = Attack.Strings(names), ["action"] = action };

    static JsonObject Profile(string defaultAction, params JsonObject[] rules) =>
        new() { ["defaultAction"] = defaultAction, ["syscalls"] = new JsonArray(rules.Select(r => (JsonNode?)r).ToArray()) };

    [Fact]
    public void Errno_rule_for_mkdir_fails_it_inside_and_without_the_profile_it_works()
    {
        using var s = new Sandbox();
        s.Config["root"]!["readonly"] = false;
        s.Script("mkdir /tmp/x 2>&1; echo rc=$?");
        var without = s.Run().AssertSuccess();
        Assert.Contains("rc=0", without.Stdout);
        Directory.Delete(s.Bundle.HostPath("/tmp/x"));

        s.Linux["seccomp"] = Profile("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", "mkdir", "mkdirat"));
        var with = s.Run().AssertSuccess();
        Assert.Contains("Operation not permitted", with.Stdout);
        Assert.Contains("rc=1", with.Stdout);
        Assert.False(Directory.Exists(s.Bundle.HostPath("/tmp/x")));
        s.AssertNothingLeaked();
    }

    /// <summary>Everything static busybox `true` needs (strace -f -c), and nothing else.</summary>
    static readonly string[] TrueNeeds =
    [
        "execve", "brk", "mprotect", "prctl", "prlimit64", "getuid", "arch_prctl", "set_tid_address",
        "getrandom", "set_robust_list", "rseq", "readlink", "exit_group", "exit", "mmap", "munmap",
    ];

    [Fact]
    public void Default_deny_profile_allowing_only_what_true_needs_lets_it_exit_0()
    {
        using var s = new Sandbox("true");
        var profile = Profile("SCMP_ACT_ERRNO", Rule("SCMP_ACT_ALLOW", [.. TrueNeeds, "no_such_syscall_in_any_kernel"]));
        profile["architectures"] = Attack.Strings("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32");
        profile["defaultErrnoRet"] = 1;
        s.Linux["seccomp"] = profile;
        s.Run().AssertSuccess("default-deny profile that allows what true needs (unknown names are ignored)");

        // Without execve allowed nothing can start: a failure (not even write(2) is left to say why), not a hang.
        ((JsonArray)profile["syscalls"]![0]!["names"]!).Remove(((JsonArray)profile["syscalls"]![0]!["names"]!).First(n => (string?)n == "execve"));
        s.Run().AssertFailure();
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Argument_conditions_and_errnoRet_select_the_calls()
    {
        using var s = new Sandbox();
        s.Config["root"]!["readonly"] = false;
        // chmod(path, 0700) gets ENOSYS; chmod(path, 0755) is allowed; MASKED_EQ: mode & 07000 == 01000 (sticky) gets EXDEV.
        var rule = Rule("SCMP_ACT_ERRNO", "chmod");
        rule["errnoRet"] = 38;
        rule["args"] = new JsonArray(new JsonObject { ["index"] = 1, ["value"] = 448, ["op"] = "SCMP_CMP_EQ" });
        var masked = Rule("SCMP_ACT_ERRNO", "chmod");
        masked["errnoRet"] = 18;
        masked["args"] = new JsonArray(new JsonObject { ["index"] = 1, ["value"] = 3584, ["valueTwo"] = 512, ["op"] = "SCMP_CMP_MASKED_EQ" });
        s.Linux["seccomp"] = Profile("SCMP_ACT_ALLOW", rule, masked);
        s.Script("mkdir /tmp/d; chmod 700 /tmp/d 2>&1; echo a=$?; chmod 755 /tmp/d 2>&1; echo b=$?; chmod 1777 /tmp/d 2>&1; echo c=$?");
        var r = s.Run().AssertSuccess();
        Assert.Contains("Function not implemented", r.Stdout);
        Assert.Contains("a=1", r.Stdout);
        Assert.Contains("b=0", r.Stdout);
        Assert.Contains("Invalid cross-device link", r.Stdout);
        Assert.Contains("c=1", r.Stdout);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Without_no_new_privileges_the_filter_is_loaded_before_capabilities_are_dropped()
    {
        using var s = new Sandbox();
        s.Config["root"]!["readonly"] = false;
        s.Bundle.Process["noNewPrivileges"] = false;
        s.Bundle.Process["user"] = new JsonObject { ["uid"] = 1000, ["gid"] = 1000 };
        s.Linux["seccomp"] = Profile("SCMP_ACT_ALLOW", Rule("SCMP_ACT_ERRNO", "mkdir", "mkdirat"));
        s.Script("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; id -u; mkdir /tmp/y 2>&1; echo rc=$?");
        var r = s.Run().AssertSuccess();
        Assert.Contains("NoNewPrivs:\t0", r.Stdout);
        Assert.Contains("Seccomp:\t2", r.Stdout);
        Assert.Contains("1000", r.StdoutLines);
        Assert.Contains("Operation not permitted", r.Stdout);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Flags_the_library_has_are_applied_and_others_refused_at_create_in_one_line()
    {
        using var s = new Sandbox("true");
        var profile = Profile("SCMP_ACT_ALLOW", Rule("SCMP_ACT_LOG", "mkdir"));
        profile["flags"] = Attack.Strings("SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC");
        s.Linux["seccomp"] = profile;
        s.Run().AssertSuccess("LOG, SPEC_ALLOW and TSYNC are supported by libseccomp 2.5");

        // WAIT_KILLABLE_RECV needs libseccomp >= 2.6: applied where the library has it, refused in one line where not.
        profile["flags"] = Attack.Strings("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
        if (Attack.SupportedSeccompFlags().Contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"))
            s.Run().AssertSuccess("the library supports SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
        else
            Assert.Contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported by libseccomp", Attack.OneLine(s.Run().AssertFailure()));
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }
}
