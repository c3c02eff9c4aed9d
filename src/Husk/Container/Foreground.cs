using System.Runtime.InteropServices;
using Husk.Linux;

namespace Husk.Container;

/// <summary>Waiting in the foreground for a container's process (`run`, `exec`, `restore`).</summary>
public static class Foreground
{
    /// <summary>
    /// Waits for <paramref name="initPid"/> (reaping other children, whose pid and status go to
    /// <paramref name="reaped"/>), forwarding SIGINT, SIGTERM, SIGHUP and SIGQUIT to it; returns its wait status.
    /// </summary>
    public static unsafe int WaitForwardingSignals(int initPid, Action<int, int>? reaped = null)
    {
        var registrations = new List<PosixSignalRegistration>();
        foreach (var sig in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
        {
            registrations.Add(PosixSignalRegistration.Create(sig, ctx =>
            {
                ctx.Cancel = true;
                Native.kill(initPid, Signals.Number(ctx.Signal));
            }));
        }
        try
        {
            while (true)
            {
                int st;
                int pid = Native.waitpid(-1, &st, Native.__WALL);
                if (pid < 0)
                {
                    if (Native.Errno == Native.EINTR) continue;
                    // ECHILD: not our child after all; wait until it is gone, its status unknown.
                    while (ProcFs.IsAlive(initPid, 0)) Thread.Sleep(50);
                    return 0;
                }
                if (pid == initPid) return st;
                // Any other child, or reparented orphan, is reaped.
                reaped?.Invoke(pid, st);
            }
        }
        finally
        {
            foreach (var r in registrations) r.Dispose();
        }
    }
}
