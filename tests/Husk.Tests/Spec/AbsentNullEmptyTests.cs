using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;
using Husk.Spec;
using Husk.Spec.Json;
using Xunit;
using HSpec = Husk.Spec.Spec;

namespace Husk.Tests.Spec;

/// <summary>
/// The product rule: for every collection-typed field reachable from Spec, Process and State,
/// a document where it is absent, null or empty loads as an empty (non-null) collection,
/// validates identically and serializes byte for byte the same.
/// </summary>
public class AbsentNullEmptyTests
{
    /// <summary>A spec with every object present and every collection non-empty (and valid where it can be).</summary>
    public const string FullSpec = """
    {
      "ociVersion": "1.2.0",
      "process": {
        "terminal": true, "consoleSize": {"height": 24, "width": 80},
        "user": {"uid": 0, "gid": 0, "umask": 18, "additionalGids": [1, 2], "username": "root"},
        "args": ["sh", "-c", "true"], "env": ["PATH=/bin", "A=b"], "cwd": "/",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "inheritable": ["CAP_KILL"], "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": true, "oomScoreAdj": 10,
        "scheduler": {"policy": "SCHED_OTHER", "nice": 1, "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
        "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
        "execCPUAffinity": {"initial": "0", "final": "0-1"}
      },
      "root": {"path": "rootfs", "readonly": true},
      "hostname": "h", "domainname": "d",
      "mounts": [
        {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "idmap"],
         "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]},
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]}
      ],
      "hooks": {
        "prestart": [{"path": "/bin/true", "args": ["true"], "env": ["A=b"], "timeout": 5}],
        "createRuntime": [{"path": "/bin/true", "args": ["true"], "env": ["A=b"]}],
        "createContainer": [{"path": "/bin/true", "args": ["true"], "env": ["A=b"]}],
        "startContainer": [{"path": "/bin/true", "args": ["true"], "env": ["A=b"]}],
        "poststart": [{"path": "/bin/true", "args": ["true"], "env": ["A=b"]}],
        "poststop": [{"path": "/bin/true", "args": ["true"], "env": ["A=b"]}]
      },
      "annotations": {"a": "b", "cdi.k8s.io/vfio0": "nvidia.com/gpu=0"},
      "linux": {
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"},
        "resources": {
          "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
          "memory": {"limit": 1073741824, "swap": 2147483648, "swappiness": 10},
          "cpu": {"shares": 1024, "quota": 100000, "period": 100000, "cpus": "0-1", "mems": "0"},
          "pids": {"limit": 100},
          "blockIO": {
            "weight": 500,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 1000}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 1000}]
          },
          "hugepageLimits": [{"pageSize": "2MB", "limit": 1048576}],
          "network": {"classID": 1, "priorities": [{"name": "eth0", "priority": 1}]},
          "rdma": {"mlx5_0": {"hcaHandles": 1, "hcaObjects": 2}},
          "unified": {"memory.high": "1000000"}
        },
        "cgroupsPath": "/husk/test",
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}, {"type": "cgroup"}, {"type": "time"}],
        "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}],
        "netDevices": {"eth1": {"name": "eth9"}},
        "seccomp": {
          "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
          "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
          "listenerPath": "/run/seccomp.sock", "listenerMetadata": "m",
          "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
                       {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        },
        "rootfsPropagation": "rprivate",
        "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
        "mountLabel": "",
        "intelRdt": {"closID": "c"},
        "memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]},
        "personality": {"domain": "LINUX", "flags": ["NONE_DEFINED"]},
        "timeOffsets": {"monotonic": {"secs": 1, "nanosecs": 2}, "boottime": {"secs": 3}}
      }
    }
    """;

    public const string FullState = """
    {"ociVersion": "1.2.0", "id": "c", "pid": 1, "status": "running", "bundle": "/b", "rootfs": "/b/rootfs",
     "created": "2026-01-01T00:00:00Z", "annotations": {"a": "b"}, "owner": ""}
    """;

    public static readonly string FullProcess = JsonNode.Parse(FullSpec)!["process"]!.ToJsonString();

    /// <summary>Every collection-typed property reachable from <paramref name="root"/>, as a JSON pointer.</summary>
    public static IEnumerable<string> CollectionPaths(Type root, JsonNode baseDoc)
    {
        var result = new List<string>();
        Walk(root, baseDoc, "", result, 0);
        return result;
    }

    /// <summary>The JSON shape of a model class (its static Shape table); null for other types.</summary>
    public static IJsonShape? ShapeOf(Type t) => t.GetField("Shape", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) as IJsonShape;

    private static void Walk(Type t, JsonNode? node, string path, List<string> result, int depth)
    {
        Assert.True(depth < 10, $"model too deep at {path}");
        var shape = ShapeOf(t);
        Assert.False(shape is null, $"{t.Name} has no JSON shape");
        foreach (var member in shape!.Members)
        {
            var name = member.Name;
            var pt = member.ValueType;
            string childPath = $"{path}/{name}";
            JsonNode? child = (node as JsonObject)?[name!];
            if (typeof(ICollection).IsAssignableFrom(pt))
            {
                result.Add(childPath);
                Assert.False(child is null, $"the base document lacks a non-empty {childPath}; add one so the test covers what is under it");
                var args = pt.GetGenericArguments();
                var elem = args[^1];
                if (IsModel(elem))
                {
                    if (child is JsonArray arr) Walk(elem, arr[0], childPath + "/0", result, depth + 1);
                    else if (child is JsonObject obj)
                    {
                        var first = obj.First();
                        Walk(elem, first.Value, childPath + "/" + ErrorText.EscapePointer(first.Key), result, depth + 1);
                    }
                }
            }
            else if (IsModel(pt))
            {
                Assert.False(child is null, $"the base document lacks {childPath}");
                Walk(pt, child, childPath, result, depth + 1);
            }
        }
    }

    private static bool IsModel(Type t) => t.IsClass && t != typeof(string) && t.Namespace == typeof(HSpec).Namespace;

    public static TheoryData<string> SpecPaths() => [.. CollectionPaths(typeof(HSpec), JsonNode.Parse(FullSpec)!)];
    public static TheoryData<string> ProcessPaths() => [.. CollectionPaths(typeof(Process), JsonNode.Parse(FullProcess)!)];
    public static TheoryData<string> StatePaths() => [.. CollectionPaths(typeof(State), JsonNode.Parse(FullState)!)];

    private static string[] Pointer(string path) =>
        path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(t => t.Replace("~1", "/").Replace("~0", "~")).ToArray();

    /// <summary>The three documents: the field absent, null and empty.</summary>
    private static string[] Variants(string baseJson, string path)
    {
        var tokens = Pointer(path);
        var docs = new string[3];
        for (int v = 0; v < 3; v++)
        {
            var doc = JsonNode.Parse(baseJson)!;
            JsonNode parent = doc;
            foreach (var tok in tokens[..^1])
                parent = parent is JsonArray a ? a[int.Parse(tok)]! : parent[tok]!;
            var obj = (JsonObject)parent;
            var leaf = tokens[^1];
            bool isArray = obj[leaf] is JsonArray;
            obj.Remove(leaf);
            if (v == 1) obj[leaf] = null;
            if (v == 2) obj[leaf] = isArray ? new JsonArray() : new JsonObject();
            docs[v] = doc.ToJsonString();
        }
        return docs;
    }

    /// <summary>Follows <paramref name="path"/> through the loaded object with reflection.</summary>
    private static object? Navigate(object root, string path)
    {
        object? cur = root;
        foreach (var tok in Pointer(path))
        {
            Assert.NotNull(cur);
            if (cur is IList list) { cur = list[int.Parse(tok)]; continue; }
            if (cur is IDictionary dict) { cur = dict[tok]; continue; }
            cur = ShapeOf(cur!.GetType())!.Members.Single(m => m.Name == tok).GetValue(cur);
        }
        return cur;
    }

    [Fact]
    public void PathsAreEnumerated()
    {
        var paths = CollectionPaths(typeof(HSpec), JsonNode.Parse(FullSpec)!).ToList();
        Assert.Contains("/linux/sysctl", paths);
        Assert.Contains("/annotations", paths);
        Assert.Contains("/linux/resources/blockIO/throttleWriteIOPSDevice", paths);
        Assert.Contains("/linux/seccomp/syscalls/0/args", paths);
        Assert.Contains("/hooks/poststop/0/env", paths);
        Assert.True(paths.Count > 50, paths.Count.ToString());
    }

    [Fact]
    public void FullSpec_LoadsAndRoundTrips()
    {
        var s = SpecJson.Parse(FullSpec);
        var once = SpecJson.Serialize(s);
        Assert.Equal(once, SpecJson.Serialize(SpecJson.Parse(once)));
        // Valid except the personality flag (none are defined) and the unset rootfs.
        Assert.Equal(["/linux/personality/flags/0: unknown personality flag \"NONE_DEFINED\""],
            SpecValidator.Validate(s, null).Select(e => e.ToString()));
    }

    [Theory]
    [MemberData(nameof(SpecPaths))]
    public void Spec_AbsentNullEmpty_AreTheSame(string path)
    {
        var docs = Variants(FullSpec, path);
        var specs = docs.Select(d => SpecJson.Parse(d)).ToArray();
        foreach (var s in specs)
        {
            var c = Navigate(s, path);
            Assert.NotNull(c);
            Assert.Empty((ICollection)c!);
        }
        var validations = specs.Select(s => string.Join("\n", SpecValidator.Validate(s, null))).ToArray();
        Assert.Equal(validations[0], validations[1]);
        Assert.Equal(validations[0], validations[2]);
        var bytes = specs.Select(s => SpecJson.SerializeToUtf8(s)).ToArray();
        Assert.Equal(bytes[0], bytes[1]);
        Assert.Equal(bytes[0], bytes[2]);
        var indented = specs.Select(s => SpecJson.Serialize(s, true)).ToArray();
        Assert.Equal(indented[0], indented[1]);
        Assert.Equal(indented[0], indented[2]);
        // And the field is omitted, so what we print has no "empty" spelling at all.
        Assert.Equal(bytes[0], SpecJson.SerializeToUtf8(SpecJson.Parse(bytes[0])));
    }

    [Theory]
    [MemberData(nameof(ProcessPaths))]
    public void Process_AbsentNullEmpty_AreTheSame(string path)
    {
        var docs = Variants(FullProcess, path);
        var ps = docs.Select(d => SpecJson.ParseProcess(d)).ToArray();
        foreach (var p in ps)
        {
            var c = Navigate(p, path);
            Assert.NotNull(c);
            Assert.Empty((ICollection)c!);
        }
        var asSpecs = ps.Select(p => { var s = DefaultSpec.Create(false); s.Process = p; return s; }).ToArray();
        var validations = asSpecs.Select(s => string.Join("\n", SpecValidator.Validate(s, null))).ToArray();
        Assert.Equal(validations[0], validations[1]);
        Assert.Equal(validations[0], validations[2]);
        var texts = ps.Select(p => SpecJson.Serialize(p)).ToArray();
        Assert.Equal(texts[0], texts[1]);
        Assert.Equal(texts[0], texts[2]);
    }

    [Theory]
    [MemberData(nameof(StatePaths))]
    public void State_AbsentNullEmpty_AreTheSame(string path)
    {
        var docs = Variants(FullState, path);
        var st = docs.Select(d => SpecJson.ParseState(d)).ToArray();
        foreach (var s in st)
        {
            var c = Navigate(s, path);
            Assert.NotNull(c);
            Assert.Empty((ICollection)c!);
        }
        var bytes = st.Select(s => SpecJson.SerializeToUtf8(s)).ToArray();
        Assert.Equal(bytes[0], bytes[1]);
        Assert.Equal(bytes[0], bytes[2]);
    }
}
