using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Process;

/// <summary>
/// Helpers for the process-isolation tests: start a container detached and find its pid, read
/// /proc/&lt;pid&gt;/status and /proc/&lt;pid&gt;/limits from the host, wait for a file the
/// container writes, and prove a failed create left nothing behind.
/// </summary>
public static class ProcessProbe
{
    public static JsonObject State(TestRoot root, string id) =>
        JsonNode.Parse(root.Run("state", id).AssertSuccess().Stdout)!.AsObject();

    /// <summary>`husk run -d` (with <paramref name="extra"/> flags) then the init's host pid from `husk state`.</summary>
    public static int RunDetached(TestRoot root, Bundle bundle, string id, params string[] extra)
    {
        root.Run(["run", "-d", .. extra, "--bundle", bundle.Dir, id]).AssertSuccess("run -d");
        int pid = (int)State(root, id)["pid"]!;
        Assert.True(pid > 0, $"state of {id} has no pid");
        return pid;
    }

    /// <summary>The "Key:\tvalue" lines of /proc/PID/status (value trimmed).</summary>
    public static Dictionary<string, string> Status(int pid)
    {
        var d = new Dictionary<string, string>();
        foreach (var line in File.ReadAllLines($"/proc/{pid}/status"))
        {
            int i = line.IndexOf(':');
            if (i > 0) d[line[..i]] = line[(i + 1)..].Trim();
        }
        return d;
    }

    /// <summary>Waits (bounded) until the file exists and is not empty, then returns its text.</summary>
    public static string WaitForFile(string path, double seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(path) && new FileInfo(path).Length > 0)
            {
                Thread.Sleep(20); // let the writer finish its line
                return File.ReadAllText(path);
            }
            Thread.Sleep(10);
        }
        Assert.Fail($"{path} did not appear within {seconds} s");
        return "";
    }

    /// <summary>Waits (bounded) until /proc/PID/comm is <paramref name="comm"/> (the container exec'd its last program).</summary>
    public static void WaitForComm(int pid, string comm, double seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            try { last = File.ReadAllText($"/proc/{pid}/comm").Trim(); } catch (IOException) { }
            if (last == comm) return;
            Thread.Sleep(10);
        }
        Assert.Fail($"pid {pid} is \"{last}\", expected \"{comm}\"");
    }

    /// <summary>The capability mask (16 hex digits, as in /proc/PID/status) of the named capabilities.</summary>
    public static string CapMask(params string[] names)
    {
        ulong m = 0;
        foreach (var n in names) m |= 1UL << CapNumber(n);
        return m.ToString("x16");
    }

    static int CapNumber(string name) => name switch
    {
        "CAP_CHOWN" => 0, "CAP_DAC_OVERRIDE" => 1, "CAP_DAC_READ_SEARCH" => 2, "CAP_FOWNER" => 3, "CAP_FSETID" => 4,
        "CAP_KILL" => 5, "CAP_SETGID" => 6, "CAP_SETUID" => 7, "CAP_SETPCAP" => 8, "CAP_LINUX_IMMUTABLE" => 9,
        "CAP_NET_BIND_SERVICE" => 10, "CAP_NET_BROADCAST" => 11, "CAP_NET_ADMIN" => 12, "CAP_NET_RAW" => 13,
        "CAP_IPC_LOCK" => 14, "CAP_IPC_OWNER" => 15, "CAP_SYS_MODULE" => 16, "CAP_SYS_RAWIO" => 17, "CAP_SYS_CHROOT" => 18,
        "CAP_SYS_PTRACE" => 19, "CAP_SYS_PACCT" => 20, "CAP_SYS_ADMIN" => 21, "CAP_SYS_BOOT" => 22, "CAP_SYS_NICE" => 23,
        "CAP_SYS_RESOURCE" => 24, "CAP_SYS_TIME" => 25, "CAP_SYS_TTY_CONFIG" => 26, "CAP_MKNOD" => 27, "CAP_LEASE" => 28,
        "CAP_AUDIT_WRITE" => 29, "CAP_AUDIT_CONTROL" => 30, "CAP_SETFCAP" => 31,
        _ => throw new ArgumentException($"unknown capability {name}"),
    };

    public static JsonArray Strings(params string[] items) =>
        new(items.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());

    /// <summary>Puts the container in cgroup /husk-e2e-proc/ID so <see cref="AssertNothingLeft"/> can look for it.</summary>
    public static void UseTestCgroup(Bundle bundle, string id)
    {
        var linux = (JsonObject)(bundle.Config["linux"] ??= new JsonObject());
        linux["cgroupsPath"] = $"/husk-e2e-proc/{id}";
    }

    /// <summary>
    /// After a failed create: the id is not listed, no state directory, no cgroup directory (see
    /// <see cref="UseTestCgroup"/>) in any hierarchy, and no process in such a cgroup or running
    /// with <paramref name="marker"/> in its command line.
    /// </summary>
    public static void AssertNothingLeft(TestRoot root, string id, string? marker = null)
    {
        Assert.DoesNotContain(id, root.ListIds());
        Assert.False(Directory.Exists(Path.Combine(root.Path, id)), $"state directory {id} left behind");
        foreach (var h in Directory.EnumerateDirectories("/sys/fs/cgroup"))
        {
            string dir = Path.Combine(h, "husk-e2e-proc", id);
            Assert.False(Directory.Exists(dir), $"cgroup {dir} left behind");
        }
        foreach (var p in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(p), out _)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(p, "stat")).Contains(") Z ")) continue; // zombies (nobody reaps here)
                string cg = File.ReadAllText(Path.Combine(p, "cgroup"));
                Assert.False(cg.Contains("/husk-e2e-proc/" + id), $"process {p} left in the container's cgroup");
                if (marker != null)
                {
                    string cmd = File.ReadAllText(Path.Combine(p, "cmdline")).Replace('\0', ' ');
                    Assert.False(cmd.Contains(marker), $"process {p} ({cmd}) left running");
                }
            }
            catch (IOException) { } // gone meanwhile
        }
    }
}
