using System.Text.Json;
using System.Buffers;
using Husk.Linux;

namespace Husk.Container;

/// <summary>
/// The state directory (--root): one sub-directory per container holding state.json,
/// config.json and exec.fifo. Every command that changes a container holds an exclusive
/// flock on its directory, so two commands on one id never interleave.
/// </summary>
public sealed class StateStore(string root)
{
    public const string StateFile = "state.json", ConfigFile = "config.json", ExecFifo = "exec.fifo";

    public string Root { get; } = root;

    static readonly SearchValues<char> IdChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-");

    /// <summary>
    /// An id is a letter or digit, then letters, digits and "_+.-" (runc's ^[\w+-\.]+$, but no
    /// leading punctuation): never a path separator, "." or "..". A character set, not a Regex: in
    /// .NET, "$" also matches before a final newline, so "^...$" let "abc\n" through.
    /// </summary>
    public static void ValidateId(string id)
    {
        if (id.Length == 0) throw new HuskException("container id cannot be empty");
        if (id.Length > 1024 || !char.IsAsciiLetterOrDigit(id[0]) || id.AsSpan().ContainsAnyExcept(IdChars))
            throw new HuskException($"invalid container id \"{id}\": use letters, digits and _+-. only");
    }

    public string DirOf(string id) => Path.Combine(Root, id);

    public IEnumerable<string> Ids()
    {
        if (!Directory.Exists(Root)) yield break;
        foreach (var d in Directory.EnumerateDirectories(Root).Order(StringComparer.Ordinal))
            yield return Path.GetFileName(d);
    }

    /// <summary>Creates the container's directory (failing if the id exists) and locks it.</summary>
    public ContainerLock CreateDirectory(string id)
    {
        ValidateId(id);
        MakePrivateDirectory(Path.GetFullPath(Root));
        var dir = DirOf(id);
        try
        {
            // mkdir is atomic: of two concurrent creates of one id, exactly one gets here.
            if (Native.mkdir(dir, 0x1c0) < 0)
            {
                if (Native.Errno == Native.EEXIST) throw new HuskException($"container with id \"{id}\" already exists");
                throw new KernelException($"cannot create state directory {dir}", Native.Errno);
            }
        }
        catch (UnauthorizedAccessException e) { throw new HuskException($"cannot create state directory {dir}: {e.Message}"); }
        return ContainerLock.Acquire(dir, id, blocking: true)!;
    }

    /// <summary>
    /// mkdir -p with mode 0700 for each directory it makes, as runc's MkdirAll(root, 0o700): the state
    /// holds every container's config, its environment (often secrets) included.
    /// </summary>
    internal static void MakePrivateDirectory(string dir)
    {
        const int Mode0700 = 0x1c0;
        if (Native.mkdir(dir, Mode0700) == 0 || Native.Errno == Native.EEXIST) return;
        if (Native.Errno == Native.ENOENT && Path.GetDirectoryName(dir) is { } parent)
        {
            MakePrivateDirectory(parent);
            if (Native.mkdir(dir, Mode0700) == 0 || Native.Errno == Native.EEXIST) return;
        }
        throw new KernelException($"cannot create the state root {dir}", Native.Errno);
    }

    /// <summary>Locks an existing container's directory; throws a clear error for an unknown id.</summary>
    public ContainerLock Lock(string id)
    {
        ValidateId(id);
        var l = ContainerLock.Acquire(DirOf(id), id, blocking: true);
        // A concurrent delete may have removed the directory while we waited for the lock.
        if (l == null || !Directory.Exists(DirOf(id)))
        {
            l?.Dispose();
            throw new HuskException($"container \"{id}\" does not exist");
        }
        return l;
    }

    /// <summary>Tries to lock without waiting; null when another command holds it. Throws for an unknown id.</summary>
    public ContainerLock? TryLock(string id)
    {
        ValidateId(id);
        if (!Directory.Exists(DirOf(id))) throw new HuskException($"container \"{id}\" does not exist");
        return ContainerLock.Acquire(DirOf(id), id, blocking: false);
    }

    public bool Exists(string id) => Directory.Exists(DirOf(id));

    /// <summary>Reads state.json; null when it is not there (a create killed before writing it).</summary>
    public ContainerRecord? ReadRecord(string id)
    {
        var path = Path.Combine(DirOf(id), StateFile);
        if (SmallFile.ReadOrNull(path) is not { } bytes) return null;
        ContainerRecord? record;
        try
        {
            record = ContainerRecord.Shape.ReadDocument(bytes);
        }
        catch (JsonException e)
        {
            throw new HuskException($"{path}: corrupt state file ({e.Message.Split('\n')[0]}); `husk delete --force {id}` removes it");
        }
        // A document that parses but is not this container's record ("null", "{}", another id) is corrupt too.
        if (record == null || record.Id != id)
            throw new HuskException($"{path}: corrupt state file ({(record == null ? "null" : $"it names container {ErrorText.Quote(record.Id)}")}); `husk delete --force {id}` removes it");
        return record;
    }

    public void WriteRecord(ContainerRecord record) =>
        SmallFile.WriteAtomically(Path.Combine(DirOf(record.Id), StateFile), ContainerRecord.Shape.WriteDocument(record));

    public void WriteConfig(string id, byte[] specJson) => SmallFile.WriteAtomically(Path.Combine(DirOf(id), ConfigFile), specJson);

    public Spec.Spec? ReadConfig(string id)
    {
        var path = Path.Combine(DirOf(id), ConfigFile);
        return SmallFile.ReadOrNull(path) is { } bytes ? Spec.SpecJson.Parse(bytes, path) : null;
    }

    public void RemoveDirectory(string id)
    {
        var dir = DirOf(id);
        // The files this store makes go first, by name; a walk only when something else is left
        // (a temporary file of a command killed while writing).
        foreach (var name in (ReadOnlySpan<string>)[StateFile, ConfigFile, ExecFifo]) Native.unlink(Path.Combine(dir, name));
        if (Native.rmdir(dir) == 0 || Native.Errno == Native.ENOENT) return;
        try { Directory.Delete(dir, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }
}

/// <summary>An exclusive flock on a container's state directory.</summary>
public sealed class ContainerLock : IDisposable
{
    int _fd;
    public string Id { get; }

    ContainerLock(int fd, string id) { _fd = fd; Id = id; }

    internal static ContainerLock? Acquire(string dir, string id, bool blocking, int attempt = 0)
    {
        int fd = Native.open(dir, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_CLOEXEC, 0);
        if (fd < 0)
        {
            if (Native.Errno == Native.ENOENT) throw new HuskException($"container \"{id}\" does not exist");
            throw new KernelException($"cannot open state directory {dir}", Native.Errno);
        }
        while (Native.flock(fd, Native.LOCK_EX | (blocking ? 0 : Native.LOCK_NB)) < 0)
        {
            int e = Native.Errno;
            if (e == Native.EINTR) continue;
            Native.close(fd);
            if (e == Native.EAGAIN) return null; // EWOULDBLOCK: held by another command
            throw new KernelException($"cannot lock state directory {dir}", e);
        }
        // While we waited, a delete may have removed the directory and a create made a new one
        // with the same id: the lock is then on the old one, and would not keep the new one's
        // create out. Lock the directory that is there now (or report that there is none).
        if (!IsCurrent(fd, dir))
        {
            Native.close(fd);
            if (++attempt > 100) throw new HuskException($"container \"{id}\" is being deleted and created again too often to lock it");
            return Acquire(dir, id, blocking, attempt);
        }
        return new ContainerLock(fd, id);
    }

    /// <summary>True when <paramref name="fd"/> is still the directory at <paramref name="dir"/> (same device and inode).</summary>
    static unsafe bool IsCurrent(int fd, string dir)
    {
        Native.Statx held, now;
        if (Native.statx(fd, "", Native.AT_EMPTY_PATH, Native.STATX_BASIC_STATS, &held) < 0) return true; // cannot tell: as before
        if (Native.statx(Native.AT_FDCWD, dir, Native.AT_SYMLINK_NOFOLLOW, Native.STATX_BASIC_STATS, &now) < 0) return false;
        // stx_ino is at offset 32 of struct statx.
        return held.DevMajor == now.DevMajor && held.DevMinor == now.DevMinor
            && *(ulong*)((byte*)&held + 32) == *(ulong*)((byte*)&now + 32);
    }

    public void Dispose()
    {
        if (_fd >= 0) Native.close(_fd);
        _fd = -1;
    }
}
