using Xunit;

namespace Husk.E2E.Checkpoint;

/// <summary>
/// The CRIU the checkpoint tests pass to husk with --criu: $HUSK_TEST_CRIU (set by .ci/run), else
/// ../shared/criu-compat/criu beside the repository when it exists. Debian's criu 3.17 fails on
/// kernels >= 6.13, so the tests never fall back to "criu" on PATH; without a CRIU whose
/// `criu check` passes they FAIL with the reason (never skip).
/// </summary>
public static class CriuForTests
{
    static readonly Lazy<(string? Path, string Problem)> s_criu = new(Find);

    /// <summary>The path of a working CRIU; fails the test with a clear message when there is none.</summary>
    public static string Path
    {
        get
        {
            var (path, problem) = s_criu.Value;
            if (path == null) Assert.Fail(problem);
            return path!;
        }
    }

    static (string?, string) Find()
    {
        string? path = Environment.GetEnvironmentVariable("HUSK_TEST_CRIU");
        string from = "$HUSK_TEST_CRIU";
        if (string.IsNullOrEmpty(path))
        {
            path = System.IO.Path.GetFullPath(System.IO.Path.Combine(HuskCli.RepoRoot, "..", "shared", "criu-compat", "criu"));
            from = "../shared/criu-compat/criu (HUSK_TEST_CRIU is not set)";
            if (!File.Exists(path))
                return (null, $"no CRIU for the checkpoint tests: set HUSK_TEST_CRIU to a criu that works on this kernel (.ci/run does; {path} does not exist)");
        }
        if (!File.Exists(path)) return (null, $"no CRIU for the checkpoint tests: {from} = {path} does not exist");
        var r = ProcessRunner.Run(path, ["check"], new RunOptions { Timeout = TimeSpan.FromSeconds(60) });
        if (r.ExitCode != 0)
            return (null, $"the CRIU for the checkpoint tests ({from} = {path}) fails `criu check` (exit {r.ExitCode}): {(r.Stderr + r.Stdout).Trim().Split('\n').LastOrDefault()}");
        return (path, "");
    }
}
