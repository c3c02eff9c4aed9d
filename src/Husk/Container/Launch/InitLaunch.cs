using System.Text;

namespace Husk.Container.Launch;

/// <summary>
/// The one parent-side path that starts a process into a container, for every <see cref="LaunchStrategy"/>:
/// spawn `husk init`, let it join the cgroup, send the bootstrap for nsexec.c, serve it until the
/// process's pid is known, send its config, serve it until ready.
/// </summary>
public static class InitLaunch
{
    /// <summary>
    /// Runs the steps; returns the pid of the process in the container. On failure the caller calls
    /// <see cref="LaunchStrategy.Terminate"/> (also when what it does after this fails).
    /// </summary>
    public static int Run(LaunchStrategy s)
    {
        using var launch = s.Spawn();
        s.Spawned = launch.SpawnedPid;
        launch.Channel.WhileWaiting = s.StallCheck;
        s.BeforeBootstrap();
        launch.JoinCgroup(s.Placement);
        launch.Channel.Send(InitMessage.Bootstrap, s.Bootstrap(s.Placement?.SelfMoveFiles ?? []).ToArray());
        s.AfterBootstrap();
        s.Pid = AwaitPid(launch, s);
        s.Configure(launch.Channel);
        s.AwaitReady(launch.Channel);
        return s.Pid;
    }

    /// <summary>Serves nsexec.c until it reports the pid of the process in the container: writes uid/gid maps when it asks.</summary>
    static int AwaitPid(InitLauncher launch, LaunchStrategy s)
    {
        while (true)
        {
            var msg = launch.Channel.Receive()
                ?? throw new HuskException($"{s.InitName} exited while {s.EnteringNamespaces} ({Cleanup.DescribeExit(launch.SpawnedPid)})");
            switch (msg.Type)
            {
                case InitMessage.Error: throw new HuskException(Encoding.UTF8.GetString(msg.Payload));
                case InitMessage.UserMapRequest when s.UserMaps is { } linux:
                    UserNamespace.WriteMappings(InitChannel.ReadInt(msg.Payload), linux);
                    launch.Channel.Send(InitMessage.UserMapAck, ReadOnlySpan<byte>.Empty);
                    break;
                case InitMessage.ChildPid:
                    int pid = InitChannel.ReadInt(msg.Payload);
                    // Forked into a pid namespace by the process we spawned, which then exits: reap it.
                    if (pid != launch.SpawnedPid) Cleanup.Reap(launch.SpawnedPid);
                    return pid;
                default: throw new HuskException($"{s.InitName} sent unexpected {msg.Type}");
            }
        }
    }
}
