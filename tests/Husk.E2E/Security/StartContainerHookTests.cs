using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// A startContainer hook comes from the image (its path is resolved in the container) and runs in
/// the container's namespaces: it must run as the container's process will, with the bounding set,
/// user, capabilities, no_new_privs and seccomp filter already applied (runc runs it just before
/// execve), never as the host's full root. The hook here reports what it holds and tries to undo
/// the read-only /proc/sys and write the host's core_pattern (its own value back: harmless if it
/// succeeds).
/// Observed before the fix (the hooks ran before the privilege drop): CapBnd and CapEff
/// 000001fffeffffff (every capability of the host's bounding set), Seccomp 0, NoNewPrivs 0; the remount
/// of /proc/sys read-write succeeded and core_pattern was written. After: CapBnd and CapEff 20000420
/// (the spec's three capabilities), Seccomp 2, NoNewPrivs 1; remount and write refused.
/// </summary>
[Collection(SecurityCollection.Name)]
public class StartContainerHookTests
{
    const string Probe = """
        #!/bin/sh
        grep -E '^(CapBnd|CapEff|Seccomp|NoNewPrivs|Uid):' /proc/self/status > /report/status
        if mount -o remount,bind,rw /proc/sys 2>/report/remount.err; then echo "remounted /proc/sys" > /report/remount; fi
        cat /proc/sys/kernel/core_pattern > /report/core_pattern.old
        if { cat /report/core_pattern.old > /proc/sys/kernel/core_pattern; } 2>/report/write.err; then echo "wrote core_pattern" > /report/write; fi
        exit 0
        """;

    [Fact]
    public void A_startContainer_hook_runs_with_the_containers_privileges_and_cannot_write_core_pattern()
    {
        using var s = new Sandbox("true");
        s.Config["root"]!["readonly"] = false;   // the hook writes its report into /report
        s.Bundle.WriteFile("/hooks/probe.sh", Probe);
        File.SetUnixFileMode(s.Bundle.HostPath("/hooks/probe.sh"), (UnixFileMode)0b111_101_101);
        Directory.CreateDirectory(s.Bundle.HostPath("/report"));
        File.SetUnixFileMode(s.Bundle.HostPath("/report"), (UnixFileMode)0b111_111_111);
        // A filter that refuses one harmless call, so the mode shows; no_new_privs as in husk spec.
        s.Linux["seccomp"] = new JsonObject
        {
            ["defaultAction"] = "SCMP_ACT_ALLOW",
            ["syscalls"] = new JsonArray(new JsonObject { ["names"] = Attack.Strings("acct"), ["action"] = "SCMP_ACT_ERRNO" }),
        };
        Assert.True((bool?)s.Bundle.Process["noNewPrivileges"] == true, "the spec template sets noNewPrivileges");
        s.Config["hooks"] = new JsonObject
        {
            ["startContainer"] = new JsonArray(new JsonObject
            {
                ["path"] = "/hooks/probe.sh", ["args"] = Attack.Strings("probe.sh"), ["env"] = Attack.Strings("PATH=/bin"),
            }),
        };

        s.Run().AssertSuccess("run with the probing startContainer hook");

        var status = File.ReadAllLines(s.Bundle.HostPath("/report/status"))
            .Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim());
        bool remounted = File.Exists(s.Bundle.HostPath("/report/remount")), wrote = File.Exists(s.Bundle.HostPath("/report/write"));
        string report = string.Join("\n", status.Select(kv => $"{kv.Key}: {kv.Value}")) + $"\nremounted /proc/sys rw: {remounted}\nwrote core_pattern: {wrote}";
        // CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE: the spec's bounding set, and (uid 0 after execve) effective.
        Assert.True(!remounted && !wrote, report);
        Assert.True(status["CapBnd"] == "0000000020000420", report);
        Assert.True(status["CapEff"] == "0000000020000420", report);
        Assert.True(status["Seccomp"] == "2", report);
        Assert.True(status["NoNewPrivs"] == "1", report);
        Assert.NotEqual("", File.ReadAllText(s.Bundle.HostPath("/report/write.err")));
        s.AssertNothingLeaked();
    }
}
