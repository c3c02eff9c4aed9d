namespace Husk.Linux;

/// <summary>What Husk reads from /proc about a process.</summary>
public static class ProcFs
{
    /// <summary>State letter and start time (clock ticks since boot) from /proc/PID/stat; null if the process is gone.</summary>
    public static (char State, ulong StartTime)? Stat(int pid)
    {
        if (pid <= 0) return null;
        string? text;
        try { text = SmallFile.ReadTextOrNull($"/proc/{pid}/stat"); }
        catch (KernelException) { return null; }
        return text is null ? null : ParseStat(text);
    }

    /// <summary>Parses a stat line; the command name (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.</summary>
    public static (char State, ulong StartTime)? ParseStat(string text)
    {
        int close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length) return null;
        var fields = text[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state); start time is field 22.
        if (fields.Length < 20 || fields[0].Length != 1 || !ulong.TryParse(fields[19], out var start)) return null;
        return (fields[0][0], start);
    }

    /// <summary>True when <paramref name="pid"/> is alive (not a zombie) and is the process that started at <paramref name="startTime"/>.</summary>
    public static bool IsAlive(int pid, ulong startTime)
    {
        var st = Stat(pid);
        return st is { } s && s.State is not ('Z' or 'X' or 'x') && (startTime == 0 || s.StartTime == startTime);
    }
}
