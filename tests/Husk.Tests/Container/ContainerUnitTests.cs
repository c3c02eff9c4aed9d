using System.Buffers.Binary;
using System.Text;
using Husk.Container;
using Husk.Linux;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Container;

public class ProcFsTests
{
    [Fact]
    public void Stat_fields_are_counted_after_the_last_parenthesis()
    {
        var line = "1234 (we ird) name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000000 200 18446744073709551615";
        Assert.Equal(('S', 987654UL), ProcFs.ParseStat(line));
    }

    [Fact]
    public void Garbage_is_not_a_stat_line() => Assert.Null(ProcFs.ParseStat("nonsense"));

    [Fact]
    public void The_test_process_is_alive_and_a_wrong_start_time_is_not_it()
    {
        var st = ProcFs.Stat(Environment.ProcessId)!.Value;
        Assert.True(ProcFs.IsAlive(Environment.ProcessId, st.StartTime));
        Assert.False(ProcFs.IsAlive(Environment.ProcessId, st.StartTime + 1));
        Assert.False(ProcFs.IsAlive(0, 0));
    }
}

public class SignalTests
{
    [Theory]
    [InlineData("KILL", 9), InlineData("SIGKILL", 9), InlineData("9", 9), InlineData("term", 15),
     InlineData("SIGUSR1", 10), InlineData("RTMIN+2", 36), InlineData("SIGRTMAX", 64), InlineData("WINCH", 28), InlineData("0", 0)]
    public void Names_and_numbers_parse(string text, int expected) => Assert.Equal(expected, Signals.Parse(text));

    [Theory]
    [InlineData("NOPE"), InlineData("65"), InlineData("-1"), InlineData("RTMIN+99")]
    public void Bad_signals_are_one_clear_error(string text) =>
        Assert.Contains("signal", Assert.Throws<HuskException>(() => Signals.Parse(text)).Message);
}

public class NamespacePlanTests
{
    static Husk.Spec.Spec WithNamespaces(params (string Type, string? Path)[] ns)
    {
        var spec = new Husk.Spec.Spec { Linux = new Husk.Spec.Linux() };
        foreach (var (t, p) in ns) spec.Linux.Namespaces.Add(new LinuxNamespace { Type = t, Path = p });
        return spec;
    }

    [Fact]
    public void New_namespaces_become_clone_flags_and_paths_become_joins()
    {
        var plan = NamespacePlan.From(WithNamespaces(("pid", null), ("mount", ""), ("network", "/proc/1/ns/net"), ("user", null)));
        Assert.Equal(NamespaceKinds.CLONE_NEWPID | NamespaceKinds.CLONE_NEWNS | NamespaceKinds.CLONE_NEWUSER, plan.CloneFlags);
        Assert.Equal([(NamespaceKinds.CLONE_NEWNET, "/proc/1/ns/net")], plan.Joins);
        Assert.True(plan.HasUserNamespace);
        Assert.True(plan.JoinsExisting(NamespaceKind.Network));
        Assert.False(plan.Creates(NamespaceKind.Network));
    }

    [Fact]
    public void No_linux_section_means_no_namespaces()
    {
        var plan = NamespacePlan.From(new Husk.Spec.Spec());
        Assert.Equal(0u, plan.CloneFlags);
        Assert.Empty(plan.Joins);
    }

    [Fact]
    public void The_namespace_table_has_each_kind_once_in_enum_order_with_its_own_flag()
    {
        Assert.Equal(Enum.GetValues<NamespaceKind>(), NamespaceKinds.All.Select(e => e.Kind));
        Assert.Equal(NamespaceKinds.All.Count, NamespaceKinds.All.Select(e => e.CloneFlag).Distinct().Count());
        Assert.All(NamespaceKinds.All, e => Assert.Equal(e.Kind, NamespaceKinds.Find(e.SpecName)!.Kind));
        Assert.Null(NamespaceKinds.Find("net"));   // the /proc name is not the spec's
        Assert.Equal(NamespaceKind.Network, new LinuxNamespace { Type = "network" }.Kind);
    }
}

public class BootstrapTests
{
    [Fact]
    public void Records_are_type_length_payload_little_endian()
    {
        var bytes = new InitChannel.BootstrapBuilder()
            .AddUInt32(BootstrapRecord.CloneFlags, 0x20000)
            .AddNamespacePath(NamespaceKinds.CLONE_NEWNET, "/x")
            .ToArray();
        Assert.Equal((ushort)BootstrapRecord.CloneFlags, BinaryPrimitives.ReadUInt16LittleEndian(bytes));
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4)));
        Assert.Equal(0x20000u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
        var rec2 = bytes.AsSpan(12);
        Assert.Equal((ushort)BootstrapRecord.NamespacePath, BinaryPrimitives.ReadUInt16LittleEndian(rec2));
        Assert.Equal(4u + 3u, BinaryPrimitives.ReadUInt32LittleEndian(rec2[4..]));
        Assert.Equal(NamespaceKinds.CLONE_NEWNET, BinaryPrimitives.ReadUInt32LittleEndian(rec2[8..]));
        Assert.Equal("/x\0", Encoding.UTF8.GetString(rec2[12..15]));
    }

    [Fact]
    public void Id_mappings_are_written_one_line_each() =>
        Assert.Equal("0 100000 65536\n1 2 3\n", UserNamespace.FormatMappings(
        [
            new LinuxIDMapping { ContainerID = 0, HostID = 100000, Size = 65536 },
            new LinuxIDMapping { ContainerID = 1, HostID = 2, Size = 3 },
        ]));
}

public sealed class StateStoreTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("husk-store-").FullName;
    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData(""), InlineData("."), InlineData(".."), InlineData("a/b"), InlineData("../x"), InlineData("-x"), InlineData("a b"),
     InlineData("abc\n"), InlineData("ab\u00e9"), InlineData("a\0")]
    public void Bad_ids_are_refused(string id) => Assert.Throws<HuskException>(() => StateStore.ValidateId(id));

    [Theory]
    [InlineData("abc"), InlineData("a.b-c_d+e"), InlineData("0123456789abcdef")]
    public void Good_ids_are_accepted(string id) => StateStore.ValidateId(id);

    [Fact]
    public void A_second_create_of_one_id_fails_clearly()
    {
        var store = new StateStore(_root);
        using (store.CreateDirectory("c1"))
        {
            var e = Assert.Throws<HuskException>(() => store.CreateDirectory("c1"));
            Assert.Equal("container with id \"c1\" already exists", e.Message);
        }
    }

    [Fact]
    public void A_locked_container_cannot_be_try_locked()
    {
        var store = new StateStore(_root);
        using var held = store.CreateDirectory("c2");
        Assert.Null(store.TryLock("c2"));
        held.Dispose();
        using var again = store.TryLock("c2");
        Assert.NotNull(again);
    }

    [Fact]
    public void Records_round_trip_and_a_corrupt_one_says_how_to_remove_it()
    {
        var store = new StateStore(_root);
        using (store.CreateDirectory("c3")) { }
        var r = new ContainerRecord { Id = "c3", Bundle = "/b", Pid = 42, PidStartTime = 7, CreateFinished = true };
        r.Annotations["k"] = "v";
        store.WriteRecord(r);
        var back = store.ReadRecord("c3")!;
        Assert.Equal((42, 7UL, true, "v"), (back.Pid, back.PidStartTime, back.CreateFinished, back.Annotations["k"]));

        File.WriteAllText(Path.Combine(store.DirOf("c3"), StateStore.StateFile), "{\"id\": ");
        var e = Assert.Throws<HuskException>(() => store.ReadRecord("c3"));
        Assert.Contains("corrupt state file", e.Message);
        Assert.Contains("delete --force c3", e.Message);
    }

    [Fact]
    public void Absent_null_and_empty_annotations_read_the_same()
    {
        var store = new StateStore(_root);
        using (store.CreateDirectory("c4")) { }
        var file = Path.Combine(store.DirOf("c4"), StateStore.StateFile);
        foreach (var ann in new[] { "", ",\"annotations\":null", ",\"annotations\":{}" })
        {
            File.WriteAllText(file, "{\"id\":\"c4\"" + ann + "}");
            Assert.Empty(store.ReadRecord("c4")!.Annotations);
        }
    }

    [Fact]
    public void A_dead_or_unfinished_container_is_stopped_and_a_finished_live_one_is_created_or_running()
    {
        var store = new StateStore(_root);
        using (store.CreateDirectory("c5")) { }
        var self = ProcFs.Stat(Environment.ProcessId)!.Value;
        var r = new ContainerRecord { Id = "c5", Pid = Environment.ProcessId, PidStartTime = self.StartTime };
        Assert.Equal(ContainerStatus.Stopped, ContainerStatus.Of(store, r, createInProgress: false));
        Assert.Equal(ContainerStatus.Creating, ContainerStatus.Of(store, r, createInProgress: true));
        r.CreateFinished = true;
        Assert.Equal(ContainerStatus.Running, ContainerStatus.Of(store, r, createInProgress: false));
        File.WriteAllText(Path.Combine(store.DirOf("c5"), StateStore.ExecFifo), "");
        Assert.Equal(ContainerStatus.Created, ContainerStatus.Of(store, r, createInProgress: false));
        r.PidStartTime++;
        Assert.Equal(ContainerStatus.Stopped, ContainerStatus.Of(store, r, createInProgress: false));
    }
}
