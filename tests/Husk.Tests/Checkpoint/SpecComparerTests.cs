using System.Collections;
using System.Text.Json.Nodes;
using Husk.Checkpoint;
using Husk.Spec;
using Xunit;
using HSpec = Husk.Spec.Spec;

namespace Husk.Tests.Checkpoint;

/// <summary>
/// The restore-compatibility comparison over the whole spec model. The cases are generated from
/// a rich spec (every field of the model set, <see cref="Rich_spec_sets_every_field_of_the_model"/>)
/// and the rule table: every leaf changed alone is either allowed (the rule says so) or reported
/// with its JSON pointer and both values; every member removed alone likewise.
/// </summary>
public class SpecComparerTests
{
    /// <summary>Every field of the model with a value that serialises (non-default where defaults are omitted).</summary>
    public const string RichSpec = """
    {
      "ociVersion": "1.2.0",
      "process": {
        "terminal": true, "consoleSize": {"height": 24, "width": 80},
        "user": {"uid": 1, "gid": 2, "umask": 18, "additionalGids": [3, 4], "username": "u"},
        "args": ["sh", "-c", "true"], "commandLine": "sh -c true", "env": ["PATH=/bin", "A=b"], "cwd": "/w",
        "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL", "CAP_CHOWN"], "inheritable": ["CAP_KILL", "CAP_CHOWN"],
                         "permitted": ["CAP_KILL", "CAP_CHOWN"], "ambient": ["CAP_KILL", "CAP_CHOWN"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}, {"type": "RLIMIT_CORE", "hard": 7, "soft": 6}],
        "noNewPrivileges": true, "apparmorProfile": "aa", "oomScoreAdj": 10,
        "scheduler": {"policy": "SCHED_DEADLINE", "nice": 1, "priority": 2, "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM"],
                      "runtime": 3, "deadline": 4, "period": 5},
        "selinuxLabel": "sl",
        "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
        "execCPUAffinity": {"initial": "0", "final": "0-1"}
      },
      "root": {"path": "rootfs", "readonly": true},
      "hostname": "h", "domainname": "d",
      "mounts": [
        {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "ro"],
         "uidMappings": [{"containerID": 1, "hostID": 1000, "size": 2}], "gidMappings": [{"containerID": 1, "hostID": 1000, "size": 2}]},
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec"]}
      ],
      "hooks": {
        "prestart": [{"path": "/bin/a", "args": ["a", "1"], "env": ["X=1"], "timeout": 5}],
        "createRuntime": [{"path": "/bin/b", "args": ["b"], "env": ["X=2"], "timeout": 6}],
        "createContainer": [{"path": "/bin/c", "args": ["c"], "env": ["X=3"], "timeout": 7}],
        "startContainer": [{"path": "/bin/d", "args": ["d"], "env": ["X=4"], "timeout": 8}],
        "poststart": [{"path": "/bin/e", "args": ["e"], "env": ["X=5"], "timeout": 9}],
        "poststop": [{"path": "/bin/f", "args": ["f"], "env": ["X=6"], "timeout": 10}]
      },
      "annotations": {"com.example.a": "1", "org.husk.test": "x"},
      "linux": {
        "uidMappings": [{"containerID": 1, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 1, "hostID": 100000, "size": 65536}],
        "sysctl": {"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"},
        "resources": {
          "devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
          "memory": {"limit": 1000, "reservation": 900, "swap": 2000, "kernel": 10, "kernelTCP": 11, "swappiness": 12,
                     "disableOOMKiller": true, "useHierarchy": true, "checkBeforeUpdate": true},
          "cpu": {"shares": 1024, "quota": 1000, "burst": 10, "period": 100000, "realtimeRuntime": 1, "realtimePeriod": 2,
                  "cpus": "0-1", "mems": "0", "idle": 1},
          "pids": {"limit": 100},
          "blockIO": {"weight": 10, "leafWeight": 11,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 12, "leafWeight": 13}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 1, "rate": 14}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 2, "rate": 15}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 3, "rate": 16}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 4, "rate": 17}]},
          "hugepageLimits": [{"pageSize": "2MB", "limit": 18}],
          "network": {"classID": 19, "priorities": [{"name": "eth0", "priority": 20}]},
          "rdma": {"mlx5_0": {"hcaHandles": 21, "hcaObjects": 22}},
          "unified": {"memory.high": "23"}
        },
        "cgroupsPath": "/c/p",
        "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/a"}, {"type": "mount"}],
        "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 5, "gid": 6},
                    {"path": "/dev/kvm", "type": "c", "major": 10, "minor": 232, "fileMode": 432, "uid": 7, "gid": 8}],
        "netDevices": {"eth1": {"name": "net1"}},
        "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                    "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], "listenerPath": "/run/l", "listenerMetadata": "m",
                    "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "errnoRet": 2,
                                  "args": [{"index": 1, "value": 2, "valueTwo": 3, "op": "SCMP_CMP_EQ"}]}]},
        "rootfsPropagation": "rslave",
        "maskedPaths": ["/proc/kcore", "/proc/keys"],
        "readonlyPaths": ["/proc/sys", "/proc/bus"],
        "mountLabel": "ml",
        "intelRdt": {"closID": "c", "l3CacheSchema": "L3:0=f", "memBwSchema": "MB:0=50", "enableCMT": true, "enableMBM": true},
        "memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]},
        "personality": {"domain": "LINUX32", "flags": ["a", "b"]},
        "timeOffsets": {"monotonic": {"secs": 1, "nanosecs": 2}, "boottime": {"secs": 3, "nanosecs": 4}}
      }
    }
    """;

    static HSpec Parse(string json) => SpecJson.Parse(json);
    static JsonNode Rich() => SpecComparer.Normalize(Parse(RichSpec))!;
    static SpecComparison Compare(JsonNode a, JsonNode b) =>
        SpecComparer.Compare(SpecComparer.Normalize(Parse(a.ToJsonString())), SpecComparer.Normalize(Parse(b.ToJsonString())));

    // ---- the generated cases ----

    /// <summary>Every leaf of the rich spec: (pointer, segments).</summary>
    public static IEnumerable<object[]> Leaves() => Walk(Rich(), []).Where(x => x.Node is JsonValue).Select(x => new object[] { SpecComparer.Pointer(x.Path) });

    /// <summary>Every object member of the rich spec (removable alone).</summary>
    public static IEnumerable<object[]> Members() => Walk(Rich(), []).Where(x => x.Path.Count > 0 && x.Parent is JsonObject).Select(x => new object[] { SpecComparer.Pointer(x.Path) });

    static IEnumerable<(List<string> Path, JsonNode? Node, JsonNode? Parent)> Walk(JsonNode? node, List<string> path, JsonNode? parent = null)
    {
        yield return (path, node, parent);
        if (node is JsonObject o)
            foreach (var (k, v) in o) foreach (var x in Walk(v, [.. path, k], o)) yield return x;
        if (node is JsonArray a)
            for (int i = 0; i < a.Count; i++) foreach (var x in Walk(a[i], [.. path, i.ToString()], a)) yield return x;
    }

    static List<string> Segments(string pointer) => pointer[1..].Split('/').Select(s => s.Replace("~1", "/").Replace("~0", "~")).ToList();

    static JsonNode Locate(JsonNode root, List<string> segs)
    {
        JsonNode n = root;
        foreach (var s in segs) n = n is JsonArray a ? a[int.Parse(s)]! : n[s]!;
        return n;
    }

    /// <summary>Where the comparison reports a change at <paramref name="segs"/>: at the governing unordered list, else the path itself.</summary>
    static (RuleKind Kind, string Reported) Expected(List<string> segs)
    {
        for (int len = 1; len <= segs.Count; len++)
        {
            var (rule, depth) = CompatibilityRules.Find(segs.Take(len).ToList());
            if (rule.Kind == RuleKind.Allowed) return (RuleKind.Allowed, SpecComparer.Pointer(segs.Take(len)));
            if (rule.Kind == RuleKind.Unordered && depth == len) return (RuleKind.Unordered, SpecComparer.Pointer(segs.Take(len)));
        }
        return (RuleKind.Strict, SpecComparer.Pointer(segs));
    }

    [Theory]
    [MemberData(nameof(Leaves))]
    public void Each_leaf_changed_alone_is_reported_with_its_path_or_allowed(string pointer)
    {
        var segs = Segments(pointer);
        var baseSpec = Rich();
        var changed = Rich();
        var leaf = (JsonValue)Locate(changed, segs);
        JsonNode replacement = leaf.GetValueKind() switch
        {
            System.Text.Json.JsonValueKind.String => JsonValue.Create(leaf.GetValue<string>() + "x"),
            System.Text.Json.JsonValueKind.Number => JsonValue.Create(leaf.GetValue<long>() + 1),
            System.Text.Json.JsonValueKind.True => JsonValue.Create(false),
            System.Text.Json.JsonValueKind.False => JsonValue.Create(true),
            _ => throw new InvalidOperationException(pointer),
        };
        leaf.ReplaceWith(replacement);
        // The changed document must still be a spec (and keep the change through the model).
        var cmp = Compare(baseSpec, changed);
        var (kind, reported) = Expected(segs);
        if (kind == RuleKind.Allowed)
        {
            Assert.True(cmp.Compatible, $"{pointer} may change, but: {cmp.ErrorMessage()}");
            Assert.Contains(cmp.Differences, d => d.Allowed && d.Path == reported);
            return;
        }
        Assert.False(cmp.Compatible, $"{pointer} changed alone was not reported");
        var bad = cmp.Incompatible;
        // A keyed list's key (namespace type, device path, rlimit type) changed: the item is gone on one side and new on the other.
        Assert.All(bad, d => Assert.True(d.Path == reported || reported.StartsWith(d.Path + "/", StringComparison.Ordinal),
            $"{pointer}: reported at {d.Path}, expected {reported}"));
        Assert.All(bad, d => Assert.NotEqual(d.Checkpointed, d.Restore));
        Assert.All(bad, d => Assert.False(string.IsNullOrWhiteSpace(d.Why)));
        if (bad.Count == 1 && bad[0].Path == pointer)
        {
            Assert.Equal(SpecComparer.Print(Locate(baseSpec, segs)), bad[0].Checkpointed);
            // false and 0 where the model omits defaults read back as absent.
            Assert.True(bad[0].Restore == SpecComparer.Print(replacement) || bad[0].Restore == SpecDifference.Absent, bad[0].ToString());
        }
    }

    [Theory]
    [MemberData(nameof(Members))]
    public void Each_member_removed_alone_is_reported_with_its_path_or_allowed(string pointer)
    {
        var segs = Segments(pointer);
        var changed = Rich();
        var parent = (JsonObject)Locate(changed, segs[..^1]);
        parent.Remove(segs[^1]);
        var cmp = Compare(Rich(), changed);
        var (kind, reported) = Expected(segs);
        // Removing a member of an item of an unordered list changes the list.
        if (kind == RuleKind.Allowed)
        {
            Assert.True(cmp.Compatible, $"{pointer} may be removed, but: {cmp.ErrorMessage()}");
            return;
        }
        Assert.False(cmp.Compatible, $"{pointer} removed alone was not reported");
        foreach (var d in cmp.Incompatible)
        {
            Assert.True(d.Path == reported || d.Path.StartsWith(reported + "/", StringComparison.Ordinal) || reported.StartsWith(d.Path + "/", StringComparison.Ordinal),
                $"{pointer}: reported at {d.Path}");
            // A removed number or boolean the model does not omit reads back as its default (uid 0, allow false).
            Assert.NotEqual(d.Checkpointed, d.Restore);
        }
    }

    [Fact]
    public void Allowed_rules_each_have_a_field_in_the_rich_spec_that_may_change()
    {
        var leaves = Leaves().Select(l => Segments((string)l[0])).ToList();
        foreach (var rule in CompatibilityRules.Table.Where(r => r.Kind != RuleKind.Strict))
            Assert.True(leaves.Any(l => l.Count >= rule.Segments.Length && CompatibilityRules.Find(l.Take(rule.Segments.Length).ToList()).Rule == rule),
                $"rule {rule.Pattern} matches nothing in the rich spec: the generated tests do not cover it");
    }

    /// <summary>The rich spec really covers the model: every JSON property of every type reachable from Spec appears in it.</summary>
    [Fact]
    public void Rich_spec_sets_every_field_of_the_model()
    {
        var missing = new List<string>();
        Cover(typeof(HSpec), Rich(), "", missing);
        Assert.True(missing.Count == 0, "the rich spec lacks: " + string.Join(", ", missing));
    }

    static void Cover(Type t, JsonNode? node, string path, List<string> missing)
    {
        if (node is null) { missing.Add(path); return; }
        if (t == typeof(string) || t.IsPrimitive || Nullable.GetUnderlyingType(t) != null) return;
        if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(List<>))
        {
            if (node is not JsonArray a || a.Count == 0) { missing.Add(path); return; }
            // A field counts as covered when any item sets it.
            HashSet<string>? notInAny = null;
            foreach (var item in a)
            {
                var m = new List<string>();
                Cover(t.GetGenericArguments()[0], item, path + "/*", m);
                if (notInAny == null) notInAny = [.. m]; else notInAny.IntersectWith(m);
            }
            missing.AddRange(notInAny!);
            return;
        }
        if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            if (node is not JsonObject d || d.Count == 0) { missing.Add(path); return; }
            var first = d.First();
            Cover(t.GetGenericArguments()[1], first.Value, path + "/" + first.Key, missing);
            return;
        }
        foreach (var member in Husk.Tests.Spec.AbsentNullEmptyTests.ShapeOf(t)!.Members)
            Cover(member.ValueType, node[member.Name], path + "/" + member.Name, missing);
    }

    // ---- absent == null == empty ----

    public static IEnumerable<object[]> AbsentNullEmptyPairs()
    {
        string[] forms = ["absent", "null", "empty"];
        foreach (var a in forms) foreach (var b in forms) yield return [a, b];
    }

    static string WithSysctl(string form) =>
        """{"ociVersion": "1.2.0", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}, "linux": {"namespaces": [{"type": "mount"}]""" +
        (form switch { "null" => ", \"sysctl\": null", "empty" => ", \"sysctl\": {}", _ => "" }) + "}}";

    static string WithAnnotations(string form) =>
        """{"ociVersion": "1.2.0", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}""" +
        (form switch { "null" => ", \"annotations\": null", "empty" => ", \"annotations\": {}", _ => "" }) + "}";

    static string WithMountOptions(string form) =>
        """{"ociVersion": "1.2.0", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}, "mounts": [{"destination": "/proc", "type": "proc", "source": "proc" """ +
        (form switch { "null" => ", \"options\": null", "empty" => ", \"options\": []", _ => "" }) + "}]}";

    [Theory]
    [MemberData(nameof(AbsentNullEmptyPairs))]
    public void Sysctl_annotations_and_mount_options_absent_null_and_empty_are_equal(string checkpointed, string restore)
    {
        foreach (var make in new Func<string, string>[] { WithSysctl, WithAnnotations, WithMountOptions })
        {
            var cmp = SpecComparer.Compare(Parse(make(checkpointed)), Parse(make(restore)));
            Assert.Empty(cmp.Differences);
            Assert.True(cmp.Compatible);
        }
    }

    [Fact]
    public void A_changed_sysctl_names_its_path_and_both_values()
    {
        var a = Parse(RichSpec);
        var b = Parse(RichSpec);
        b.Linux!.Sysctl["net.ipv4.ip_forward"] = "0";
        var cmp = SpecComparer.Compare(a, b);
        var d = Assert.Single(cmp.Differences);
        Assert.Equal("/linux/sysctl/net.ipv4.ip_forward", d.Path);
        Assert.Equal("\"1\"", d.Checkpointed);
        Assert.Equal("\"0\"", d.Restore);
        Assert.Equal("the restored processes expect this kernel setting", d.Why);
        Assert.Contains("/linux/sysctl/net.ipv4.ip_forward: checkpointed \"1\", restore \"0\"", cmp.ErrorMessage());
    }

    [Fact]
    public void A_sysctl_only_on_one_side_is_shown_as_absent_not_as_an_empty_map()
    {
        var a = Parse(WithSysctl("empty"));
        var b = Parse(WithSysctl("absent"));
        b.Linux!.Sysctl["net.ipv4.ip_forward"] = "1";
        var d = Assert.Single(SpecComparer.Compare(a, b).Differences);
        Assert.Equal("/linux/sysctl/net.ipv4.ip_forward", d.Path);
        Assert.Equal("absent", d.Checkpointed);
        Assert.Equal("\"1\"", d.Restore);
    }

    [Fact]
    public void Order_is_ignored_where_it_has_no_meaning()
    {
        var a = Rich();
        var b = Rich();
        void Reverse(string pointer)
        {
            var arr = (JsonArray)Locate(b, Segments(pointer));
            var items = arr.Select(x => x!.DeepClone()).Reverse().ToList();
            arr.Clear();
            foreach (var i in items) arr.Add(i);
        }
        foreach (var p in new[] { "/mounts/0/options", "/process/capabilities/bounding", "/process/capabilities/ambient", "/linux/namespaces",
                     "/linux/devices", "/process/rlimits", "/linux/maskedPaths", "/linux/readonlyPaths", "/process/user/additionalGids",
                     "/linux/seccomp/architectures", "/linux/seccomp/syscalls/0/names" })
            Reverse(p);
        var cmp = Compare(a, b);
        Assert.True(cmp.Compatible, cmp.ErrorMessage());
        Assert.Empty(cmp.Differences);
    }

    [Fact]
    public void Order_matters_for_mounts_args_and_hooks()
    {
        var b = Rich();
        var mounts = (JsonArray)b["mounts"]!;
        var first = mounts[0]!.DeepClone();
        mounts.RemoveAt(0);
        mounts.Add(first);
        Assert.False(Compare(Rich(), b).Compatible);
    }

    [Fact]
    public void Every_difference_is_reported_not_only_the_first()
    {
        var a = Parse(RichSpec);
        var b = Parse(RichSpec);
        b.Hostname = "other";
        b.Linux!.Sysctl["kernel.msgmax"] = "1";
        b.Process!.Args.Add("more");
        b.Root!.Path = "/elsewhere";
        b.Linux.Namespaces.First(n => n.Type == "network").Path = "/run/netns/b";
        b.Mounts[0].Source = "/other";
        b.Annotations["com.example.new"] = "v";
        b.Linux.Devices[0].Major = 99;
        b.Process.Env.Add("NEW=1");
        var cmp = SpecComparer.Compare(a, b);
        Assert.Equal(["/hostname", "/linux/sysctl/kernel.msgmax", "/process/args/3"], cmp.Incompatible.Select(d => d.Path).Order().ToArray());
        Assert.Equal(6, cmp.Differences.Count(d => d.Allowed));
        Assert.Contains("3 differences", cmp.ErrorMessage());
        Assert.Contains("incompatible: 3 differences", cmp.Report());
    }

    [Fact]
    public void Husk_annotations_must_match_others_may_change()
    {
        var a = Parse(RichSpec);
        var b = Parse(RichSpec);
        b.Annotations.Remove("com.example.a");
        Assert.True(SpecComparer.Compare(a, b).Compatible);
        b.Annotations["org.husk.test"] = "y";
        var d = Assert.Single(SpecComparer.Compare(a, b).Incompatible);
        Assert.Equal("/annotations/org.husk.test", d.Path);
    }

    [Fact]
    public void Empty_objects_and_strings_equal_absent()
    {
        var a = Parse("""{"ociVersion": "1.2.0", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "r"}}""");
        var b = Parse("""{"ociVersion": "1.2.0", "process": {"args": ["sh"], "cwd": "/", "capabilities": {}, "rlimits": null}, "root": {"path": "r"}, "hostname": "", "hooks": {"prestart": []}, "linux": {"resources": {"memory": {}}, "sysctl": {}}}""");
        Assert.Empty(SpecComparer.Compare(a, b).Differences);
    }

    [Fact]
    public void Pointer_escapes_slash_and_tilde()
    {
        Assert.Equal("/annotations/a~1b~0c", SpecComparer.Pointer(["annotations", "a/b~c"]));
        Assert.Equal("/", SpecComparer.Pointer([]));
    }
}
