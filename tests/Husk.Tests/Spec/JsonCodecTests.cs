using System.Collections;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Husk.Cgroups;
using Husk.Container;
using Husk.Container.Launch;
using Husk.Corpus;
using Husk.Spec;
using Husk.Spec.Json;
using Xunit;

namespace Husk.Tests.Spec;

/// <summary>A class with one member of every kind the codec has (nested objects in <see cref="Leaf"/>: shapes are built eagerly, so not recursive).</summary>
public sealed class Kinds
{
    public string Text { get; set => field = value ?? ""; } = "";
    public string? MaybeText { get; set; }
    public bool Flag { get; set; }
    public bool? MaybeFlag { get; set; }
    public int Int { get; set; }
    public int? MaybeInt { get; set; }
    public uint UInt { get; set; }
    public uint? MaybeUInt { get; set; }
    public long Long { get; set; }
    public long? MaybeLong { get; set; }
    public ulong ULong { get; set; }
    public ulong? MaybeULong { get; set; }
    public ushort? MaybeUShort { get; set; }
    public int Quiet { get; set; }
    public Leaf? Leaf { get; set; }
    public List<string> Strings { get; set => field = value ?? []; } = [];
    public List<uint> Numbers { get; set => field = value ?? []; } = [];
    public List<Leaf> Leaves { get; set => field = value ?? []; } = [];
    public Dictionary<string, string> Map { get; set => field = value ?? []; } = [];
    public Dictionary<string, Leaf> LeafMap { get; set => field = value ?? []; } = [];
    public List<string>? Plain { get; set; }
    public Dictionary<string, string>? PlainMap { get; set; }

    public static readonly JsonShape<Kinds> Shape = new(m =>
    [
        m.String("text", k => k.Text, (k, v) => k.Text = v),
        m.String("maybeText", k => k.MaybeText, (k, v) => k.MaybeText = v),
        m.Value("flag", k => k.Flag, (k, v) => k.Flag = v, JsonCodecs.Boolean),
        m.Value("maybeFlag", k => k.MaybeFlag, (k, v) => k.MaybeFlag = v, JsonCodecs.NullableBoolean),
        m.Value("int", k => k.Int, (k, v) => k.Int = v, JsonCodecs.Int32),
        m.Value("maybeInt", k => k.MaybeInt, (k, v) => k.MaybeInt = v, JsonCodecs.NullableInt32),
        m.Value("uint", k => k.UInt, (k, v) => k.UInt = v, JsonCodecs.UInt32),
        m.Value("maybeUInt", k => k.MaybeUInt, (k, v) => k.MaybeUInt = v, JsonCodecs.NullableUInt32),
        m.Value("long", k => k.Long, (k, v) => k.Long = v, JsonCodecs.Int64),
        m.Value("maybeLong", k => k.MaybeLong, (k, v) => k.MaybeLong = v, JsonCodecs.NullableInt64),
        m.Value("ulong", k => k.ULong, (k, v) => k.ULong = v, JsonCodecs.UInt64),
        m.Value("maybeULong", k => k.MaybeULong, (k, v) => k.MaybeULong = v, JsonCodecs.NullableUInt64),
        m.Value("maybeUShort", k => k.MaybeUShort, (k, v) => k.MaybeUShort = v, JsonCodecs.NullableUInt16),
        m.Value("quiet", k => k.Quiet, (k, v) => k.Quiet = v, JsonCodecs.Int32, omitDefault: true),
        m.Value("leaf", k => k.Leaf, (k, v) => k.Leaf = v, Leaf.Shape),
        m.List("strings", k => k.Strings, (k, v) => k.Strings = v, JsonCodecs.String),
        m.List("numbers", k => k.Numbers, (k, v) => k.Numbers = v, JsonCodecs.UInt32),
        m.List("leaves", k => k.Leaves, (k, v) => k.Leaves = v, Leaf.Shape),
        m.Map("map", k => k.Map, (k, v) => k.Map = v, JsonCodecs.String),
        m.Map("leafMap", k => k.LeafMap, (k, v) => k.LeafMap = v, Leaf.Shape),
        m.List("plain", k => k.Plain, (k, v) => k.Plain = v, JsonCodecs.String, absentNullEmpty: false),
        m.Map("plainMap", k => k.PlainMap, (k, v) => k.PlainMap = v, JsonCodecs.String, absentNullEmpty: false),
    ]);
}

public sealed class Leaf
{
    public string Name { get; set => field = value ?? ""; } = "";

    public static readonly JsonShape<Leaf> Shape = new(m => [m.String("name", l => l.Name, (l, v) => l.Name = v)]);
}

public class JsonCodecTests
{
    private static Kinds Read(string json) => Kinds.Shape.ReadDocument(Encoding.UTF8.GetBytes(json))!;

    private static string Write(Kinds k, bool indented = false) =>
        Encoding.UTF8.GetString(Kinds.Shape.WriteDocument(k, new JsonWriterOptions { Indented = indented, IndentCharacter = '\t', IndentSize = 1 }));

    private static string Error(string json) => Assert.ThrowsAny<JsonException>(() => Read(json)).Message;

    // ---- every member kind ----

    private const string Full = """
        {"text":"t","maybeText":"m","flag":true,"maybeFlag":false,"int":-2147483648,"maybeInt":2147483647,"uint":4294967295,"maybeUInt":0,"long":-9223372036854775808,"maybeLong":9223372036854775807,"ulong":18446744073709551615,"maybeULong":1,"maybeUShort":65535,"quiet":-1,"leaf":{"name":"l"},"strings":["a","b"],"numbers":[1,4294967295],"leaves":[{"name":"x"},{"name":""}],"map":{"k":"v","a/b~c":""},"leafMap":{"k":{"name":"y"}},"plain":["p"],"plainMap":{"q":"r"}}
        """;

    [Fact]
    public void Every_kind_round_trips_with_its_extremes()
    {
        var k = Read(Full);
        Assert.Equal((int.MinValue, 2147483647, uint.MaxValue, 0u), (k.Int, k.MaybeInt!.Value, k.UInt, k.MaybeUInt!.Value));
        Assert.Equal((long.MinValue, long.MaxValue, ulong.MaxValue, (ushort)65535), (k.Long, k.MaybeLong!.Value, k.ULong, k.MaybeUShort!.Value));
        Assert.Equal(("l", "y", ""), (k.Leaf!.Name, k.LeafMap["k"].Name, k.Map["a/b~c"]));
        Assert.Equal(Full, Write(k));
        Assert.Equal(Full, Write(Read(Write(k, indented: true))));
    }

    [Fact]
    public void A_copy_is_what_writing_and_reading_back_gives_and_shares_nothing()
    {
        const string withNulls = """{"strings":["a",null],"leaves":[null],"map":{"n":null},"leafMap":{"n":null},"plain":[null],"plainMap":{"n":null}}""";
        foreach (var json in new[] { Full, withNulls, "{}" })
        {
            var k = Read(json);
            var copy = Kinds.Shape.Copy(k);
            Assert.Equal(Write(Read(Write(k))), Write(copy));
            if (copy.Leaf != null) copy.Leaf.Name = "changed";
            copy.Strings.Add("added");
            copy.Map["added"] = "";
            foreach (var leaf in copy.Leaves) leaf.Name = "changed";
            Assert.Equal(Write(Read(json)), Write(k));
        }
        Assert.Null(Kinds.Shape.Copy(null!));
    }

    [Fact]
    public void A_copy_of_every_corpus_config_writes_the_same_bytes()
    {
        int copied = 0;
        foreach (var c in CorpusCases.Configs(includeGenerated: false))
        {
            Husk.Spec.Spec spec;
            try { spec = SpecJson.Parse(c.Bytes, c.Name); }
            catch (HuskException) { continue; }   // malformed on purpose: nothing to copy
            Assert.Equal(SpecJson.SerializeToUtf8(SpecJson.Parse(SpecJson.SerializeToUtf8(spec))), SpecJson.SerializeToUtf8(Husk.Spec.Spec.Shape.Copy(spec)));
            copied++;
        }
        Assert.True(copied > 20, $"only {copied} corpus configs parsed");
    }

    [Fact]
    public void Merge_replaces_what_the_changes_set_member_by_member_and_key_by_key()
    {
        var current = Read(Full);
        var changes = Read("""{"text":"","int":5,"maybeFlag":true,"leaf":{"name":"n"},"strings":["z"],"map":{"k":"","new":"w"},"leafMap":{"k":{"name":""},"j":{"name":"j"}}}""");
        var merged = Kinds.Shape.Merge(current, changes);
        Assert.Equal(("t", 5, true, "n"), (merged.Text, merged.Int, merged.MaybeFlag, merged.Leaf!.Name));   // "" sets nothing
        Assert.Equal(["z"], merged.Strings);                                                              // lists are replaced
        Assert.Equal([("k", "v"), ("a/b~c", ""), ("new", "w")], merged.Map.Select(e => (e.Key, e.Value)));
        Assert.Equal([("k", "y"), ("j", "j")], merged.LeafMap.Select(e => (e.Key, e.Value.Name)));
        Assert.Equal((false, 0u, 0L), (merged.Flag, merged.UInt, merged.Long));   // plain values are always set, as when written
        Assert.Equal((2147483647, "m"), (merged.MaybeInt!.Value, merged.MaybeText));   // null sets nothing
        Assert.Equal(Full, Write(current));                                        // the inputs are not changed
        Assert.Equal(Write(changes), Write(Kinds.Shape.Merge(null!, changes)));
    }

    /// <summary>The merge update used before the typed one: both written, merged as JSON objects, read back.</summary>
    private static string JsonTextMerge<T>(JsonShape<T> shape, T current, T changes) where T : class, new()
    {
        static void MergeInto(System.Text.Json.Nodes.JsonObject target, System.Text.Json.Nodes.JsonObject changes)
        {
            foreach (var (key, value) in changes)
            {
                if (value is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out string? text) && text.Length == 0) continue;
                if (value is System.Text.Json.Nodes.JsonObject o && target[key] is System.Text.Json.Nodes.JsonObject t) MergeInto(t, o);
                else target[key] = value?.DeepClone();
            }
        }
        var merged = System.Text.Json.Nodes.JsonNode.Parse(shape.WriteDocument(current))!.AsObject();
        MergeInto(merged, System.Text.Json.Nodes.JsonNode.Parse(shape.WriteDocument(changes))!.AsObject());
        return Encoding.UTF8.GetString(shape.WriteDocument(shape.ReadDocument(Encoding.UTF8.GetBytes(merged.ToJsonString()))!));
    }

    [Fact]
    public void Merge_gives_what_merging_the_written_json_gave_for_every_pair_of_corpus_resources()
    {
        var resources = new List<LinuxResources>();
        foreach (var c in CorpusCases.Configs(includeGenerated: false))
        {
            try { if (SpecJson.Parse(c.Bytes, c.Name).Linux?.Resources is { } r) resources.Add(r); }
            catch (HuskException) { }
        }
        Assert.True(resources.Count > 5, $"only {resources.Count} corpus configs have resources");
        foreach (var a in resources)
            foreach (var b in resources)
                Assert.Equal(JsonTextMerge(LinuxResources.Shape, a, b), SpecJson.Serialize(LinuxResources.Shape.Merge(a, b)));
        var kinds = new[] { Read(Full), Read("{}"), Read("""{"strings":["a",null],"map":{"k":null,"e":""},"leafMap":{"k":{"name":""}}}""") };
        foreach (var a in kinds)
            foreach (var b in kinds)
                Assert.Equal(JsonTextMerge(Kinds.Shape, a, b), Write(Kinds.Shape.Merge(a, b)));
    }

    [Fact]
    public void Indented_output_uses_one_tab_per_level_and_keeps_empty_containers_short()
    {
        var k = new Kinds { Leaf = new Leaf(), Plain = [], PlainMap = new() { ["a"] = "b" } };
        Assert.Equal("{\n\t\"text\": \"\",\n\t\"flag\": false,\n\t\"int\": 0,\n\t\"uint\": 0,\n\t\"long\": 0,\n\t\"ulong\": 0,\n\t\"leaf\": {\n\t\t\"name\": \"\"\n\t},\n" +
            "\t\"plain\": [],\n\t\"plainMap\": {\n\t\t\"a\": \"b\"\n\t}\n}", Write(k, indented: true));
    }

    [Fact]
    public void Nulls_and_defaults_are_omitted_and_declaration_order_is_kept()
    {
        Assert.Equal("""{"text":"","flag":false,"int":0,"uint":0,"long":0,"ulong":0}""", Write(new Kinds()));
        Assert.Equal("""{"text":"","flag":false,"int":0,"uint":0,"long":0,"ulong":0}""", Write(Read("""{"ulong":0,"quiet":0,"text":null,"maybeInt":null}""")));
    }

    [Fact]
    public void Unknown_members_are_skipped_and_names_match_in_any_case_as_in_Go()
    {
        var k = Read("""{"x":{"deep":[1,{"y":null}]},"Text":"no","TEXT":"no","text":"yes","te\u0078t2":1,"\u0066lag":true}""");
        Assert.Equal("yes", k.Text); // the last of the names that fold to "text"
        Assert.True(k.Flag); // an escaped name is the same name
        k = Read("""{"TEXT":"upper","MaybeFlag":true,"ULONG":5,"maybeU\u017Fhort":7,"Leaf":{"NAME":"n"}}""");
        Assert.Equal(("upper", true, 5UL, (ushort)7, "n"), (k.Text, k.MaybeFlag, k.ULong, k.MaybeUShort, k.Leaf!.Name));
    }

    [Theory]
    [InlineData("kind", "KIND", true)]
    [InlineData("kind", "\u212Aind", true)]     // the Kelvin sign folds to k
    [InlineData("cpus", "Cpu\u017F", true)]     // the long s folds to s
    [InlineData("cpus", "cpu\u017F\u017F", false)]
    [InlineData("classID", "classid", true)]
    [InlineData("hca_x", "HCA_X", true)]
    [InlineData("a_b", "a\u007Fb", false)]    // only letters fold: '_' | 0x20 is DEL
    [InlineData("id", "\u0130d", false)]       // no other non-ASCII letter folds to an ASCII one
    public void Names_fold_as_Go_folds_them(string name, string key, bool equal) =>
        Assert.Equal(equal, JsonShape<Kinds>.GoFoldEquals(key, name));

    [Fact]
    public void A_member_named_again_in_other_case_merges_objects_and_maps_and_replaces_the_rest()
    {
        // Go decodes into the value already there: a struct or map keeps what it had, a slice or scalar is replaced.
        var k = Read("""{"leaf":{"name":"a"},"LEAF":{"other":1},"map":{"a":"1"},"Map":{"b":"2"},"strings":["a"],"Strings":["b"],"int":1,"INT":2}""");
        Assert.Equal("a", k.Leaf!.Name);
        Assert.Equal(new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" }, k.Map);
        Assert.Equal(["b"], k.Strings);
        Assert.Equal(2, k.Int);
        Assert.Null(Read("""{"leaf":{"name":"a"},"Leaf":null}""").Leaf);
    }

    [Fact]
    public void Members_in_any_order_are_found()
    {
        var k = Read("""{"plainMap":{},"leafMap":{},"uint":3,"text":"a","ulong":5,"int":-1}""");
        Assert.Equal(("a", -1, 3u, 5UL), (k.Text, k.Int, k.UInt, k.ULong));
    }

    // ---- absent == null == empty ----

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"strings":null,"numbers":null,"leaves":null,"map":null,"leafMap":null}""")]
    [InlineData("""{"strings":[],"numbers":[],"leaves":[],"map":{},"leafMap":{}}""")]
    public void Absent_null_and_empty_collections_read_as_empty_and_are_omitted(string json)
    {
        var k = Read(json);
        Assert.Empty(k.Strings);
        Assert.Empty(k.Numbers);
        Assert.Empty(k.Leaves);
        Assert.Empty(k.Map);
        Assert.Empty(k.LeafMap);
        Assert.Equal("""{"text":"","flag":false,"int":0,"uint":0,"long":0,"ulong":0}""", Write(k));
    }

    [Fact]
    public void Null_items_read_as_zero_values()
    {
        var k = Read("""{"strings":["a",null],"leaves":[null],"map":{"k":null},"leafMap":{"k":null}}""");
        Assert.Equal(["a", ""], k.Strings);
        Assert.Equal("", Assert.Single(k.Leaves).Name);
        Assert.Equal("", k.Map["k"]);
        Assert.Equal("", k.LeafMap["k"].Name);
    }

    [Fact]
    public void Collections_without_the_rule_keep_null_null_items_and_empty()
    {
        var k = Read("""{"plain":null,"plainMap":null}""");
        Assert.Null(k.Plain);
        Assert.Null(k.PlainMap);
        k = Read("""{"plain":["a",null],"plainMap":{"k":null}}""");
        Assert.Equal(["a", null!], k.Plain!);
        Assert.Null(k.PlainMap!["k"]);
        Assert.Equal("""{"text":"","flag":false,"int":0,"uint":0,"long":0,"ulong":0,"plain":["a",null],"plainMap":{"k":null}}""", Write(k));
        Assert.EndsWith("""
        "plain":[],"plainMap":{}}
        """, Write(new Kinds { Plain = [], PlainMap = [] }));
    }

    [Fact]
    public void Null_for_a_nullable_value_or_object_reads_as_null()
    {
        var k = Read("""{"maybeText":null,"maybeFlag":null,"maybeInt":null,"maybeUInt":null,"maybeLong":null,"maybeULong":null,"maybeUShort":null,"leaf":null}""");
        Assert.True(k.MaybeText is null && k.MaybeFlag is null && k.MaybeInt is null && k.MaybeUInt is null);
        Assert.True(k.MaybeLong is null && k.MaybeULong is null && k.MaybeUShort is null && k.Leaf is null);
    }

    // ---- errors ----

    [Theory]
    [InlineData("""{"text":5}""", "/text: expected a string, got 5")]
    [InlineData("""{"flag":null}""", "/flag: expected a boolean, got null")]
    [InlineData("""{"flag":"yes"}""", "/flag: expected a boolean, got the string \"yes\"")]
    [InlineData("""{"maybeFlag":1}""", "/maybeFlag: expected a boolean, got 1")]
    [InlineData("""{"int":null}""", "/int: expected an integer (-2147483648..2147483647), got null")]
    [InlineData("""{"maybeInt":true}""", "/maybeInt: expected an integer (-2147483648..2147483647), got true")]
    [InlineData("""{"uint":-1}""", "/uint: expected an unsigned integer (0..4294967295), got -1")]
    [InlineData("""{"long":false}""", "/long: expected an integer (-9223372036854775808..9223372036854775807), got false")]
    [InlineData("""{"ulong":{}}""", "/ulong: expected an unsigned integer (0..18446744073709551615), got an object")]
    [InlineData("""{"maybeUShort":[]}""", "/maybeUShort: expected an unsigned integer (0..65535), got an array")]
    [InlineData("""{"leaf":"x"}""", "/leaf: expected an object, got the string \"x\"")]
    [InlineData("""{"leaf":{"name":1}}""", "/leaf/name: expected a string, got 1")]
    [InlineData("""{"strings":{}}""", "/strings: expected an array of strings, got an object")]
    [InlineData("""{"strings":["a",7]}""", "/strings/1: expected a string, got 7")]
    [InlineData("""{"numbers":"1"}""", "/numbers: expected an array of unsigned integers (0..4294967295), got the string \"1\"")]
    [InlineData("""{"numbers":[1,null]}""", "/numbers/1: expected an unsigned integer (0..4294967295), got null")]
    [InlineData("""{"leaves":{}}""", "/leaves: expected an array of objects, got an object")]
    [InlineData("""{"leaves":[{},[]]}""", "/leaves/1: expected an object, got an array")]
    [InlineData("""{"map":[]}""", "/map: expected an object of strings, got an array")]
    [InlineData("""{"map":{"a/b~c":1}}""", "/map/a~1b~0c: expected a string, got 1")]
    [InlineData("""{"leafMap":1}""", "/leafMap: expected an object of objects, got 1")]
    [InlineData("""{"leafMap":{"k":{"name":[]}}}""", "/leafMap/k/name: expected a string, got an array")]
    [InlineData("""{"plain":[1]}""", "/plain/0: expected a string, got 1")]
    [InlineData("[]", "/: expected an object, got an array")]
    [InlineData("\"x\"", "/: expected an object, got the string \"x\"")]
    public void Errors_name_the_pointer_what_was_expected_and_what_came(string json, string message) => Assert.Equal(message, Error(json));

    [Theory]
    [InlineData("\"" + "0123456789012345678901234567890123456789" + "\"", "the string \"0123456789012345678901234567890123456789\"")]
    [InlineData("\"" + "01234567890123456789012345678901234567890" + "\"", "a string")]
    [InlineData("\"a\\\"b\\n\\u0001\"", "the string \"a\\\"b\\n\\u0001\"")]
    [InlineData("1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890")]
    [InlineData("12345678901234567890123456789012345678901", "a number")]
    [InlineData("1e400", "1e400")]
    [InlineData("null", "null")]
    [InlineData("{}", "an object")]
    [InlineData("[]", "an array")]
    public void What_came_is_shown_briefly_on_one_line(string value, string shown) =>
        Assert.Equal($"/flag: expected a boolean, got {shown}", Error($$"""{"flag":{{value}}}"""));

    [Theory]
    [InlineData("int", "-2147483649")]
    [InlineData("int", "2147483648")]
    [InlineData("int", "1.5")]
    [InlineData("int", "1.0")]
    [InlineData("int", "1e0")]
    [InlineData("int", "\"1\"")]
    [InlineData("uint", "-1")]
    [InlineData("uint", "4294967296")]
    [InlineData("uint", "-0")]
    [InlineData("long", "-9223372036854775809")]
    [InlineData("long", "9223372036854775808")]
    [InlineData("ulong", "18446744073709551616")]
    [InlineData("ulong", "-1")]
    [InlineData("maybeUShort", "65536")]
    [InlineData("maybeUShort", "-1")]
    [InlineData("maybeUInt", "0.5")]
    [InlineData("maybeULong", "1E3")]
    public void Numbers_out_of_range_with_a_fraction_an_exponent_or_in_a_string_are_refused(string member, string value) =>
        Assert.EndsWith($"got {(value.StartsWith('"') ? "the string " + value : value)}", Error($$"""{"{{member}}":{{value}}}"""));

    [Fact]
    public void A_document_is_one_value_and_malformed_text_is_a_JsonException()
    {
        Assert.Null(Kinds.Shape.ReadDocument("null"u8));
        Assert.ThrowsAny<JsonException>(() => Kinds.Shape.ReadDocument("{} {}"u8));
        Assert.ThrowsAny<JsonException>(() => Kinds.Shape.ReadDocument(""u8));
        Assert.ThrowsAny<JsonException>(() => Kinds.Shape.ReadDocument("{\"text\":"u8));
        // Invalid UTF-8 inside a string (only SpecJson checks UTF-8 first).
        Assert.ThrowsAny<JsonException>(() => Kinds.Shape.ReadDocument([.. "{\"text\":\"a"u8, 0xC0, .. "\"}"u8]));
    }

    // ---- through SpecJson ----

    [Theory]
    [InlineData("""{"process":{"args":5}}""", "config.json: /process/args: expected an array of strings, got 5")]
    [InlineData("""{"process":{"user":{"uid":-1}}}""", "config.json: /process/user/uid: expected an unsigned integer (0..4294967295), got -1")]
    [InlineData("""{"process":{"user":{"additionalGids":[1,1.5]}}}""", "config.json: /process/user/additionalGids/1: expected an unsigned integer (0..4294967295), got 1.5")]
    [InlineData("""{"process":{"oomScoreAdj":2147483648}}""", "config.json: /process/oomScoreAdj: expected an integer (-2147483648..2147483647), got 2147483648")]
    [InlineData("""{"linux":{"resources":{"blockIO":{"weight":65536}}}}""", "config.json: /linux/resources/blockIO/weight: expected an unsigned integer (0..65535), got 65536")]
    [InlineData("""{"linux":{"resources":{"memory":{"swappiness":-1}}}}""", "config.json: /linux/resources/memory/swappiness: expected an unsigned integer (0..18446744073709551615), got -1")]
    [InlineData("""{"linux":{"resources":{"pids":{"limit":null}}}}""", "config.json: /linux/resources/pids/limit: expected an integer (-9223372036854775808..9223372036854775807), got null")]
    [InlineData("""{"linux":{"resources":{"rdma":{"mlx":5}}}}""", "config.json: /linux/resources/rdma/mlx: expected an object, got 5")]
    [InlineData("""{"linux":{"timeOffsets":[]}}""", "config.json: /linux/timeOffsets: expected an object of objects, got an array")]
    [InlineData("""{"mounts":[{"destination":"/"},3]}""", "config.json: /mounts/1: expected an object, got 3")]
    [InlineData("""{"root":{"readonly":"true"}}""", "config.json: /root/readonly: expected a boolean, got the string \"true\"")]
    [InlineData("5", "config.json: /: expected an object, got 5")]
    [InlineData("null", "config.json: expected a JSON object, got null")]
    public void Spec_errors_keep_their_wording(string json, string message) =>
        Assert.Equal(message, Assert.Throws<HuskException>(() => SpecJson.Parse(json)).Message);

    // ---- byte for byte what JsonSerializer wrote (the golden files were written by it) ----

    private static string Golden(string name) => Path.Combine(CorpusCases.Dir, "..", "Husk.Tests", "Spec", "Golden", name);

    [Fact]
    public void Spec_output_is_byte_identical_to_the_golden_files()
    {
        var spec = SpecJson.Parse(File.ReadAllBytes(Golden("spec.input.json")));
        byte[] compact = File.ReadAllBytes(Golden("spec.compact.json")), indented = File.ReadAllBytes(Golden("spec.indented.json"));
        Assert.Equal(compact, SpecJson.SerializeToUtf8(spec));
        Assert.Equal(indented, SpecJson.SerializeToUtf8(spec, indented: true));
        Assert.Equal(Encoding.UTF8.GetString(indented), SpecJson.Serialize(spec, indented: true));
        Assert.Equal(compact, SpecJson.SerializeToUtf8(SpecJson.Parse(indented)));
    }

    [Fact]
    public void State_output_is_byte_identical_to_the_golden_files()
    {
        var state = SpecJson.ParseState(File.ReadAllBytes(Golden("state.input.json")));
        Assert.Equal(File.ReadAllBytes(Golden("state.compact.json")), SpecJson.SerializeToUtf8(state));
        Assert.Equal(File.ReadAllBytes(Golden("state.indented.json")), SpecJson.SerializeToUtf8(state, indented: true));
    }

    [Fact]
    public void Record_output_is_byte_identical_to_the_golden_file()
    {
        // The spec's encoder (non-ASCII and HTML characters as they are), empty collections written.
        var record = ContainerRecord.Shape.ReadDocument(File.ReadAllBytes(Golden("record.input.json")))!;
        Assert.Equal(File.ReadAllBytes(Golden("record.json")), ContainerRecord.Shape.WriteDocument(record));
    }

    [Fact]
    public void Record_cgroup_lists_keep_null_and_empty_apart()
    {
        var r = ContainerRecord.Shape.ReadDocument("""{"id":"c","cgroup":{"path":"p","dirs":null,"created":[]},"annotations":null}"""u8)!;
        Assert.Null(r.Cgroup!.Directories);
        Assert.Empty(r.Cgroup.CreatedDirectories!);
        Assert.Empty(r.Annotations);
        Assert.Equal("""{"id":"c","bundle":"","rootfs":"","pid":0,"pidStartTime":0,"created":false,"createdAt":"","owner":"","cgroup":{"path":"p","created":[]},"annotations":{}}""",
            Encoding.UTF8.GetString(ContainerRecord.Shape.WriteDocument(r)));
    }

    [Fact]
    public void Init_config_round_trip_omits_what_is_not_set()
    {
        var c = new InitConfig
        {
            Id = "c", Rootfs = "/r", NoPivot = true, PreserveFds = 2, BindSources = 3, Hostname = "h",
            Process = new Process { Args = ["sh"], Cwd = "/" }, State = new State { ID = "c", Status = "creating" },
        };
        var bytes = InitConfig.Shape.WriteDocument(c);
        Assert.Equal("""{"id":"c","preserveFds":2,"process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"},"state":{"ociVersion":"","id":"c","pid":0,"status":"creating","bundle":"","rootfs":"","created":"","owner":""},"rootfs":"/r","noPivot":true,"bindSources":3,"hostname":"h"}""",
            Encoding.UTF8.GetString(bytes));
        var back = InitConfig.Shape.ReadDocument(bytes)!;
        Assert.Equal((c.Id, c.Rootfs, c.NoPivot, c.PreserveFds, c.BindSources, c.Hostname, (string?)null, "sh"),
            (back.Id, back.Rootfs, back.NoPivot, back.PreserveFds, back.BindSources, back.Hostname, back.Domainname, back.Process.Args[0]));
        var e = new InitConfig { Id = "c", ProcessPid = 7, UserNamespace = true };
        var eBack = InitConfig.Shape.ReadDocument(InitConfig.Shape.WriteDocument(e))!;
        Assert.Equal((7, true), (eBack.ProcessPid, eBack.UserNamespace));
    }

    // ---- every shape matches its class ----

    private static readonly Dictionary<(Type, string), string> Renamed = new()
    {
        [(typeof(ContainerRecord), "created")] = nameof(ContainerRecord.CreateFinished),
        [(typeof(CgroupInfo), "dirs")] = nameof(CgroupInfo.Directories),
        [(typeof(CgroupInfo), "created")] = nameof(CgroupInfo.CreatedDirectories),
        [(typeof(Husk.Cdi.CdiSpec), "cdiVersion")] = nameof(Husk.Cdi.CdiSpec.Version),
    };

    public static TheoryData<Type> ShapedTypes() =>
        [.. typeof(SpecJson).Assembly.GetTypes().Where(t => AbsentNullEmptyTests.ShapeOf(t) is not null).OrderBy(t => t.FullName)];

    [Fact]
    public void The_whole_model_has_shapes()
    {
        var shaped = typeof(SpecJson).Assembly.GetTypes().Where(t => AbsentNullEmptyTests.ShapeOf(t) is not null).ToHashSet();
        foreach (var t in new[] { typeof(Husk.Spec.Spec), typeof(State), typeof(Features), typeof(ContainerRecord), typeof(InitConfig), typeof(CgroupInfo), typeof(LinuxSeccompArg) })
            Assert.Contains(t, shaped);
    }

    /// <summary>One member per public property, of its type, named after it, whose getter and setter use that property.</summary>
    [Theory]
    [MemberData(nameof(ShapedTypes))]
    public void Each_member_reads_and_writes_its_own_property(Type type)
    {
        var members = AbsentNullEmptyTests.ShapeOf(type)!.Members;
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).ToList();
        Assert.Equal(members.Count, members.Select(m => m.Name).Distinct().Count());
        Assert.Equal(properties.Count, members.Count);
        foreach (var member in members)
        {
            var p = properties.Single(p => Renamed.TryGetValue((type, member.Name), out var n) ? p.Name == n : string.Equals(p.Name, member.Name, StringComparison.OrdinalIgnoreCase));
            Assert.Equal(p.PropertyType, member.ValueType);

            var owner = Activator.CreateInstance(type)!;
            var sentinel = Sentinel(p.PropertyType);
            p.SetValue(owner, sentinel);
            Assert.True(Equals(sentinel, member.GetValue(owner)), $"{type.Name}.{member.Name}: the getter does not read {p.Name}");

            var read = ReadDocument(type, $$"""{"{{member.Name}}":{{JsonValue(p.PropertyType)}}}""");
            Assert.True(IsSet(p.GetValue(read)), $"{type.Name}.{member.Name}: the setter does not set {p.Name}");
        }
    }

    private static object Sentinel(Type t)
    {
        var u = Nullable.GetUnderlyingType(t) ?? t;
        if (u == typeof(string)) return "sentinel";
        if (u == typeof(bool)) return true;
        if (u.IsPrimitive) return Convert.ChangeType(7, u);
        return Activator.CreateInstance(u)!;
    }

    private static string JsonValue(Type t)
    {
        var u = Nullable.GetUnderlyingType(t) ?? t;
        if (u == typeof(string)) return "\"v\"";
        if (u == typeof(bool)) return "true";
        if (u.IsPrimitive) return "7";
        if (u.IsGenericType && u.GetGenericTypeDefinition() == typeof(List<>)) return $"[{JsonValue(u.GetGenericArguments()[0])}]";
        if (u.IsGenericType && u.GetGenericTypeDefinition() == typeof(Dictionary<,>)) return $$"""{"k":{{JsonValue(u.GetGenericArguments()[1])}}}""";
        return "{}";
    }

    private static bool IsSet(object? value) => value switch
    {
        null => false,
        string s => s == "v",
        bool b => b,
        ICollection c => c.Count == 1,
        _ when value.GetType().IsPrimitive => Convert.ToInt64(value) == 7,
        _ => true, // an object (Process.User is never null, so this says less for it)
    };

    private static object ReadDocument(Type type, string json)
    {
        var read = typeof(JsonCodecTests).GetMethod(nameof(ReadAs), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(type);
        try { return read.Invoke(null, [AbsentNullEmptyTests.ShapeOf(type), Encoding.UTF8.GetBytes(json)])!; }
        catch (TargetInvocationException e) { throw e.InnerException!; }
    }

    private static T ReadAs<T>(JsonShape<T> shape, byte[] json) where T : class, new() => shape.ReadDocument(json)!;
}
