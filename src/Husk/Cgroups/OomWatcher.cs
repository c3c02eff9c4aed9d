using Husk.Linux;
using IOPath = System.IO.Path;

namespace Husk.Cgroups;

/// <summary>
/// Tells when the container's memory cgroup had an OOM kill: on v1 through an eventfd registered
/// with cgroup.event_control for memory.oom_control (as runc), on v2 (and when the v1 registration
/// is not possible) by watching the oom_kill count of memory.events.
/// </summary>
public sealed unsafe class OomWatcher : IDisposable
{
    int _eventFd = -1;
    readonly string? _eventsFile;
    ulong _lastCount;

    internal OomWatcher(CgroupManagerBase m)
    {
        var dir = m.DirectoryOf("memory");
        if (dir == null) return;
        if (!m.IsV2)
        {
            int efd = Native.eventfd(0, Native.EFD_CLOEXEC);
            int ofd = efd < 0 ? -1 : Native.open(IOPath.Combine(dir, "memory.oom_control"), Native.O_RDONLY | Native.O_CLOEXEC, 0);
            if (efd >= 0 && ofd >= 0 && CgroupFs.TryWrite(IOPath.Combine(dir, "cgroup.event_control"), $"{efd} {ofd}", out _))
            {
                _eventFd = efd;
                Native.close(ofd);
                return;
            }
            if (ofd >= 0) Native.close(ofd);
            if (efd >= 0) Native.close(efd);
            return;
        }
        _eventsFile = IOPath.Combine(dir, "memory.events");
        _lastCount = Count();
    }

    ulong Count() => _eventsFile == null ? 0
        : CgroupStats.KeyValues(CgroupFs.TryRead(_eventsFile)).GetValueOrDefault("oom_kill");

    /// <summary>Waits up to <paramref name="timeoutMs"/>; returns how many OOM events happened (0 on timeout).</summary>
    public int Wait(int timeoutMs)
    {
        if (_eventFd >= 0)
        {
            var pfd = new Native.PollFd { Fd = _eventFd, Events = Native.POLLIN };
            int rc = Native.poll(&pfd, 1, timeoutMs);
            if (rc <= 0 || (pfd.REvents & Native.POLLIN) == 0) return 0;
            ulong n = 0;
            if (Native.read(_eventFd, (byte*)&n, 8) != 8) return 0;
            return (int)Math.Min(n, int.MaxValue);
        }
        var deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            ulong c = Count();
            if (c > _lastCount)
            {
                int d = (int)Math.Min(c - _lastCount, int.MaxValue);
                _lastCount = c;
                return d;
            }
            long left = deadline - Environment.TickCount64;
            if (left <= 0) return 0;
            Thread.Sleep((int)Math.Min(left, 100));
        }
    }

    public void Dispose()
    {
        if (_eventFd >= 0) Native.close(_eventFd);
        _eventFd = -1;
    }
}
