using System.Diagnostics;
using Husk.Linux;

namespace Husk.Cgroups;

/// <summary>
/// Gets the kernel's wait for moving a process between cgroups out of the way early.
/// Every write to a cgroup.procs file takes cgroup_threadgroup_rwsem for writing, and the first
/// such write after an idle moment waits for an RCU grace period (8–20 ms measured on this
/// project's host; runc pays it on every create). Writes within about one grace period of an
/// earlier one do not wait. So a command that is going to move a process (create, run, exec)
/// calls <see cref="Begin"/> first: a background thread writes the command's own pid into its own
/// cgroup, a move to where it already is that changes nothing, and repeats that every few
/// milliseconds until <see cref="End"/>, called just before the real move, which then finds the
/// lock ready. The grace period passes while the command reads its configuration and builds the
/// container. Without write access to its own cgroup (rootless) the thread does nothing.
/// </summary>
public static class CgroupMoveWarmup
{
    // Well under a grace period, so the lock never cools down between two writes; a command that
    // never reaches End (it failed) stops after MaxMs.
    const int IntervalMs = 3, MaxMs = 2000;

    static int s_begun;
    static volatile bool s_ended;

    public static void Begin()
    {
        if (Interlocked.Exchange(ref s_begun, 1) != 0 || Native.geteuid() != 0) return;
        new Thread(Run) { IsBackground = true, Name = "cgroup-warmup" }.Start();
    }

    /// <summary>The real move starts now; the thread stops at its next turn.</summary>
    public static void End() => s_ended = true;

    static void Run()
    {
        string procs;
        try
        {
            var host = CgroupHost.Current;
            var h = host.Unified ?? host.Hierarchies[0];
            procs = CgroupPaths.DirectoryIn(h, CgroupFs.Procs);
        }
        catch (HuskException) { return; } // no cgroup filesystem: create reports it
        var pid = Environment.ProcessId.ToString();
        var clock = Stopwatch.StartNew();
        while (!s_ended && clock.ElapsedMilliseconds < MaxMs)
        {
            if (!CgroupFs.TryWrite(procs, pid, out _)) return;
            Thread.Sleep(IntervalMs);
        }
    }
}
