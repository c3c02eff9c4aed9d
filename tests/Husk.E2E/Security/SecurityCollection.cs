using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// The attack tests run one after another: several compare the host's mount table before and
/// after, and the symlink race wants the CPU.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SecurityCollection
{
    public const string Name = "Security";
}

/// <summary>Helpers shared by the attack tests.</summary>
public static partial class Attack
{
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    /// <summary>Swaps two paths atomically (renameat2 RENAME_EXCHANGE), as the mount-race exploits do.</summary>
    public static void Swap(string a, string b) => renameat2(-100 /* AT_FDCWD */, a, -100, b, 2 /* RENAME_EXCHANGE */);

    /// <summary>SHA-256 of a file, hex.</summary>
    public static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>A JSON string array.</summary>
    public static JsonArray Strings(params string[] items) => new(items.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray());

    /// <summary>Runs /bin/sh -c SCRIPT on the host (for fd and stdio redirections around husk).</summary>
    public static Result Sh(string script, TimeSpan? timeout = null) =>
        ProcessRunner.Run("/bin/sh", ["-c", script], new RunOptions { Timeout = timeout ?? RunOptions.DefaultTimeout });

    /// <summary>Single-quotes a word for /bin/sh.</summary>
    public static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>`husk state ID` → the init's host pid (any status but stopped).</summary>
    public static int InitPid(Sandbox s, string id)
    {
        var state = JsonNode.Parse(s.Root.Run("state", id).AssertSuccess("husk state").Stdout)!.AsObject();
        return (int)state["pid"]!;
    }

    /// <summary>`husk features` → linux.seccomp.supportedFlags.</summary>
    public static IReadOnlyList<string> SupportedSeccompFlags()
    {
        var f = JsonNode.Parse(HuskCli.Run("features").AssertSuccess().Stdout)!;
        return f["linux"]?["seccomp"]?["supportedFlags"]?.AsArray().Select(n => (string)n!).ToList() ?? [];
    }

    /// <summary>The one-line rule of the brief: a failure prints exactly one non-empty line on stderr.</summary>
    public static string OneLine(Result r)
    {
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, r.Describe("expected exactly one line on stderr"));
        return lines[0];
    }
}
