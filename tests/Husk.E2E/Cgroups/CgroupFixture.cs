using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Cgroups;

/// <summary>Helpers shared by the cgroup tests: cgroup directories of a container, waiting, reading.</summary>
public static class Cg
{
    public const string Mount = "/sys/fs/cgroup";

    /// <summary>A fresh absolute cgroup parent ("/husk-e2e-xxxxxxxx") so tests can check it is gone afterwards.</summary>
    public static string NewParent() => "/husk-e2e-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>The directory of an absolute cgroup path in the v1 hierarchy of <paramref name="controller"/>.</summary>
    public static string V1(string controller, string cgroupPath) => $"{Mount}/{controller}{cgroupPath}";

    public static string Read(string file) => File.ReadAllText(file).Trim();

    /// <summary>Every directory named <paramref name="cgroupPath"/> in any mounted hierarchy (v1 and unified, or the one of a pure v2 host).</summary>
    public static List<string> Leftovers(string cgroupPath)
    {
        var found = new List<string>();
        if (Directory.Exists(Mount + cgroupPath)) found.Add(Mount + cgroupPath);
        foreach (var h in Directory.GetDirectories(Mount))
        {
            string d = h + cgroupPath;
            if (Directory.Exists(d)) found.Add(d);
        }
        return found;
    }

    public static JsonObject State(TestRoot root, string id) => JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!.AsObject();

    public static string Status(TestRoot root, string id) => (string)State(root, id)["status"]!;

    public static void WaitFor(Func<bool> check, string what, int seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (check()) return;
            Thread.Sleep(20);
        }
        Assert.Fail($"timed out waiting for {what}");
    }

    /// <summary>A bundle whose rootfs is writable (the default spec mounts it read-only).</summary>
    public static Bundle Writable(this Bundle b)
    {
        b.Config["root"]!["readonly"] = false;
        b.Save();
        return b;
    }

    /// <summary>Adds a capability to every set of process.capabilities (e.g. CAP_MKNOD, not in the default spec) and saves.</summary>
    public static Bundle AddCapability(this Bundle b, string cap)
    {
        var caps = (JsonObject)(b.Process["capabilities"] ??= new JsonObject());
        foreach (var set in new[] { "bounding", "effective", "permitted" })
            ((JsonArray)(caps[set] ??= new JsonArray())).Add(cap);
        b.Save();
        return b;
    }

    /// <summary>Sets linux.resources (a JSON object) and linux.cgroupsPath of the bundle and saves it.</summary>
    public static void SetResources(Bundle b, string resourcesJson, string? cgroupsPath = null)
    {
        var linux = (JsonObject)(b.Config["linux"] ??= new JsonObject());
        linux["resources"] = JsonNode.Parse(resourcesJson);
        if (cgroupsPath != null) linux["cgroupsPath"] = cgroupsPath;
        b.Save();
    }

    /// <summary>Whether a process is gone (or a zombie nobody reaps, as on this host).</summary>
    public static bool Gone(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Contains(") Z "); }
        catch (IOException) { return true; }
    }

    /// <summary>A block device of this host ("major:minor"), for blkio throttle settings.</summary>
    public static (int Major, int Minor) SomeBlockDevice()
    {
        // One level only: sysfs is full of symlink cycles.
        foreach (var dev in Directory.GetDirectories("/sys/block").Order().Select(d => Path.Combine(d, "dev")).Where(File.Exists))
        {
            var p = File.ReadAllText(dev).Trim().Split(':');
            if (p.Length == 2) return (int.Parse(p[0]), int.Parse(p[1]));
        }
        return (7, 0);
    }
}

/// <summary>
/// Runs a shell script with husk inside a private mount namespace whose /sys/fs/cgroup is a pure
/// cgroup2 mount (`unshare -m`, then umount -R and mount -t cgroup2): the host itself is never
/// changed. Every command of a container must run in the same script, since only there do its
/// cgroup paths resolve. The script gets $HUSK, $ROOT, $OUT (a directory for outputs) and H (a
/// function running husk with --root).
/// </summary>
public sealed class V2View : IDisposable
{
    public string Out { get; } = Directory.CreateTempSubdirectory("husk-v2view-").FullName;

    public Result Run(TestRoot root, string script, int timeoutSeconds = 120)
    {
        string prelude = """
            set -u
            umount -R /sys/fs/cgroup || exit 97
            mount -t cgroup2 none /sys/fs/cgroup || exit 98
            H() { "$HUSK" --root "$ROOT" "$@"; }

            """;
        return ProcessRunner.Run("unshare", ["-m", "--propagation", "private", "sh", "-c", prelude + script], new RunOptions
        {
            Timeout = TimeSpan.FromSeconds(timeoutSeconds),
            Environment = new Dictionary<string, string?> { ["HUSK"] = HuskCli.BinaryPath, ["ROOT"] = root.Path, ["OUT"] = Out },
        });
    }

    /// <summary>What husk check reports inside the view (its cgroup lines are those of a pure v2 host).</summary>
    public HostFacts Facts(TestRoot root) => _facts ??= HostFacts.Of(Run(root, "H check --format json").AssertSuccess("husk check in the v2 view").Stdout);

    HostFacts? _facts;

    public string File(string name) => System.IO.File.ReadAllText(Path.Combine(Out, name));

    public bool Has(string name) => System.IO.File.Exists(Path.Combine(Out, name));

    public void Dispose()
    {
        try { Directory.Delete(Out, recursive: true); } catch (Exception) { }
    }
}
