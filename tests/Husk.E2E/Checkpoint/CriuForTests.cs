using Xunit;

namespace Husk.E2E.Checkpoint;

/// <summary>
/// The CRIU the checkpoint tests pass to husk with --criu: $HUSK_TEST_CRIU (set by .ci/run), else
/// ../shared/criu-compat/criu beside the repository. Debian's criu 3.17 fails on kernels >= 6.13,
/// so the tests never fall back to "criu" on PATH. Whether it works is husk check's criu.check
/// line (<see cref="HostFacts"/>); without a working one the checkpoint tests FAIL with the
/// reason (never skip): CRIU is installed by `make test`, so its absence is a broken setup.
/// </summary>
public static class CriuForTests
{
    /// <summary>The CRIU to use and where its path came from (the file may not exist).</summary>
    public static (string Path, string From) Candidate
    {
        get
        {
            string? path = Environment.GetEnvironmentVariable("HUSK_TEST_CRIU");
            if (!string.IsNullOrEmpty(path)) return (System.IO.Path.GetFullPath(path), "$HUSK_TEST_CRIU");
            return (System.IO.Path.GetFullPath(System.IO.Path.Combine(HuskCli.RepoRoot, "..", "shared", "criu-compat", "criu")),
                "../shared/criu-compat/criu (HUSK_TEST_CRIU is not set)");
        }
    }

    /// <summary>The path of a working CRIU; fails the test with husk check's reason when there is none.</summary>
    public static string Path
    {
        get
        {
            var (path, from) = Candidate;
            foreach (var name in new[] { "criu.binary", "criu.check" })
                if (HostFacts.Here.Find(name) is { Ok: false } c)
                    Assert.Fail($"no working CRIU for the checkpoint tests ({from} = {path}): husk check {name}: {c.Detail}");
            return path;
        }
    }
}
