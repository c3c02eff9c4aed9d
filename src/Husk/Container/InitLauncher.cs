using Husk.Linux;

namespace Husk.Container;

/// <summary>
/// Starts `husk init` from this very binary with a socket to talk to it and the exec fifo.
/// The fds the caller asked to preserve (3 .. 3+N-1) keep their numbers; the socket and the
/// fifo come right after them, and their numbers travel in the environment.
/// </summary>
public sealed class InitLauncher : IDisposable
{
    public const string InitPipeEnv = "_HUSK_INITPIPE", FifoFdEnv = "_HUSK_FIFOFD";

    public required int SpawnedPid { get; init; }
    public required InitChannel Channel { get; init; }

    public static InitLauncher Launch(int preserveFds, string fifoPath)
    {
        int fifo = Native.Check(Native.open(fifoPath, Native.O_RDWR | Native.O_CLOEXEC, 0), $"open {fifoPath}");
        int[] pair = new int[2];
        try
        {
            unsafe
            {
                fixed (int* p = pair)
                    Native.Check(Native.socketpair(Native.AF_UNIX, Native.SOCK_STREAM | Native.SOCK_CLOEXEC, 0, p), "socketpair");
            }
            int sockTarget = 3 + preserveFds, fifoTarget = 4 + preserveFds;
            var fds = new List<(int, int)>();
            for (int i = 3; i < 3 + preserveFds; i++) fds.Add((i, i));
            fds.Add((pair[1], sockTarget));
            fds.Add((fifo, fifoTarget));
            int pid = Spawner.Spawn(SelfExe.Path, ["husk", "init"],
                [$"{InitPipeEnv}={sockTarget}", $"{FifoFdEnv}={fifoTarget}"], fds);
            return new InitLauncher { SpawnedPid = pid, Channel = new InitChannel(pair[0]) };
        }
        catch
        {
            if (pair[0] > 0) Native.close(pair[0]);
            throw;
        }
        finally
        {
            // Only the init may hold the fifo and its end of the socket: when it dies, `start`
            // sees a fifo without a reader and the socket reports end-of-file.
            Native.close(fifo);
            if (pair[1] > 0) Native.close(pair[1]);
        }
    }

    public void Dispose() => Channel.Dispose();
}

/// <summary>The path of the running husk binary.</summary>
public static class SelfExe
{
    public static string Path { get; } = ResolveSelf();

    static string ResolveSelf()
    {
        try { return new FileInfo("/proc/self/exe").LinkTarget ?? Environment.ProcessPath ?? "/proc/self/exe"; }
        catch (IOException) { return Environment.ProcessPath ?? "/proc/self/exe"; }
    }
}
