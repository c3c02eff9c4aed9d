namespace Husk.E2E;

/// <summary>
/// A private husk state directory (<c>--root</c>) under /run/husk-test/&lt;random&gt;, so tests never
/// see each other's containers. Dispose force-deletes every container still listed by
/// <c>husk list -q</c>, unmounts anything left below the directory and removes it.
/// <code>
/// using var root = new TestRoot();
/// using var bundle = new Bundle("sh", "-c", "echo hello");
/// var r = root.Run("run", "--bundle", bundle.Dir, root.NewId()).AssertSuccess();
/// Assert.Equal("hello\n", r.Stdout);
/// </code>
/// </summary>
public sealed class TestRoot : IDisposable
{
    public const string Parent = "/run/husk-test";

    /// <summary>The --root directory.</summary>
    public string Path { get; }

    public TestRoot()
    {
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Directory.CreateDirectory(Parent, owner);
        Path = System.IO.Path.Combine(Parent, Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path, owner);
    }

    /// <summary>A unique container id (see <see cref="ContainerIds"/>).</summary>
    public string NewId(string prefix = "e2e") => ContainerIds.New(prefix);

    /// <summary>Runs <c>husk --root PATH ARGS</c>.</summary>
    public Result Run(params string[] args) => HuskCli.Run(new RunOptions { Root = Path }, args);

    /// <summary>Runs <c>husk --root PATH ARGS</c> with options (stdin, timeout, env...); options.Root is replaced.</summary>
    public Result Run(RunOptions options, params string[] args) => HuskCli.Run(options with { Root = Path }, args);

    /// <summary>
    /// `husk ARGS` on a thread of its own (not the thread pool, which a loaded parallel test run can
    /// starve for seconds), returned once its process has started; the task ends when it exits.
    /// </summary>
    public Task<Result> RunInBackground(RunOptions options, params string[] args)
    {
        var started = new ManualResetEventSlim();
        var run = Task.Factory.StartNew(() => Run(options with { Started = _ => started.Set() }, args), TaskCreationOptions.LongRunning);
        WaitHandle.WaitAny([started.WaitHandle, ((IAsyncResult)run).AsyncWaitHandle], options.Timeout);
        return run;
    }

    /// <summary>Ids from <c>husk --root PATH list -q</c> (empty when the command fails).</summary>
    public IReadOnlyList<string> ListIds()
    {
        var r = Run(new RunOptions { Timeout = TimeSpan.FromSeconds(15) }, "list", "-q");
        return r.ExitCode != 0 ? [] : r.StdoutLines.Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Path))
                foreach (var id in ListIds())
                    Run(new RunOptions { Timeout = TimeSpan.FromSeconds(15) }, "delete", "--force", id);
        }
        catch (Exception) { } // best effort: a failing test already said what went wrong
        try { Mounts.UnmountUnder(Path); } catch (Exception) { }
        try { if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true); } catch (Exception) { }
    }
}
