namespace Husk.E2E;

/// <summary>
/// Finds and runs the husk binary under test: $HUSK_BINARY, else bin/husk of the repository
/// (the directory holding Husk.slnx above the test assembly). `make test` sets HUSK_BINARY.
/// </summary>
public static class HuskCli
{
    private static readonly Lazy<string> s_repoRoot = new(FindRepoRoot);
    private static readonly Lazy<string> s_binary = new(FindBinary);

    /// <summary>The repository root (contains Husk.slnx).</summary>
    public static string RepoRoot => s_repoRoot.Value;

    /// <summary>Absolute path of the husk binary; fails the test with a hint when it is missing.</summary>
    public static string BinaryPath => s_binary.Value;

    /// <summary>bin/husk-vm beside the binary: the same husk, VM isolation by default (a runtime entry that can only name a binary).</summary>
    public static string VmBinaryPath => Path.Combine(Path.GetDirectoryName(BinaryPath)!, "husk-vm");

    /// <summary>Runs <c>husk ARGS</c> with default options (no --root, empty stdin, 30 s timeout).</summary>
    public static Result Run(params string[] args) => Run(new RunOptions(), args);

    /// <summary>Runs <c>husk [--root R] ARGS</c>; <see cref="RunOptions.Root"/> is put before the command.</summary>
    public static Result Run(RunOptions options, params string[] args)
    {
        IEnumerable<string> all = options.Root is { } root ? ["--root", root, .. args] : args;
        return ProcessRunner.Run(BinaryPath, all, options);
    }

    private static string FindBinary()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("HUSK_BINARY");
        string path = !string.IsNullOrEmpty(fromEnv) ? Path.GetFullPath(fromEnv) : Path.Combine(RepoRoot, "bin", "husk");
        if (!File.Exists(path))
            throw new InvalidOperationException(
                $"husk binary not found at {path} ({(fromEnv is { Length: > 0 } ? "from HUSK_BINARY" : "bin/husk of the repository")}); run 'make build' or set HUSK_BINARY");
        return path;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Husk.slnx")))
                return dir.FullName;
        throw new InvalidOperationException($"no Husk.slnx above {AppContext.BaseDirectory}; set HUSK_BINARY");
    }
}
