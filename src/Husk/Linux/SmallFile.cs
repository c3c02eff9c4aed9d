namespace Husk.Linux;

/// <summary>
/// Whole-file reads and atomic writes with plain open/read/write/rename. The state files, config
/// copies and /proc files a command touches are small and read once: FileStream's buffers, fstat
/// and advisory flock on every open cost more than the read itself, on every container start.
/// </summary>
public static unsafe class SmallFile
{
    /// <summary>
    /// The file's bytes, at most <paramref name="maxBytes"/> of them; null when it (or a directory on
    /// its path) does not exist. Opened non-blocking: a FIFO put where a file is expected is an
    /// error (EAGAIN), never a hang.
    /// </summary>
    public static byte[]? ReadOrNull(string path, int maxBytes = int.MaxValue)
    {
        int fd = Native.open(path, Native.O_RDONLY | Native.O_NONBLOCK | Native.O_CLOEXEC, 0);
        if (fd < 0)
        {
            int e = Native.Errno;
            if (e == Native.ENOENT || e == Native.ENOTDIR) return null;
            throw new KernelException($"cannot open {path}", e);
        }
        try { return ReadFd(fd, maxBytes, path); }
        finally { Native.close(fd); }
    }

    /// <summary>What is left to read of <paramref name="fd"/>, at most <paramref name="maxBytes"/>; read errors name <paramref name="what"/>.</summary>
    public static byte[] ReadFd(int fd, int maxBytes, string what)
    {
        // Most files here are small: read into the stack first and allocate exactly what was read
        // (a fresh 4 KiB array per read is a page fault per read of the GC heap).
        Span<byte> first = stackalloc byte[Math.Min(4096, maxBytes)];
        int got = 0;
        while (got < first.Length)
        {
            nint n;
            fixed (byte* p = first) n = Native.read(fd, p + got, first.Length - got);
            if (n < 0)
            {
                if (Native.Errno == Native.EINTR) continue;
                throw new KernelException($"cannot read {what}", Native.Errno);
            }
            if (n == 0) return first[..got].ToArray();
            got += (int)n;
        }
        if (got == maxBytes) return first.ToArray();
        var buf = new byte[Math.Min(8192, maxBytes)];
        first.CopyTo(buf);
        int len = got;
        while (true)
        {
            if (len == buf.Length)
            {
                if (len == maxBytes) break;
                Array.Resize(ref buf, (int)Math.Min(buf.Length * 2L, maxBytes));
            }
            nint n;
            fixed (byte* p = buf) n = Native.read(fd, p + len, buf.Length - len);
            if (n < 0)
            {
                if (Native.Errno == Native.EINTR) continue;
                throw new KernelException($"cannot read {what}", Native.Errno);
            }
            if (n == 0) break;
            len += (int)n;
        }
        return len == buf.Length ? buf : buf[..len];
    }

    /// <summary>The file as UTF-8 text; null when it does not exist.</summary>
    public static string? ReadTextOrNull(string path, int maxBytes = int.MaxValue) =>
        ReadOrNull(path, maxBytes) is { } b ? System.Text.Encoding.UTF8.GetString(b) : null;

    /// <summary>
    /// Writes a temporary file next to <paramref name="path"/> and renames it over it: readers see the
    /// old or the new file, never half (no fsync). The temporary is always a new file (O_EXCL|O_NOFOLLOW,
    /// a random name): the directory may be writable by others (a --pid-file's), and a symlink planted
    /// at a guessable name must not make root write through it.
    /// </summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> data)
    {
        string tmp;
        int fd, tries = 0;
        do
        {
            tmp = $"{path}.tmp{Random.Shared.NextInt64():x16}";
            fd = Native.open(tmp, Native.O_WRONLY | Native.O_CREAT | Native.O_EXCL | Native.O_NOFOLLOW | Native.O_CLOEXEC, 0x1a4);
        }
        while (fd < 0 && Native.Errno == Native.EEXIST && ++tries < 16);
        if (fd < 0) throw new KernelException($"cannot create {tmp}", Native.Errno);
        try { Native.WriteAll(fd, data, $"write {tmp}"); }
        catch
        {
            Native.close(fd);
            Native.unlink(tmp);
            throw;
        }
        Native.close(fd);
        if (Native.rename(tmp, path) < 0)
        {
            int e = Native.Errno;
            Native.unlink(tmp);
            throw new KernelException($"cannot rename {tmp} to {path}", e);
        }
    }
}
