namespace Husk.Linux;

/// <summary>Signal names and numbers as `kill` accepts them: "KILL", "SIGKILL" or "9".</summary>
public static class Signals
{
    static readonly Dictionary<string, int> Numbers = new()
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["ILL"] = 4, ["TRAP"] = 5, ["ABRT"] = 6, ["IOT"] = 6, ["BUS"] = 7,
        ["FPE"] = 8, ["KILL"] = 9, ["USR1"] = 10, ["SEGV"] = 11, ["USR2"] = 12, ["PIPE"] = 13, ["ALRM"] = 14,
        ["TERM"] = 15, ["STKFLT"] = 16, ["CHLD"] = 17, ["CONT"] = 18, ["STOP"] = 19, ["TSTP"] = 20, ["TTIN"] = 21,
        ["TTOU"] = 22, ["URG"] = 23, ["XCPU"] = 24, ["XFSZ"] = 25, ["VTALRM"] = 26, ["PROF"] = 27, ["WINCH"] = 28,
        ["IO"] = 29, ["POLL"] = 29, ["PWR"] = 30, ["SYS"] = 31,
    };

    public static int Parse(string text)
    {
        if (int.TryParse(text, out var n))
        {
            // 0 only asks whether the container is running (runc accepts it; `kill ID 0` is how scripts check).
            if (n is < 0 or > 64) throw new HuskException($"invalid signal \"{text}\": out of range 0-64");
            return n;
        }
        var name = text.ToUpperInvariant();
        if (name.StartsWith("SIG")) name = name[3..];
        if (name.StartsWith("RTMIN") || name.StartsWith("RTMAX"))
        {
            int rtmin = 34, rtmax = 64;
            var rest = name[5..];
            int off = rest.Length == 0 ? 0 : int.TryParse(rest, out var o) ? o : throw new HuskException($"invalid signal \"{text}\"");
            int sig = name.StartsWith("RTMIN") ? rtmin + off : rtmax + off;
            if (sig < rtmin || sig > rtmax) throw new HuskException($"invalid signal \"{text}\"");
            return sig;
        }
        return Numbers.TryGetValue(name, out var s) ? s : throw new HuskException($"unknown signal \"{text}\"");
    }
}
