using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Namespaces;

/// <summary>
/// The isolation tests run one after another (they compare the host's mount table before and
/// after, which parallel containers of the same class would disturb).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolationCollection
{
    public const string Name = "Isolation.Namespaces";
}

/// <summary>
/// One test's husk state dir and bundle, plus what the host looked like before, so
/// <see cref="AssertNothingLeaked"/> can prove the container left nothing behind: no new mount in
/// the host's mount table (nothing at all under the bundle or the state dir), and no cgroup
/// directory of any container it started after that container was deleted.
/// <code>
/// using var s = new Sandbox("sleep", "1000");
/// int pid = s.StartDetached(out var id);
/// ... look at /proc/pid ...
/// s.Delete(id);
/// s.AssertNothingLeaked();
/// </code>
/// </summary>
public sealed class Sandbox : IDisposable
{
    public TestRoot Root { get; } = new();
    public Bundle Bundle { get; }
    public JsonObject Config => Bundle.Config;
    public JsonObject Linux => (JsonObject)(Bundle.Config["linux"] ??= new JsonObject());

    private readonly HashSet<string> _hostMountsBefore;
    private readonly List<string> _ids = [];

    public Sandbox(params string[] args)
    {
        _hostMountsBefore = HostMountSet();
        Bundle = new Bundle(args);
    }

    /// <summary>
    /// A new user namespace mapping container 0.. to host <paramref name="hostId"/>.. (uids and gids,
    /// 65536 of each). The bundle directory (0700 from mkdtemp) is opened to others, as the
    /// container's root, an unprivileged host uid, must reach its rootfs.
    /// </summary>
    public Sandbox WithUserNamespace(uint hostId = 100000)
    {
        ((JsonArray)(Linux["namespaces"] ??= new JsonArray())).Add(new JsonObject { ["type"] = "user" });
        Linux["uidMappings"] = new JsonArray(new JsonObject { ["containerID"] = 0, ["hostID"] = hostId, ["size"] = 65536 });
        Linux["gidMappings"] = new JsonArray(new JsonObject { ["containerID"] = 0, ["hostID"] = hostId, ["size"] = 65536 });
        File.SetUnixFileMode(Bundle.Dir, (UnixFileMode)0b111_101_101);
        return this;
    }

    /// <summary>A new cgroup namespace, which `husk spec` (as `runc spec`) has only on a pure cgroup v2 host.</summary>
    public Sandbox WithCgroupNamespace()
    {
        var namespaces = (JsonArray)(Linux["namespaces"] ??= new JsonArray());
        if (!namespaces.Any(n => (string?)n!["type"] == "cgroup")) namespaces.Add(new JsonObject { ["type"] = "cgroup" });
        return this;
    }

    /// <summary>Adds a capability to every set of process.capabilities (e.g. CAP_SYS_ADMIN to mount inside).</summary>
    public Sandbox WithCapability(string cap)
    {
        var caps = (JsonObject)(Bundle.Process["capabilities"] ??= new JsonObject());
        foreach (var set in new[] { "bounding", "effective", "permitted" })
            ((JsonArray)(caps[set] ??= new JsonArray())).Add(cap);
        return this;
    }

    /// <summary>Sets process.args to sh -c SCRIPT and saves.</summary>
    public Sandbox Script(string script)
    {
        Bundle.SetScript(script);
        Bundle.Save();
        return this;
    }

    public string NewId()
    {
        var id = Root.NewId("iso");
        _ids.Add(id);
        return id;
    }

    /// <summary>`husk run` in the foreground (saves the config first).</summary>
    public Result Run(params string[] extraCreateFlags)
    {
        Bundle.Save();
        return Root.Run(["run", .. extraCreateFlags, "--bundle", Bundle.Dir, NewId()]);
    }

    /// <summary>`husk run -d` of the bundle (saves the config first); returns the init's host pid.</summary>
    public int StartDetached(out string id, params string[] extraCreateFlags)
    {
        Bundle.Save();
        id = NewId();
        Root.Run(["run", "-d", .. extraCreateFlags, "--bundle", Bundle.Dir, id]).AssertSuccess("husk run -d");
        return Pid(id);
    }

    public int Pid(string id)
    {
        var state = JsonNode.Parse(Root.Run("state", id).AssertSuccess("husk state").Stdout)!.AsObject();
        Assert.Equal("running", (string?)state["status"]);
        int pid = (int)state["pid"]!;
        Assert.True(pid > 0, $"state of {id} has pid {pid}");
        return pid;
    }

    /// <summary>`delete --force`, then the container's cgroup directories must be gone.</summary>
    public void Delete(string id)
    {
        Root.Run("delete", "--force", id).AssertSuccess("husk delete --force");
        AssertCgroupGone(id);
    }

    /// <summary>No /sys/fs/cgroup/&lt;hierarchy&gt;/husk/&lt;id&gt; in any hierarchy.</summary>
    public static void AssertCgroupGone(string id)
    {
        foreach (var h in Directory.GetDirectories("/sys/fs/cgroup"))
        {
            var dir = Path.Combine(h, "husk", id);
            Assert.False(Directory.Exists(dir), $"cgroup directory {dir} is left after delete");
        }
    }

    /// <summary>
    /// The host must look as before: no new mount points (other tests' own bundles and state dirs
    /// aside), nothing mounted under this bundle or state dir, no container left in the state dir,
    /// no cgroup of any of our containers.
    /// </summary>
    public void AssertNothingLeaked()
    {
        foreach (var id in Root.ListIds()) Delete(id);
        Assert.Empty(Mounts.Under(Bundle.Dir));
        Assert.Empty(Mounts.Under(Root.Path));
        var added = HostMountSet().Except(_hostMountsBefore)
            .Where(m => !IsOtherTestsTerritory(m)).ToList();
        Assert.True(added.Count == 0, "new mounts on the host after the container:\n" + string.Join('\n', added));
        foreach (var id in _ids) AssertCgroupGone(id);
    }

    /// <summary>mount point + fs type + source + super options of every host mount (mount ids change, these do not).</summary>
    public static HashSet<string> HostMountSet()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var m = MountLine.Parse(line);
            set.Add($"{m.MountPoint} {m.Root} {m.FsType} {m.Source} {m.Propagation}");
        }
        return set;
    }

    // Parallel tests of other classes make bundles and state dirs of their own.
    private static bool IsOtherTestsTerritory(string entry) =>
        entry.StartsWith(TestRoot.Parent + "/", StringComparison.Ordinal) ||
        entry.StartsWith(Path.GetTempPath().TrimEnd('/') + "/husk-", StringComparison.Ordinal) ||
        entry.StartsWith("/run/netns/husk-e2e-", StringComparison.Ordinal);

    public void Dispose()
    {
        Root.Dispose();
        Bundle.Dispose();
    }
}

/// <summary>One line of /proc/PID/mountinfo.</summary>
public sealed record MountLine(string MountPoint, string Root, string Options, string Propagation, string FsType, string Source, string SuperOptions)
{
    /// <summary>major:minor of the file system (field 3).</summary>
    public string Dev { get; init; } = "";

    public static MountLine Parse(string line)
    {
        var f = line.Split(' ');
        int dash = Array.IndexOf(f, "-");
        return new MountLine(Unescape(f[4]), Unescape(f[3]), f[5], string.Join(' ', f[6..dash]), f[dash + 1], Unescape(f[dash + 2]),
            dash + 3 < f.Length ? f[dash + 3] : "") { Dev = f[2] };
    }

    public bool Has(string option) => Options.Split(',').Contains(option);
    public bool HasSuper(string option) => SuperOptions.Split(',').Contains(option);

    public static List<MountLine> Of(int pid) => File.ReadAllLines($"/proc/{pid}/mountinfo").Select(Parse).ToList();

    public static List<MountLine> ParseAll(string text) =>
        text.Split('\n').Where(l => l.Split(' ').Contains("-")).Select(Parse).ToList();

    /// <summary>The last (top) mount at <paramref name="mountPoint"/>.</summary>
    public static MountLine At(IEnumerable<MountLine> mounts, string mountPoint) =>
        mounts.LastOrDefault(m => m.MountPoint == mountPoint)
        ?? throw new Xunit.Sdk.XunitException($"no mount at {mountPoint} in:\n{string.Join('\n', mounts)}");

    private static string Unescape(string s) => s.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");
}

/// <summary>Host-side views of a process.</summary>
public static class HostProc
{
    /// <summary>"net:[4026531840]" for /proc/PID/ns/NAME.</summary>
    public static string Ns(int pid, string name) => new FileInfo($"/proc/{pid}/ns/{name}").LinkTarget
        ?? throw new Xunit.Sdk.XunitException($"/proc/{pid}/ns/{name} is not a link");

    public static string SelfNs(string name) => Ns(Environment.ProcessId, name);

    public static string Status(int pid, string field) =>
        File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal))[(field.Length + 1)..].Trim();
}
