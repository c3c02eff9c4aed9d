namespace Husk.Linux;

/// <summary>
/// An fd this code owns: <see cref="Dispose"/> closes it once (through the <see cref="IKernel"/> that
/// opened it), <see cref="Release"/> hands it to someone else. Used with <c>using</c> instead of a raw
/// int closed in a finally block.
/// </summary>
public sealed class OwnedFd : IDisposable
{
    readonly IKernel _kernel;
    int _fd;

    public OwnedFd(IKernel kernel, int fd)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        _kernel = kernel;
        _fd = fd;
    }

    /// <summary>The parent side's form: an fd it opened itself, closed through <see cref="LinuxKernel"/>.</summary>
    public OwnedFd(int fd) : this(LinuxKernel.Instance, fd) { }

    /// <summary>The fd; it stays owned by this handle.</summary>
    public int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(OwnedFd));

    /// <summary>The fd, no longer closed by this handle.</summary>
    public int Release()
    {
        int fd = Fd;
        _fd = -1;
        return fd;
    }

    /// <summary>Closes the fd; again (after <see cref="Release"/>, or a second time) does nothing.</summary>
    public void Dispose()
    {
        if (_fd < 0) return;
        _kernel.Close(_fd);
        _fd = -1;
    }
}

/// <summary>Owned fds by key (a spec mount index): <see cref="Dispose"/> closes them all.</summary>
public sealed class OwnedFds<TKey> : Dictionary<TKey, OwnedFd>, IDisposable where TKey : notnull
{
    public void Dispose()
    {
        foreach (var fd in Values) fd.Dispose();
    }
}
