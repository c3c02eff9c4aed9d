using Husk.Spec;

namespace Husk.Seccomp;

/// <summary>One argument condition of a rule (struct scmp_arg_cmp).</summary>
public readonly record struct SeccompCondition(uint Index, int Op, ulong DatumA, ulong DatumB);

/// <summary>One libseccomp rule: a syscall by name, an action, and conditions that must all hold.</summary>
public sealed record SeccompRule(string Syscall, uint Action, IReadOnlyList<SeccompCondition> Conditions);

/// <summary>
/// A linux.seccomp section decoded for libseccomp, without touching the library or the kernel
/// (so every decision is unit-tested): the default action, the libseccomp architecture names,
/// the filter attributes the flags turn into, and the rules in order.
/// </summary>
public sealed record SeccompPlan(
    uint DefaultAction,
    IReadOnlyList<string> Architectures,
    IReadOnlyList<(int Attribute, uint Value)> Attributes,
    IReadOnlyList<SeccompRule> Rules,
    bool UsesNotify);

/// <summary>
/// The pure mapping from the runtime-spec names to libseccomp's values, following runc's
/// libcontainer/seccomp (getAction, getCondition, matchCall, setFlag).
/// </summary>
public static class SeccompProfile
{
    // libseccomp's SCMP_ACT_* values (seccomp.h).
    public const uint ActKillThread = 0x00000000, ActKillProcess = 0x80000000, ActTrap = 0x00030000,
        ActErrnoBase = 0x00050000, ActTraceBase = 0x7ff00000, ActLog = 0x7ffc0000, ActAllow = 0x7fff0000,
        ActNotify = 0x7fc00000;

    const uint EPERM = 1;

    /// <summary>
    /// The action value of an SCMP_ACT_* name. ERRNO and TRACE carry <paramref name="errnoRet"/>
    /// (EPERM when absent, as runc). Throws for an unknown name.
    /// </summary>
    public static uint Action(string name, uint? errnoRet = null) => name switch
    {
        "SCMP_ACT_KILL" or "SCMP_ACT_KILL_THREAD" => ActKillThread,
        "SCMP_ACT_KILL_PROCESS" => ActKillProcess,
        "SCMP_ACT_TRAP" => ActTrap,
        "SCMP_ACT_ERRNO" => ActErrnoBase | ((errnoRet ?? EPERM) & 0xffff),
        "SCMP_ACT_TRACE" => ActTraceBase | ((errnoRet ?? EPERM) & 0xffff),
        "SCMP_ACT_LOG" => ActLog,
        "SCMP_ACT_ALLOW" => ActAllow,
        "SCMP_ACT_NOTIFY" => ActNotify,
        _ => throw new HuskException($"seccomp: unknown action \"{name}\""),
    };

    /// <summary>The SCMP_CMP_* operator number (enum scmp_compare). Throws for an unknown name.</summary>
    public static int Operator(string name) => name switch
    {
        "SCMP_CMP_NE" => 1,
        "SCMP_CMP_LT" => 2,
        "SCMP_CMP_LE" => 3,
        "SCMP_CMP_EQ" => 4,
        "SCMP_CMP_GE" => 5,
        "SCMP_CMP_GT" => 6,
        "SCMP_CMP_MASKED_EQ" => 7,
        _ => throw new HuskException($"seccomp: unknown operator \"{name}\""),
    };

    /// <summary>
    /// libseccomp's name of an SCMP_ARCH_* constant ("SCMP_ARCH_X86_64" → "x86_64"), as
    /// seccomp_arch_resolve_name takes it. Throws for a name outside the runtime spec's list.
    /// </summary>
    public static string ArchName(string specName)
    {
        if (!SpecValidator.SeccompArchitectures.Contains(specName))
            throw new HuskException($"seccomp: unknown architecture \"{specName}\"");
        return specName["SCMP_ARCH_".Length..].ToLowerInvariant();
    }

    /// <summary>The libseccomp filter attribute a SECCOMP_FILTER_FLAG_* name sets (to 1). Throws for an unknown flag.</summary>
    public static int FlagAttribute(string flag) => flag switch
    {
        "SECCOMP_FILTER_FLAG_TSYNC" => Linux.Native.SCMP_FLTATR_CTL_TSYNC,
        "SECCOMP_FILTER_FLAG_LOG" => Linux.Native.SCMP_FLTATR_CTL_LOG,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => Linux.Native.SCMP_FLTATR_CTL_SSB,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => Linux.Native.SCMP_FLTATR_CTL_WAITKILL,
        _ => throw new HuskException($"seccomp: unknown flag \"{flag}\""),
    };

    /// <summary>The seccomp(2) flags of a plan's filter attributes, for loading its program without libseccomp.</summary>
    public static uint KernelFlags(SeccompPlan plan)
    {
        uint flags = 0;
        foreach (var (attr, value) in plan.Attributes)
        {
            if (value == 0) continue;
            if (attr == Linux.Native.SCMP_FLTATR_CTL_TSYNC) flags |= Linux.Native.SECCOMP_FILTER_FLAG_TSYNC;
            else if (attr == Linux.Native.SCMP_FLTATR_CTL_LOG) flags |= Linux.Native.SECCOMP_FILTER_FLAG_LOG;
            else if (attr == Linux.Native.SCMP_FLTATR_CTL_SSB) flags |= Linux.Native.SECCOMP_FILTER_FLAG_SPEC_ALLOW;
            else if (attr == Linux.Native.SCMP_FLTATR_CTL_WAITKILL) flags |= Linux.Native.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
        }
        if (plan.UsesNotify)
        {
            flags |= Linux.Native.SECCOMP_FILTER_FLAG_NEW_LISTENER;
            // TSYNC alone returns a thread id on failure, which NEW_LISTENER's fd would be mistaken for.
            if ((flags & Linux.Native.SECCOMP_FILTER_FLAG_TSYNC) != 0) flags |= Linux.Native.SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
        return flags;
    }

    const uint AuditArchX86_64 = 0xC000003E, X32SyscallBit = 0x40000000, ENOSYS = 38;

    /// <summary>
    /// runc's -ENOSYS stub (libcontainer/seccomp/patchbpf), put before the libseccomp program: on
    /// x86_64 a syscall numbered above <paramref name="lastSyscall"/>, the largest one the profile
    /// names, fails with ENOSYS instead of taking the default action, so programs fall back from
    /// syscalls newer than the profile (as from clone3 to clone). None (null) when the profile does
    /// not list x86_64, names no syscall, or its default action allows (ALLOW, LOG, TRACE), as runc.
    /// Other architectures and x32 syscalls go straight to the profile. Pure.
    /// </summary>
    public static Linux.Native.SockFilter[]? EnosysStub(SeccompPlan plan, int lastSyscall)
    {
        uint def = plan.DefaultAction;
        bool allows = def == ActAllow || def == ActLog || (def & 0xffff0000) == ActTraceBase;
        bool x86_64 = plan.Architectures.Contains("x86_64") || plan.Architectures.Contains("native");
        if (allows || lastSyscall <= 0 || !x86_64) return null;
        const ushort LdAbsW = 0x20, JeqK = 0x15, JgtK = 0x25, JsetK = 0x45, RetK = 0x06;
        return
        [
            new(LdAbsW, 0, 0, 4),                          // A = seccomp_data.arch
            new(JeqK, 0, 4, AuditArchX86_64),              // another architecture: to the profile
            new(LdAbsW, 0, 0, 0),                          // A = seccomp_data.nr
            new(JsetK, 2, 0, X32SyscallBit),               // an x32 syscall: to the profile
            new(JgtK, 0, 1, (uint)lastSyscall),
            new(RetK, 0, 0, ActErrnoBase | ENOSYS),
        ];
    }

    /// <summary>The condition of one spec argument (MASKED_EQ: value is the mask, valueTwo the datum, as runc).</summary>
    public static SeccompCondition Condition(LinuxSeccompArg a)
    {
        if (a.Index > 5) throw new HuskException($"seccomp: argument index {a.Index} is out of range (0-5)");
        int op = Operator(a.Op);
        return new SeccompCondition(a.Index, op, a.Value, op == 7 ? a.ValueTwo : 0);
    }

    /// <summary>
    /// Syscalls on which SCMP_ACT_NOTIFY would deadlock the runtime, which uses them after loading the
    /// filter, before anyone can answer: sendmsg (Husk sends the listener fd with it) and write
    /// (refused by runc, whose init writes the fd number to its parent).
    /// </summary>
    public static readonly IReadOnlyList<string> NotifyForbidden = ["sendmsg", "write"];

    /// <summary>
    /// Decodes <paramref name="s"/>. <paramref name="flagSupported"/> says whether the loaded
    /// libseccomp has a flag's attribute (null: all). A rule whose action equals the default is
    /// dropped (runc does the same; libseccomp refuses it). Each name becomes its own rule; a rule
    /// with two conditions on the same argument is split into one rule per condition (libseccomp
    /// cannot AND two conditions on one argument), again as runc does.
    /// </summary>
    public static SeccompPlan Build(LinuxSeccomp s, Func<string, bool>? flagSupported = null, string libraryVersion = "")
    {
        uint def = Action(s.DefaultAction, s.DefaultErrnoRet);
        if (def == ActNotify) throw new HuskException("seccomp: SCMP_ACT_NOTIFY cannot be the default action");

        var arches = new List<string>();
        foreach (var a in s.Architectures)
        {
            var name = ArchName(a);
            if (!arches.Contains(name)) arches.Add(name);
        }

        var attrs = new List<(int, uint)>();
        foreach (var f in s.Flags)
        {
            int attr = FlagAttribute(f);
            if (flagSupported is not null && !flagSupported(f))
                throw new HuskException($"seccomp: flag {f} is not supported by libseccomp {libraryVersion}".TrimEnd());
            if (!attrs.Contains((attr, 1u))) attrs.Add((attr, 1u));
        }
        // runc: libseccomp's binary-tree optimization for long rule sets.
        if (s.Syscalls.Count > 256) attrs.Add((Linux.Native.SCMP_FLTATR_CTL_OPTIMIZE, 2u));

        var rules = new List<SeccompRule>();
        bool notify = false;
        foreach (var call in s.Syscalls)
        {
            uint act = Action(call.Action, call.ErrnoRet);
            if (act == def) continue;
            var conditions = call.Args.Select(Condition).ToList();
            bool repeated = conditions.GroupBy(c => c.Index).Any(g => g.Count() > 1);
            foreach (var name in call.Names)
            {
                if (act == ActNotify && NotifyForbidden.Contains(name))
                    throw new HuskException($"seccomp: SCMP_ACT_NOTIFY cannot be used for the {name} syscall (the runtime needs it after loading the filter)");
                notify |= act == ActNotify;
                if (repeated)
                    foreach (var c in conditions) rules.Add(new SeccompRule(name, act, [c]));
                else
                    rules.Add(new SeccompRule(name, act, conditions));
            }
        }
        return new SeccompPlan(def, arches, attrs, rules, notify);
    }
}
