namespace Husk.Cgroups;

/// <summary>
/// Builds the BPF_PROG_TYPE_CGROUP_DEVICE program that enforces device rules on cgroup v2, in
/// the shape of runc's and crun's devicefilter. The program reads struct bpf_cgroup_dev_ctx
/// { u32 access_type; u32 major; u32 minor; } from R1: R2 = device type (low 16 bits),
/// R3 = access (high 16 bits), R4 = major, R5 = minor. The rules are checked from the last to
/// the first (later rules win, as writes to devices.allow/deny do on v1), each a block that
/// jumps to the next block when it does not match and otherwise returns 1 (allow) or 0 (deny);
/// no match denies. An allow rule matches when every requested access is in its set; a deny
/// rule when any is. Pure: the instructions are 8-byte little-endian struct bpf_insn.
/// </summary>
public static class DeviceFilter
{
    public const int BPF_DEVCG_ACC_MKNOD = 1, BPF_DEVCG_ACC_READ = 2, BPF_DEVCG_ACC_WRITE = 4;
    public const int BPF_DEVCG_DEV_BLOCK = 1, BPF_DEVCG_DEV_CHAR = 2;
    public const string License = "Apache";

    // Opcodes (class | op | source).
    public const byte LdxMemW = 0x61;     // BPF_LDX | BPF_MEM | BPF_W
    public const byte And32Imm = 0x54;    // BPF_ALU | BPF_AND | BPF_K
    public const byte Rsh32Imm = 0x74;    // BPF_ALU | BPF_RSH | BPF_K
    public const byte Mov32Imm = 0xb4;    // BPF_ALU | BPF_MOV | BPF_K
    public const byte Mov32Reg = 0xbc;    // BPF_ALU | BPF_MOV | BPF_X
    public const byte JeqImm = 0x15;      // BPF_JMP | BPF_JEQ | BPF_K
    public const byte JneImm = 0x55;      // BPF_JMP | BPF_JNE | BPF_K
    public const byte JneReg = 0x5d;      // BPF_JMP | BPF_JNE | BPF_X
    public const byte Exit = 0x95;        // BPF_JMP | BPF_EXIT

    /// <summary>One instruction; <see cref="Off"/> of a jump is relative to the next instruction.</summary>
    public readonly record struct Insn(byte Code, byte Dst, byte Src, short Off, int Imm)
    {
        public ulong Encode() => Code | (ulong)(Dst & 0xf) << 8 | (ulong)(Src & 0xf) << 12 | (ulong)(ushort)Off << 16 | (ulong)(uint)Imm << 32;

        public static Insn Decode(ulong v) => new((byte)v, (byte)((v >> 8) & 0xf), (byte)((v >> 12) & 0xf), (short)(ushort)(v >> 16), (int)(uint)(v >> 32));
    }

    public static int AccessBits(string access)
    {
        int bits = 0;
        foreach (char ch in access)
            bits |= ch switch
            {
                'r' => BPF_DEVCG_ACC_READ,
                'w' => BPF_DEVCG_ACC_WRITE,
                'm' => BPF_DEVCG_ACC_MKNOD,
                _ => throw new HuskException($"device rule: unknown access '{ch}' (expected r, w and m)"),
            };
        return bits;
    }

    /// <summary>The program for <paramref name="rules"/> (as from <see cref="DeviceRules.Effective"/>).</summary>
    public static List<Insn> Build(IReadOnlyList<DeviceRule> rules)
    {
        var prog = new List<Insn>
        {
            new(LdxMemW, 2, 1, 0, 0), new(And32Imm, 2, 0, 0, 0xFFFF),
            new(LdxMemW, 3, 1, 0, 0), new(Rsh32Imm, 3, 0, 0, 16),
            new(LdxMemW, 4, 1, 4, 0),
            new(LdxMemW, 5, 1, 8, 0),
        };
        for (int i = rules.Count - 1; i >= 0; i--)
        {
            var r = rules[i];
            if (r.Major > int.MaxValue || r.Minor > int.MaxValue)
                throw new HuskException($"device rule \"{r.CgroupString}\": major/minor out of range");
            int access = AccessBits(r.Access);
            if (access == 0) continue; // grants or denies nothing
            var block = new List<(Insn Insn, bool JumpsToNext)>();
            switch (r.Type)
            {
                case 'a': break;
                case 'c': block.Add((new(JneImm, 2, 0, 0, BPF_DEVCG_DEV_CHAR), true)); break;
                case 'b': block.Add((new(JneImm, 2, 0, 0, BPF_DEVCG_DEV_BLOCK), true)); break;
                default: throw new HuskException($"device rule \"{r.CgroupString}\": unknown type '{r.Type}' (expected a, c or b)");
            }
            const int all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
            if (access != all)
            {
                block.Add((new(Mov32Reg, 1, 3, 0, 0), false));
                block.Add((new(And32Imm, 1, 0, 0, access), false));
                // allow: every requested access is granted ((R3 & A) == R3); deny: any is ((R3 & A) != 0).
                block.Add(r.Allow ? (new(JneReg, 1, 3, 0, 0), true) : (new(JeqImm, 1, 0, 0, 0), true));
            }
            if (r.Major >= 0) block.Add((new(JneImm, 4, 0, 0, (int)r.Major), true));
            if (r.Minor >= 0) block.Add((new(JneImm, 5, 0, 0, (int)r.Minor), true));
            block.Add((new(Mov32Imm, 0, 0, 0, r.Allow ? 1 : 0), false));
            block.Add((new(Exit, 0, 0, 0, 0), false));
            for (int j = 0; j < block.Count; j++)
            {
                var (insn, jumps) = block[j];
                prog.Add(jumps ? insn with { Off = (short)(block.Count - j - 1) } : insn);
            }
            if (block.Count == 2) return prog; // matches everything: earlier rules can never be reached
        }
        prog.Add(new(Mov32Imm, 0, 0, 0, 0));
        prog.Add(new(Exit, 0, 0, 0, 0));
        return prog;
    }

    public static ulong[] Encode(IReadOnlyList<Insn> prog) => prog.Select(i => i.Encode()).ToArray();
}
