using System.Runtime.InteropServices;
using Husk.Linux;

namespace Husk.Container;

/// <summary>`run`: create, start, and in the foreground wait for the container, forwarding signals, then delete it.</summary>
public static class Runner
{
    public static int Run(StateStore store, CreateOptions o, bool detach, bool keep)
    {
        if (!detach)
        {
            // The init is forked by the intermediate process and would be reparented to the host's
            // pid 1; as a subreaper we get it back and can wait for its exit status.
            Native.prctl(Native.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        var record = Creator.Create(store, o);
        try { Operations.Start(store, o.Id); }
        catch (HuskException)
        {
            Operations.Delete(store, o.Id, force: true);
            throw;
        }
        if (detach) return 0;

        int status = WaitForwardingSignals(record.Pid);
        if (!keep) Operations.Delete(store, o.Id, force: true);
        return Cleanup.ExitCode(status);
    }

    static unsafe int WaitForwardingSignals(int initPid)
    {
        var registrations = new List<PosixSignalRegistration>();
        foreach (var sig in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
        {
            registrations.Add(PosixSignalRegistration.Create(sig, ctx =>
            {
                ctx.Cancel = true;
                Native.kill(initPid, SignalNumber(ctx.Signal));
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
                    return 0; // ECHILD: not our child after all
                }
                if (pid == initPid) return st;
                // Any other reparented orphan is simply reaped.
            }
        }
        finally
        {
            foreach (var r in registrations) r.Dispose();
        }
    }

    static int SignalNumber(PosixSignal s) => s switch
    {
        PosixSignal.SIGHUP => 1, PosixSignal.SIGINT => 2, PosixSignal.SIGQUIT => 3, PosixSignal.SIGTERM => 15,
        _ => (int)s,
    };
}
