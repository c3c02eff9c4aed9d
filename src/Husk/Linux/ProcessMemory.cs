namespace Husk.Linux;

/// <summary>
/// Gives back the pages a process only read from files. A container's init touches a large part
/// of the husk image while it builds the container, then may wait for `start` for a long time:
/// those code and read-only data pages would stay counted in its memory all that time. They are
/// unmapped here (MADV_DONTNEED) and fault back in from the page cache, which keeps them, when
/// touched again.
/// </summary>
public static unsafe class ProcessMemory
{
    const int PageSize = 4096;
    // /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
    const ulong Present = 1UL << 63, Swapped = 1UL << 62, FileOrSharedAnon = 1UL << 61;

    /// <summary>Unmaps the pages of this process's read-only file mappings that hold nothing of their own; best effort.</summary>
    public static void DropCleanFilePages()
    {
        // Through the host's procfs (ProcFs.Open): a fake maps or pagemap in the container's /proc
        // could make this unmap pages the process wrote.
        string? maps;
        try { maps = ProcFs.ReadText("self/maps", 1 << 20); }
        catch (KernelException) { return; }
        if (maps is null) return;
        int pagemap = ProcFs.Open("self/pagemap", Native.O_RDONLY);
        if (pagemap < 0) return;
        try
        {
            foreach (var (start, length) in ReadOnlyFileMappings(maps))
                if (!HoldsPrivatePages(pagemap, start, length))
                    Native.madvise((nint)start, (nuint)length, Native.MADV_DONTNEED);
        }
        finally { Native.close(pagemap); }
    }

    /// <summary>Pure: the mappings of a /proc/PID/maps text that are backed by a file (inode ≠ 0) and not writable.</summary>
    public static List<(ulong Start, ulong Length)> ReadOnlyFileMappings(string maps)
    {
        var result = new List<(ulong, ulong)>();
        foreach (var line in maps.Split('\n'))
        {
            // "00405000-0084b000 r-xp 00005000 00:2e 1234   /husk"
            var f = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 5 || f[1].Length != 4 || f[1][1] == 'w' || f[4] == "0") continue;
            var range = f[0].Split('-');
            if (range.Length == 2
                && ulong.TryParse(range[0], System.Globalization.NumberStyles.HexNumber, null, out var start)
                && ulong.TryParse(range[1], System.Globalization.NumberStyles.HexNumber, null, out var end) && end > start)
                result.Add((start, end - start));
        }
        return result;
    }

    /// <summary>
    /// Pure: whether a pagemap entry is a page of this process's own (anonymous or swapped) rather
    /// than a page of the file. A read-only mapping can hold such pages: the dynamic linker writes
    /// relocations into RELRO data before making it read-only; dropping them would lose those.
    /// </summary>
    public static bool IsPrivatePage(ulong entry) => (entry & Swapped) != 0 || (entry & Present) != 0 && (entry & FileOrSharedAnon) == 0;

    static bool HoldsPrivatePages(int pagemap, ulong start, ulong length)
    {
        const int Batch = 512;
        var entries = stackalloc ulong[Batch];
        for (ulong page = start / PageSize, last = (start + length) / PageSize; page < last;)
        {
            int count = (int)Math.Min((ulong)Batch, last - page);
            nint n = Native.pread(pagemap, (byte*)entries, count * sizeof(ulong), (long)(page * sizeof(ulong)));
            if (n <= 0) return true; // cannot tell: keep it
            int got = (int)(n / sizeof(ulong));
            for (int i = 0; i < got; i++) if (IsPrivatePage(entries[i])) return true;
            page += (ulong)got;
        }
        return false;
    }
}
