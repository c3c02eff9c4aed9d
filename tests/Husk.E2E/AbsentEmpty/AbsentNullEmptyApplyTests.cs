using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Xunit;

namespace Husk.E2E.AbsentEmpty;

/// <summary>
/// The product rule "absent == null == empty", applied for real: for each collection of the
/// spec that a container can carry, a container is run three times with that field absent,
/// <c>null</c> and empty, and what it sees (credentials, capabilities, limits, environment,
/// mounts, devices, hostname, exit code, errors) must be identical.
/// </summary>
public partial class AbsentNullEmptyApplyTests
{
    /// <summary>What a container prints about itself: everything the collections below can change.</summary>
    const string Fingerprint =
        "grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp:)' /proc/self/status; ulimit -n; umask; env | sort; hostname; " +
        "awk '{print $5, $6, $9, $10}' /proc/self/mountinfo | sort; ls -l /dev | awk '{print $1, $5, $6, $10}'; " +
        "cat /proc/sys/net/ipv4/ip_forward; ls /proc/self/fd | wc -l";

    public static TheoryData<string> CollectionFields => new()
    {
        "/annotations", "/mounts", "/process/env", "/process/rlimits", "/process/user/additionalGids",
        "/process/capabilities/bounding", "/process/capabilities/effective", "/process/capabilities/inheritable",
        "/process/capabilities/permitted", "/process/capabilities/ambient",
        "/linux/sysctl", "/linux/maskedPaths", "/linux/readonlyPaths", "/linux/devices",
        "/linux/uidMappings", "/linux/gidMappings", "/linux/namespaces", "/linux/timeOffsets",
        "/hooks/prestart", "/hooks/createRuntime", "/hooks/createContainer", "/hooks/startContainer",
        "/hooks/poststart", "/hooks/poststop",
    };

    [Theory]
    [MemberData(nameof(CollectionFields))]
    public void Absent_null_and_empty_run_the_same_container(string pointer)
    {
        using var root = new TestRoot();
        var outputs = new List<string>();
        foreach (var variant in new[] { "absent", "null", "empty" })
        {
            using var bundle = new Bundle();
            bundle.SetScript(Fingerprint);
            var (parent, key) = Locate(bundle.Config, pointer);
            var isMap = pointer is "/annotations" or "/linux/sysctl" or "/linux/timeOffsets";
            switch (variant)
            {
                case "absent": parent.Remove(key); break;
                case "null": parent[key] = null; break;
                default: parent[key] = isMap ? new JsonObject() : new JsonArray(); break;
            }
            bundle.Save();
            var id = root.NewId();
            var r = root.Run("run", "--bundle", bundle.Dir, id);
            // The container's identity may appear in errors; nothing else may differ.
            outputs.Add($"exit={r.ExitCode}\n{r.Stdout}\n{r.Stderr.Replace(id, "ID").Replace(bundle.Dir, "BUNDLE")}");
        }
        Assert.True(outputs[0] == outputs[1], $"{pointer}: absent and null differ:\n--- absent\n{outputs[0]}\n--- null\n{outputs[1]}");
        Assert.True(outputs[0] == outputs[2], $"{pointer}: absent and empty differ:\n--- absent\n{outputs[0]}\n--- empty\n{outputs[2]}");
        Assert.Empty(root.ListIds());
    }

    /// <summary>The parent object of a JSON pointer and the last key, creating parents that are absent.</summary>
    static (JsonObject Parent, string Key) Locate(JsonObject config, string pointer)
    {
        var parts = pointer.Trim('/').Split('/');
        var node = config;
        foreach (var p in parts[..^1])
        {
            if (node[p] is not JsonObject next) node[p] = next = new JsonObject();
            node = next;
        }
        return (node, parts[^1]);
    }
}
