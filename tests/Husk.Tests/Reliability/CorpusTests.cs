using Husk.Corpus;
using Xunit;

namespace Husk.Tests.Reliability;

/// <summary>
/// Every file of the bad-input corpus (tests/Corpus) and every generated big case through the
/// parser, the validator and the planners: one line of error or a valid spec, never another
/// exception; "ok-" files are valid, "err-" files are refused.
/// </summary>
public class CorpusTests
{
    public static TheoryData<string> ConfigNames => new(CorpusCases.Configs(includeGenerated: false).Select(c => c.Name));
    public static TheoryData<string> ProcessNames => new(CorpusCases.Processes().Select(c => c.Name));

    static void Check(CorpusCase c, Func<byte[], Outcome> run)
    {
        Outcome o;
        try { o = run(c.Bytes); }
        catch (Exception e)
        {
            Assert.Fail($"{c.Name}: {e.GetType().Name}: {SpecPipeline.Short(e.Message)}\n{e.StackTrace}");
            return;
        }
        switch (c.Expect)
        {
            case Expect.Ok: Assert.True(o.Valid, $"{c.Name}: expected a valid spec, got {o}"); break;
            case Expect.Err: Assert.False(o.Valid, $"{c.Name}: expected the parser or the validator to refuse it, but it is valid"); break;
        }
    }

    [Theory]
    [MemberData(nameof(ConfigNames))]
    public void Config_corpus_file(string name) => Check(CorpusCases.Configs(false).Single(c => c.Name == name), SpecPipeline.Config);

    [Theory]
    [MemberData(nameof(ProcessNames))]
    public void Process_corpus_file(string name) => Check(CorpusCases.Processes().Single(c => c.Name == name), SpecPipeline.Process);

    [Fact]
    public void Generated_big_configs()
    {
        foreach (var c in CorpusCases.GeneratedConfigs()) Check(c, SpecPipeline.Config);
    }

    [Fact]
    public void Generated_big_configs_as_process_documents()
    {
        // The same hostile shapes where a process.json is expected: only the process member counts.
        foreach (var c in CorpusCases.GeneratedConfigs().Take(6)) Check(c with { Expect = Expect.Any }, SpecPipeline.Process);
    }

    [Fact]
    public void Every_collection_absent_null_or_empty_gives_one_outcome()
    {
        // The brief's rule at the pipeline level: for each collection reachable from the rich
        // spec, absent, null and empty give the same outcome (valid, or the same error).
        var baseText = File.ReadAllText(Path.Combine(CorpusCases.Dir, "config", "any-everything.json"));
        var root = System.Text.Json.Nodes.JsonNode.Parse(baseText)!;
        var pointers = new List<string>();
        void Walk(System.Text.Json.Nodes.JsonNode? n, string ptr)
        {
            if (n is System.Text.Json.Nodes.JsonObject o)
            {
                if (ptr.Length > 0) pointers.Add(ptr);
                foreach (var (k, v) in o) Walk(v, ptr + "/" + k);
            }
            else if (n is System.Text.Json.Nodes.JsonArray a)
            {
                pointers.Add(ptr);
                for (int i = 0; i < a.Count; i++) Walk(a[i], $"{ptr}/{i}");
            }
        }
        Walk(root, "");
        Assert.True(pointers.Count > 40, $"only {pointers.Count} collections found");
        foreach (var ptr in pointers)
        {
            var outcomes = new List<string>();
            foreach (var variant in new[] { "absent", "null", "empty" })
            {
                var doc = System.Text.Json.Nodes.JsonNode.Parse(baseText)!;
                var parts = ptr.Trim('/').Split('/');
                var parent = doc;
                foreach (var p in parts[..^1]) parent = parent is System.Text.Json.Nodes.JsonArray pa ? pa[int.Parse(p)]! : parent[p]!;
                var key = parts[^1];
                var isObject = (parent is System.Text.Json.Nodes.JsonArray arr ? arr[int.Parse(key)] : parent[key]) is System.Text.Json.Nodes.JsonObject;
                if (isObject && !IsMap(ptr)) continue; // a struct, not a collection
                System.Text.Json.Nodes.JsonNode? empty = isObject ? new System.Text.Json.Nodes.JsonObject() : new System.Text.Json.Nodes.JsonArray();
                if (parent is System.Text.Json.Nodes.JsonArray) continue; // list items are not optional members
                var obj = (System.Text.Json.Nodes.JsonObject)parent;
                switch (variant)
                {
                    case "absent": obj.Remove(key); break;
                    case "null": obj[key] = null; break;
                    default: obj[key] = empty; break;
                }
                outcomes.Add(SpecPipeline.Config(System.Text.Encoding.UTF8.GetBytes(doc.ToJsonString())).ToString());
            }
            if (outcomes.Count == 3)
                Assert.True(outcomes.Distinct().Count() == 1, $"{ptr}: absent, null and empty differ:\n{string.Join("\n", outcomes)}");
        }
    }

    static bool IsMap(string ptr) => ptr.EndsWith("/annotations") || ptr.EndsWith("/sysctl") || ptr.EndsWith("/timeOffsets")
        || ptr.EndsWith("/netDevices") || ptr.EndsWith("/unified") || ptr.EndsWith("/rdma");

    [Fact]
    public void The_corpus_names_every_expectation_and_is_big_enough()
    {
        var configs = CorpusCases.Configs(false);
        Assert.True(configs.Count >= 150, $"only {configs.Count} config corpus files");
        Assert.Contains(configs, c => c.Expect == Expect.Ok);
        Assert.Contains(configs, c => c.Expect == Expect.Err);
        Assert.Contains(configs, c => c.Expect == Expect.Any);
        Assert.True(CorpusCases.Processes().Count >= 25);
        // Nothing of 10 MB is committed: big cases are generated.
        Assert.All(Directory.GetFiles(CorpusCases.Dir, "*", SearchOption.AllDirectories), f => Assert.True(new FileInfo(f).Length < 1 << 20, f));
    }
}
