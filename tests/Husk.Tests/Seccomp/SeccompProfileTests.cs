using System.Text.Json.Nodes;
using Husk.Init;
using Husk.Seccomp;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Seccomp;

public class SeccompProfileTests
{
    static LinuxSeccomp Profile(string def, params LinuxSyscall[] calls) => new() { DefaultAction = def, Syscalls = [.. calls] };

    static LinuxSyscall Call(string action, params string[] names) => new() { Action = action, Names = [.. names] };

    [Theory]
    [InlineData("SCMP_ACT_KILL", 0x00000000u)]
    [InlineData("SCMP_ACT_KILL_THREAD", 0x00000000u)]
    [InlineData("SCMP_ACT_KILL_PROCESS", 0x80000000u)]
    [InlineData("SCMP_ACT_TRAP", 0x00030000u)]
    [InlineData("SCMP_ACT_ERRNO", 0x00050001u)]      // EPERM when errnoRet is absent, as runc
    [InlineData("SCMP_ACT_TRACE", 0x7ff00001u)]
    [InlineData("SCMP_ACT_LOG", 0x7ffc0000u)]
    [InlineData("SCMP_ACT_ALLOW", 0x7fff0000u)]
    [InlineData("SCMP_ACT_NOTIFY", 0x7fc00000u)]
    public void Actions_map_to_libseccomp_values(string name, uint value) => Assert.Equal(value, SeccompProfile.Action(name));

    [Fact]
    public void Errno_and_trace_carry_errnoRet()
    {
        Assert.Equal(0x00050026u, SeccompProfile.Action("SCMP_ACT_ERRNO", 38));
        Assert.Equal(0x7ff00005u, SeccompProfile.Action("SCMP_ACT_TRACE", 5));
        Assert.Equal(0x00050000u | 0xffffu, SeccompProfile.Action("SCMP_ACT_ERRNO", 0x1ffff));   // 16 bits only
    }

    [Fact]
    public void Every_action_the_validator_accepts_maps()
    {
        foreach (var a in SpecValidator.SeccompActions) SeccompProfile.Action(a);
        var e = Assert.Throws<HuskException>(() => SeccompProfile.Action("SCMP_ACT_NOPE"));
        Assert.Contains("SCMP_ACT_NOPE", e.Message);
    }

    [Theory]
    [InlineData("SCMP_CMP_NE", 1)]
    [InlineData("SCMP_CMP_LT", 2)]
    [InlineData("SCMP_CMP_LE", 3)]
    [InlineData("SCMP_CMP_EQ", 4)]
    [InlineData("SCMP_CMP_GE", 5)]
    [InlineData("SCMP_CMP_GT", 6)]
    [InlineData("SCMP_CMP_MASKED_EQ", 7)]
    public void Operators_map_to_scmp_compare(string name, int op) => Assert.Equal(op, SeccompProfile.Operator(name));

    [Fact]
    public void Architectures_map_to_libseccomp_names()
    {
        Assert.Equal("x86_64", SeccompProfile.ArchName("SCMP_ARCH_X86_64"));
        Assert.Equal("x86", SeccompProfile.ArchName("SCMP_ARCH_X86"));
        Assert.Equal("x32", SeccompProfile.ArchName("SCMP_ARCH_X32"));
        Assert.Equal("aarch64", SeccompProfile.ArchName("SCMP_ARCH_AARCH64"));
        Assert.Equal("mipsel64n32", SeccompProfile.ArchName("SCMP_ARCH_MIPSEL64N32"));
        Assert.Equal("riscv64", SeccompProfile.ArchName("SCMP_ARCH_RISCV64"));
        Assert.Throws<HuskException>(() => SeccompProfile.ArchName("SCMP_ARCH_VAX"));
    }

    [Fact]
    public void Masked_eq_uses_value_as_mask_and_valueTwo_as_datum()
    {
        var c = SeccompProfile.Condition(new LinuxSeccompArg { Index = 0, Op = "SCMP_CMP_MASKED_EQ", Value = 0x7E020000, ValueTwo = 0 });
        Assert.Equal(new SeccompCondition(0, 7, 0x7E020000, 0), c);
        var eq = SeccompProfile.Condition(new LinuxSeccompArg { Index = 2, Op = "SCMP_CMP_EQ", Value = 5, ValueTwo = 9 });
        Assert.Equal(new SeccompCondition(2, 4, 5, 0), eq);   // valueTwo only matters for MASKED_EQ
        Assert.Throws<HuskException>(() => SeccompProfile.Condition(new LinuxSeccompArg { Index = 6, Op = "SCMP_CMP_EQ" }));
    }

    [Fact]
    public void Build_one_rule_per_name_and_drops_rules_equal_to_the_default()
    {
        var plan = SeccompProfile.Build(Profile("SCMP_ACT_ERRNO",
            Call("SCMP_ACT_ALLOW", "read", "write", "no_such_syscall_xyz"),
            Call("SCMP_ACT_ERRNO", "mkdir")));                         // same as the default: dropped
        Assert.Equal(0x00050001u, plan.DefaultAction);
        Assert.Equal(["read", "write", "no_such_syscall_xyz"], plan.Rules.Select(r => r.Syscall));   // unknown names are resolved (and ignored) at load
        Assert.All(plan.Rules, r => Assert.Equal(SeccompProfile.ActAllow, r.Action));
        Assert.False(plan.UsesNotify);
    }

    [Fact]
    public void Rule_with_errnoRet_differs_from_default_errno()
    {
        var p = Profile("SCMP_ACT_ERRNO", new LinuxSyscall { Action = "SCMP_ACT_ERRNO", ErrnoRet = 38, Names = ["mkdir"] });
        var plan = SeccompProfile.Build(p);
        Assert.Equal(0x00050026u, Assert.Single(plan.Rules).Action);
        p.DefaultErrnoRet = 38;
        Assert.Empty(SeccompProfile.Build(p).Rules);
    }

    [Fact]
    public void Conditions_on_distinct_arguments_stay_in_one_rule_repeated_ones_are_split()
    {
        var distinct = new LinuxSyscall
        {
            Action = "SCMP_ACT_ALLOW", Names = ["personality"],
            Args = [new() { Index = 0, Op = "SCMP_CMP_EQ", Value = 0 }, new() { Index = 1, Op = "SCMP_CMP_NE", Value = 3 }],
        };
        var rule = Assert.Single(SeccompProfile.Build(Profile("SCMP_ACT_ERRNO", distinct)).Rules);
        Assert.Equal(2, rule.Conditions.Count);

        var repeated = new LinuxSyscall
        {
            Action = "SCMP_ACT_ALLOW", Names = ["personality"],
            Args = [new() { Index = 0, Op = "SCMP_CMP_EQ", Value = 0 }, new() { Index = 0, Op = "SCMP_CMP_EQ", Value = 8 }],
        };
        var rules = SeccompProfile.Build(Profile("SCMP_ACT_ERRNO", repeated)).Rules;
        Assert.Equal(2, rules.Count);
        Assert.Equal([0ul, 8ul], rules.Select(r => Assert.Single(r.Conditions).DatumA));
    }

    [Fact]
    public void Flags_become_attributes_and_unsupported_ones_are_refused()
    {
        var p = Profile("SCMP_ACT_ALLOW");
        p.Flags = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"];
        var plan = SeccompProfile.Build(p);
        Assert.Equal([(6, 1u), (7, 1u), (4, 1u)], plan.Attributes);
        p.Flags = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"];
        var e = Assert.Throws<HuskException>(() => SeccompProfile.Build(p, f => f != "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "2.5.4"));
        Assert.Equal("seccomp: flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported by libseccomp 2.5.4", e.Message);
    }

    [Fact]
    public void Long_rule_sets_ask_for_the_binary_tree_optimization()
    {
        var p = Profile("SCMP_ACT_ERRNO", Enumerable.Range(0, 257).Select(i => Call("SCMP_ACT_ALLOW", $"sc{i}")).ToArray());
        Assert.Contains((8, 2u), SeccompProfile.Build(p).Attributes);
    }

    [Fact]
    public void Architectures_are_deduplicated_in_order()
    {
        var p = Profile("SCMP_ACT_ALLOW");
        p.Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"];
        Assert.Equal(["x86_64", "x86", "x32"], SeccompProfile.Build(p).Architectures);
    }

    [Fact]
    public void Notify_is_detected_refused_as_default_and_on_sendmsg()
    {
        Assert.True(SeccompProfile.Build(Profile("SCMP_ACT_ALLOW", Call("SCMP_ACT_NOTIFY", "mkdir"))).UsesNotify);
        Assert.Throws<HuskException>(() => SeccompProfile.Build(Profile("SCMP_ACT_NOTIFY")));
        var e = Assert.Throws<HuskException>(() => SeccompProfile.Build(Profile("SCMP_ACT_ALLOW", Call("SCMP_ACT_NOTIFY", "sendmsg"))));
        Assert.Contains("sendmsg", e.Message);
        // runc 1.1.5 seccomp-notify.bats "(SCMP_ACT_NOTIFY write)".
        e = Assert.Throws<HuskException>(() => SeccompProfile.Build(Profile("SCMP_ACT_ALLOW", Call("SCMP_ACT_NOTIFY", "mkdir", "write"))));
        Assert.Contains("SCMP_ACT_NOTIFY cannot be used for the write syscall", e.Message);
    }

    [Fact]
    public void Process_state_message_follows_the_runtime_spec()
    {
        const string state = """{"ociVersion":"1.2.0","id":"c1","status":"running","pid":4242,"bundle":"/b","annotations":{"a":"b"}}""";
        var msg = JsonNode.Parse(SeccompFilter.ProcessStateMessage(state, 0, "meta data"))!.AsObject();
        Assert.Equal("1.2.0", (string?)msg["ociVersion"]);
        Assert.Equal("seccompFd", (string?)Assert.Single(msg["fds"]!.AsArray()));
        Assert.Equal(4242, (int)msg["pid"]!);
        Assert.Equal("meta data", (string?)msg["metadata"]);
        Assert.Equal("c1", (string?)msg["state"]!["id"]);
        Assert.Equal("b", (string?)msg["state"]!["annotations"]!["a"]);
        var exec = JsonNode.Parse(SeccompFilter.ProcessStateMessage(state, 99, null))!.AsObject();
        Assert.Equal(99, (int)exec["pid"]!);
        Assert.Null(exec["metadata"]);
    }

    [Fact]
    public void Features_reflect_the_library()
    {
        var f = SeccompSupport.Features();
        Assert.Equal(SpecValidator.SeccompFlags, f.KnownFlags);
        // Without libseccomp (make test installs it) features say seccomp is off; with it, what the library has.
        Assert.Equal(SeccompSupport.Available, f.Enabled);
        if (SeccompSupport.Available)
        {
            Assert.Contains("SCMP_ACT_ALLOW", f.Actions);
            Assert.Contains("SECCOMP_FILTER_FLAG_TSYNC", f.SupportedFlags);
            // Debian's libseccomp 2.5.4 has no SCMP_FLTATR_CTL_WAITKILL (2.6).
            if (SeccompSupport.Version.StartsWith("2.5.", StringComparison.Ordinal))
                Assert.DoesNotContain("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", f.SupportedFlags);
        }
        else Assert.Empty(f.SupportedFlags);
    }

    /// <summary>Runs the -ENOSYS stub followed by a one-instruction "profile" returning <paramref name="profileResult"/>.</summary>
    static uint RunStub(Husk.Linux.Native.SockFilter[] stub, uint arch, uint nr, uint profileResult)
    {
        Husk.Linux.Native.SockFilter[] prog = [.. stub, new(0x06, 0, 0, profileResult)];
        uint a = 0;
        for (int pc = 0; ;)
        {
            var i = prog[pc++];
            switch (i.Code)
            {
                case 0x20: a = i.K == 4 ? arch : i.K == 0 ? nr : throw new InvalidOperationException($"load of {i.K}"); break;
                case 0x15: pc += a == i.K ? i.Jt : i.Jf; break;
                case 0x25: pc += a > i.K ? i.Jt : i.Jf; break;
                case 0x45: pc += (a & i.K) != 0 ? i.Jt : i.Jf; break;
                case 0x06: return i.K;
                default: throw new InvalidOperationException($"opcode 0x{i.Code:x2}");
            }
        }
    }

    [Fact]
    public void Enosys_stub_answers_syscalls_above_the_profiles_last_as_runc()
    {
        // runc 1.1.5 libcontainer/seccomp/patchbpf: x86_64, default action not an allow action.
        var p = Profile("SCMP_ACT_ERRNO", Call("SCMP_ACT_ALLOW", "read", "clone"));
        p.Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"];
        var stub = SeccompProfile.EnosysStub(SeccompProfile.Build(p), 56)!;
        const uint X86_64 = 0xC000003E, I386 = 0x40000003, Profile_ = 0x00050001, Enosys = 0x00050026;
        Assert.Equal(Enosys, RunStub(stub, X86_64, 435, Profile_));          // clone3: newer than the profile
        Assert.Equal(Profile_, RunStub(stub, X86_64, 56, Profile_));         // the last one named
        Assert.Equal(Profile_, RunStub(stub, X86_64, 1, Profile_));          // below: the profile decides
        Assert.Equal(Profile_, RunStub(stub, X86_64, 0x40000000 + 500, Profile_)); // x32: the profile
        Assert.Equal(Profile_, RunStub(stub, I386, 500, Profile_));          // i386: the profile

        foreach (var allow in new[] { "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE" })
        {
            var q = Profile(allow, Call("SCMP_ACT_ERRNO", "read"));
            q.Architectures = ["SCMP_ARCH_X86_64"];
            Assert.Null(SeccompProfile.EnosysStub(SeccompProfile.Build(q), 56));
        }
        p.Architectures = [];
        Assert.Null(SeccompProfile.EnosysStub(SeccompProfile.Build(p), 56));   // no architecture listed: none, as runc
        p.Architectures = ["SCMP_ARCH_X86_64"];
        Assert.Null(SeccompProfile.EnosysStub(SeccompProfile.Build(p), 0));    // no syscall this libseccomp knows
    }

    [Fact]
    public void Kernel_flags_follow_the_filter_attributes()
    {
        var p = Profile("SCMP_ACT_ERRNO", Call("SCMP_ACT_NOTIFY", "mkdir"));
        p.ListenerPath = "/run/agent.sock";
        p.Flags = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"];
        Assert.Equal(2u | 1u | 8u | 16u, SeccompProfile.KernelFlags(SeccompProfile.Build(p)));
        Assert.Equal(0u, SeccompProfile.KernelFlags(SeccompProfile.Build(Profile("SCMP_ACT_ERRNO", Call("SCMP_ACT_ALLOW", "read")))));
    }
}

public class SecurityUnitTests
{
    [Theory]
    [InlineData(StdioOwnership.PIPEFS_MAGIC, 0x1000u | 0x180u, true)]    // an anonymous pipe
    [InlineData(StdioOwnership.SOCKFS_MAGIC, 0xC000u | 0x1ffu, true)]    // a socket
    [InlineData(0x01021994L, 0x2000u | 0x1b6u, false)]                   // /dev/null (char device on tmpfs/devtmpfs)
    [InlineData(0xEF53L, 0x8000u | 0x1a4u, false)]                       // a regular file of the host
    [InlineData(0xEF53L, 0x1000u | 0x1a4u, false)]                       // a named fifo on a host file system
    [InlineData(0x1cd1L, 0x2000u | 0x190u, false)]                       // the caller's terminal (devpts)
    public void Only_anonymous_pipes_and_sockets_are_chowned(long fsType, uint mode, bool chown)
        => Assert.Equal(chown, StdioOwnership.IsPrivateToContainer(fsType, mode));

    [Fact]
    public void Lsm_labels_need_the_lsm()
    {
        var spec = new Husk.Spec.Spec { Process = new Process { ApparmorProfile = "docker-default" } };
        var e = Assert.Throws<HuskException>(() => Lsm.Check(spec, appArmor: false, selinux: false));
        Assert.Equal("/process/apparmorProfile: profile \"docker-default\" is set but AppArmor is not enabled on this host", e.Message);
        Lsm.Check(spec, appArmor: true, selinux: false);
        spec.Process.ApparmorProfile = null;
        spec.Process.SelinuxLabel = "system_u:system_r:container_t:s0";
        Assert.Contains("SELinux is not enabled", Assert.Throws<HuskException>(() => Lsm.Check(spec, true, false)).Message);
        Lsm.Check(spec, false, true);
        spec.Process.SelinuxLabel = null;
        spec.Linux = new Husk.Spec.Linux { MountLabel = "system_u:object_r:container_file_t:s0" };
        Assert.StartsWith("/linux/mountLabel:", Assert.Throws<HuskException>(() => Lsm.Check(spec, true, false)).Message);
    }
}
