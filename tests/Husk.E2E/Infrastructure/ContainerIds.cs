namespace Husk.E2E;

/// <summary>Unique container ids: <c>PREFIX-xxxxxxxxxx</c> (lower-case hex), valid for runc and husk.</summary>
public static class ContainerIds
{
    private static int s_counter;

    public static string New(string prefix = "e2e")
    {
        int n = Interlocked.Increment(ref s_counter);
        return $"{prefix}-{Environment.ProcessId:x}{n:x}-{Guid.NewGuid().ToString("N")[..8]}";
    }
}
