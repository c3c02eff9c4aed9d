using Husk.Cgroups;
using Husk.Spec;
using Xunit;
using static Husk.Cgroups.DeviceFilter;

namespace Husk.Tests.Cgroups;

/// <summary>The device rules and the eBPF device program, run through a small BPF interpreter.</summary>
public class DeviceFilterTests
{
    /// <summary>Runs a program over struct bpf_cgroup_dev_ctx (type | access &lt;&lt; 16, major, minor); returns R0.</summary>
    static ulong Run(IReadOnlyList<Insn> prog, int type, int access, int major, int minor)
    {
        var ctx = new uint[] { (uint)(type | access << 16), (uint)major, (uint)minor };
        var reg = new ulong[11];
        int pc = 0, steps = 0;
        while (true)
        {
            Assert.True(pc >= 0 && pc < prog.Count, $"pc {pc} out of the program");
            Assert.True(++steps < 10000, "no loop");
            var i = prog[pc++];
            switch (i.Code)
            {
                case LdxMemW: Assert.Equal(1, i.Src); reg[i.Dst] = ctx[i.Off / 4]; break;
                case And32Imm: reg[i.Dst] = (uint)reg[i.Dst] & (uint)i.Imm; break;
                case Rsh32Imm: reg[i.Dst] = (uint)reg[i.Dst] >> i.Imm; break;
                case Mov32Imm: reg[i.Dst] = (uint)i.Imm; break;
                case Mov32Reg: reg[i.Dst] = (uint)reg[i.Src]; break;
                case JeqImm: if (reg[i.Dst] == (ulong)(long)i.Imm) pc += i.Off; break;
                case JneImm: if (reg[i.Dst] != (ulong)(long)i.Imm) pc += i.Off; break;
                case JneReg: if (reg[i.Dst] != reg[i.Src]) pc += i.Off; break;
                case Exit: return reg[0];
                default: Assert.Fail($"unexpected opcode 0x{i.Code:x2}"); break;
            }
        }
    }

    const int C = BPF_DEVCG_DEV_CHAR, B = BPF_DEVCG_DEV_BLOCK;
    const int R = BPF_DEVCG_ACC_READ, W = BPF_DEVCG_ACC_WRITE, M = BPF_DEVCG_ACC_MKNOD;

    static List<Insn> Default(params LinuxDeviceCgroup[] spec)
        => Build(DeviceRules.Effective(new LinuxResources { Devices = [new() { Allow = false, Access = "rwm" }, .. spec] }, []));

    [Fact]
    public void Default_rules_allow_the_standard_devices_and_deny_others()
    {
        var p = Default();
        Assert.Equal(1UL, Run(p, C, R | W, 1, 3));   // /dev/null
        Assert.Equal(1UL, Run(p, C, R, 1, 9));       // /dev/urandom
        Assert.Equal(1UL, Run(p, C, R | W, 136, 7)); // /dev/pts/7
        Assert.Equal(1UL, Run(p, C, M, 8, 1));       // mknod any char device
        Assert.Equal(1UL, Run(p, B, M, 7, 0));       // mknod any block device
        Assert.Equal(0UL, Run(p, B, R, 7, 0));       // but not use it
        Assert.Equal(0UL, Run(p, C, R, 1, 1));       // /dev/mem
        Assert.Equal(0UL, Run(p, C, W, 10, 232));    // /dev/kvm
    }

    [Fact]
    public void Spec_rules_are_allowed_and_later_rules_win_but_linux_devices_are_not()
    {
        var rules = DeviceRules.Effective(
            new LinuxResources
            {
                Devices =
                [
                    new() { Allow = false, Access = "rwm" },
                    new() { Allow = true, Type = "b", Major = 7, Minor = 0, Access = "r" },
                    new() { Allow = true, Type = "c", Major = 10, Access = "rwm" },
                    new() { Allow = false, Type = "c", Major = 10, Minor = 229, Access = "w" },
                ],
            },
            [new LinuxDevice { Path = "/dev/kmsg", Type = "c", Major = 1, Minor = 11 }, new LinuxDevice { Path = "/dev/sda", Type = "b", Major = 8, Minor = 0 }]);
        var p = Build(rules);
        Assert.Equal(1UL, Run(p, B, R, 7, 0));
        Assert.Equal(0UL, Run(p, B, W, 7, 0));       // only r was allowed
        Assert.Equal(0UL, Run(p, B, R | W, 7, 0));   // an allow must cover all that is asked
        Assert.Equal(1UL, Run(p, C, R | W, 10, 1));  // c 10:* rwm
        Assert.Equal(1UL, Run(p, C, R, 10, 229));    // the deny is only for w
        Assert.Equal(0UL, Run(p, C, W, 10, 229));
        Assert.Equal(0UL, Run(p, C, R | W, 10, 229)); // a deny of any part denies
        // runc 1.1.5: a linux.devices node is made, but only linux.resources.devices lets it be used.
        Assert.Equal(0UL, Run(p, C, W, 1, 11));      // /dev/kmsg
        Assert.Equal(0UL, Run(p, B, R | W, 8, 0));
        Assert.Equal(1UL, Run(p, B, M, 8, 0));       // mknod of any node stays allowed
    }

    [Theory]
    [InlineData("rwa", "rw")]
    [InlineData("mr", "rm")]
    [InlineData("wwr", "rw")]
    [InlineData("", "rwm")]
    [InlineData(null, "rwm")]
    public void Access_is_the_set_of_r_w_m_it_names_as_runcs_emulator(string? access, string expected)
        => Assert.Equal(expected, DeviceRules.From(new LinuxDeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 11, Access = access })!.Access);

    [Fact]
    public void A_rule_naming_no_access_is_left_out()
    {
        Assert.Null(DeviceRules.From(new LinuxDeviceCgroup { Allow = false, Type = "c", Major = 1, Minor = 3, Access = "a" }));
        var p = Default(new LinuxDeviceCgroup { Allow = false, Type = "c", Major = 1, Minor = 3, Access = "x" });
        Assert.Equal(1UL, Run(p, C, R | W, 1, 3)); // /dev/null stays allowed
    }

    [Fact]
    public void A_linux_device_at_a_default_path_drops_that_default_rule_as_runc()
    {
        // runc 1.1.5 specconv.createDevices: "If a spec device is redundant with a default device,
        // remove that default device": /dev/null in linux.devices is no longer allowed by default.
        LinuxDeviceCgroup[] denyAll = [new() { Allow = false, Access = "rwm" }];
        var p = Build(DeviceRules.Effective(new LinuxResources { Devices = [.. denyAll] },
            [new LinuxDevice { Path = "/dev/null", Type = "c", Major = 1, Minor = 3 }]));
        Assert.Equal(0UL, Run(p, C, R | W, 1, 3));
        Assert.Equal(1UL, Run(p, C, R | W, 1, 5));  // /dev/zero is still allowed
        var allowed = Build(DeviceRules.Effective(
            new LinuxResources { Devices = [.. denyAll, new() { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" }] },
            [new LinuxDevice { Path = "/dev/null", Type = "c", Major = 1, Minor = 3 }]));
        Assert.Equal(1UL, Run(allowed, C, R | W, 1, 3));
    }

    [Fact]
    public void An_allow_all_rule_ends_the_program_and_a_later_deny_still_applies()
    {
        var p = Default(new LinuxDeviceCgroup { Allow = true, Access = "rwm" }, new LinuxDeviceCgroup { Allow = false, Type = "c", Major = 1, Minor = 1, Access = "rwm" });
        Assert.Equal(1UL, Run(p, B, R | W, 8, 0));
        Assert.Equal(0UL, Run(p, C, R, 1, 1));
        Assert.Equal(1UL, Run(p, C, R, 1, 3));
    }

    [Fact]
    public void The_program_starts_by_loading_the_context_and_ends_with_exit()
    {
        var p = Default();
        Assert.Equal(new Insn(LdxMemW, 2, 1, 0, 0), p[0]);
        Assert.Equal(new Insn(And32Imm, 2, 0, 0, 0xFFFF), p[1]);
        Assert.Equal(new Insn(Rsh32Imm, 3, 0, 0, 16), p[3]);
        Assert.Equal(new Insn(LdxMemW, 4, 1, 4, 0), p[4]);
        Assert.Equal(new Insn(LdxMemW, 5, 1, 8, 0), p[5]);
        Assert.Equal(Exit, p[^1].Code);
        // Every jump lands inside the program.
        for (int i = 0; i < p.Count; i++)
            if (p[i].Code is JeqImm or JneImm or JneReg) Assert.InRange(i + 1 + p[i].Off, 0, p.Count - 1);
    }

    [Fact]
    public void Instructions_encode_as_struct_bpf_insn()
    {
        var i = new Insn(JneImm, 4, 0, 3, 136);
        ulong v = i.Encode();
        Assert.Equal(0x55UL, v & 0xff);
        Assert.Equal(4UL, (v >> 8) & 0xf);
        Assert.Equal(3UL, (v >> 16) & 0xffff);
        Assert.Equal(136UL, v >> 32);
        Assert.Equal(i, Insn.Decode(v));
        Assert.Equal(new Insn(Mov32Reg, 1, 3, 0, 0), Insn.Decode(new Insn(Mov32Reg, 1, 3, 0, 0).Encode()));
        Assert.Equal(-2, Insn.Decode(new Insn(JneImm, 1, 0, -2, -7).Encode()).Off);
    }

    [Fact]
    public void V1_rules_are_written_in_cgroup_syntax_starting_with_deny_all()
    {
        var rules = DeviceRules.Effective(new LinuxResources { Devices = [new() { Allow = true, Type = "c", Major = 4, Access = "rw" }] }, []);
        Assert.Equal("deny a *:* rwm", rules[0].ToString());
        Assert.Equal("allow c 4:* rw", rules[1].ToString());
        Assert.Contains(rules, r => r.CgroupString == "c 136:* rwm" && r.Allow);
        Assert.Throws<HuskException>(() => Build([new DeviceRule('x', 1, 1, "r", true)]));
        Assert.Throws<HuskException>(() => Build([new DeviceRule('c', 1, 1, "q", true)]));
    }
}
