namespace Husk.Linux;

/// <summary>
/// Gives back the pages a process only read from files. A container's init touches a large part
/// of the husk image while it builds the container, then may wait for `start` for a long time:
/// those code and read-only data pages would stay counted in its memory all that time. They are
/// unmapped here (MADV_DONTNEED) and fault back in from the page cache, which keeps them, when
/// touched again.
/// </summary>
public static class ProcessMemory
{
    /// <summary>Unmaps the clean pages of this process's read-only file mappings; best effort.</summary>
    public static void DropCleanFilePages()
    {
        string smaps;
        try { smaps = File.ReadAllText("/proc/self/smaps"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        foreach (var (start, length) in CleanReadOnlyFileMappings(smaps))
            Native.madvise((nint)start, (nuint)length, Native.MADV_DONTNEED);
    }

    /// <summary>
    /// Pure: the mappings of an smaps text that may be dropped: backed by a file (inode ≠ 0), not
    /// writable, and with no dirty or anonymous page (a read-only mapping can still hold written
    /// pages: the dynamic linker relocates RELRO data before making it read-only; dropping those
    /// would lose the relocations).
    /// </summary>
    public static List<(ulong Start, ulong Length)> CleanReadOnlyFileMappings(string smaps)
    {
        var result = new List<(ulong, ulong)>();
        ulong start = 0, end = 0;
        bool candidate = false, dirty = false;
        void Flush()
        {
            if (candidate && !dirty && end > start) result.Add((start, end - start));
            candidate = false;
        }
        foreach (var line in smaps.Split('\n'))
        {
            if (IsMappingHeader(line))
            {
                Flush();
                var f = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 5) continue;
                var range = f[0].Split('-');
                if (range.Length != 2
                    || !ulong.TryParse(range[0], System.Globalization.NumberStyles.HexNumber, null, out start)
                    || !ulong.TryParse(range[1], System.Globalization.NumberStyles.HexNumber, null, out end)) continue;
                candidate = f[1].Length == 4 && f[1][1] != 'w' && f[4] != "0";
                dirty = false;
                continue;
            }
            if (!candidate) continue;
            if (line.StartsWith("Private_Dirty:", StringComparison.Ordinal) || line.StartsWith("Shared_Dirty:", StringComparison.Ordinal)
                || line.StartsWith("Anonymous:", StringComparison.Ordinal))
            {
                var kb = line[(line.IndexOf(':') + 1)..].Trim().Split(' ')[0];
                if (kb != "0") dirty = true;
            }
        }
        Flush();
        return result;
    }

    // "7f00-7f10 r-xp 00000000 08:01 1234   /usr/lib/x/libc.so.6": a hex range, then perms.
    static bool IsMappingHeader(string line)
    {
        int dash = line.IndexOf('-');
        int space = line.IndexOf(' ');
        if (dash <= 0 || space <= dash + 1) return false;
        foreach (char c in line.AsSpan(0, space)) if (c != '-' && !char.IsAsciiHexDigit(c)) return false;
        return true;
    }
}
