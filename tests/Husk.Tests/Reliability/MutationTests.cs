using System.Diagnostics;
using Husk.Corpus;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Reliability;

/// <summary>
/// The mutation generator at the unit level: thousands of mutants of valid specs (the default,
/// runc's, rootless, a rich one and one with every field) and of a process.json, each through
/// <see cref="SpecPipeline"/>. Bounded in count and in time; deterministic: a failure prints the
/// seed, and HUSK_FUZZ_SEED / HUSK_FUZZ_CASES replay or widen the run.
/// </summary>
public class MutationTests(ITestOutputHelper output)
{
    const int DefaultSeed = 8_000_000;
    static readonly TimeSpan TimeBudget = TimeSpan.FromSeconds(25);

    static int Env(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : fallback;

    static IEnumerable<(string Name, string Json)> ConfigBases()
    {
        yield return ("husk spec", SpecJson.Serialize(DefaultSpec.Create(false), indented: true));
        yield return ("husk spec --rootless", SpecJson.Serialize(DefaultSpec.Create(true, 1000, 1000), indented: true));
        yield return ("runc spec", Spec.RuncSpecs.Load(false));
        yield return ("runc spec --rootless", Spec.RuncSpecs.Load(true));
        foreach (var f in new[] { "ok-default", "ok-rich", "ok-minimal", "any-everything" })
            yield return (f, File.ReadAllText(Path.Combine(CorpusCases.Dir, "config", f + ".json")));
    }

    void Run(string what, IReadOnlyList<(string Name, string Json)> bases, Func<byte[], Outcome> pipeline, int cases, int seed0)
    {
        var mutator = new SpecMutator { MaxStringLength = 1 << 17 };
        var sw = Stopwatch.StartNew();
        int done = 0, valid = 0;
        var failures = new List<string>();
        for (int i = 0; i < cases && sw.Elapsed < TimeBudget; i++)
        {
            int seed = seed0 + i;
            var (name, json) = bases[i % bases.Count];
            var m = mutator.Create(json, seed);
            try
            {
                if (pipeline(m.Bytes).Valid) valid++;
            }
            catch (Exception e)
            {
                failures.Add($"[{name}] {m.Describe()}\n  => {e.GetType().Name}: {SpecPipeline.Short(e.Message)}\n{e.StackTrace}");
                if (failures.Count >= 5) break;
            }
            done++;
        }
        output.WriteLine($"{what}: {done} mutants (seeds {seed0}..{seed0 + done - 1}) in {sw.Elapsed.TotalSeconds:0.0} s, {valid} valid, {done - valid} refused");
        Assert.True(failures.Count == 0,
            $"{failures.Count} mutants broke the pipeline (replay with HUSK_FUZZ_SEED=<seed> HUSK_FUZZ_CASES=1):\n{string.Join("\n\n", failures)}");
        Assert.True(done >= Math.Min(cases, 500), $"only {done} mutants in {TimeBudget.TotalSeconds} s");
        // The generator must keep producing both kinds, or it tests nothing.
        if (done >= 500)
        {
            Assert.True(valid > done / 50, $"only {valid} of {done} mutants were valid: the generator breaks everything");
            Assert.True(valid < done, "every mutant was valid: the generator changes nothing");
        }
    }

    [Fact]
    public void Thousands_of_mutated_configs_parse_validate_and_plan_cleanly() =>
        Run("config", ConfigBases().ToList(), SpecPipeline.Config, Env("HUSK_FUZZ_CASES", 3000), Env("HUSK_FUZZ_SEED", DefaultSeed));

    [Fact]
    public void Mutated_process_documents_parse_and_validate_cleanly()
    {
        var bases = new[] { "ok-basic", "ok-minimal" }
            .Select(f => (f, File.ReadAllText(Path.Combine(CorpusCases.Dir, "process", f + ".json")))).ToList();
        Run("process", bases, SpecPipeline.Process, Env("HUSK_FUZZ_CASES", 1500), Env("HUSK_FUZZ_SEED", DefaultSeed + 500_000));
    }

    [Fact]
    public void The_mutator_is_deterministic()
    {
        var m = new SpecMutator();
        var json = File.ReadAllText(Path.Combine(CorpusCases.Dir, "config", "ok-rich.json"));
        for (int seed = 0; seed < 50; seed++)
        {
            var a = m.Create(json, seed);
            var b = m.Create(json, seed);
            Assert.Equal(a.Description, b.Description);
            Assert.Equal(a.Bytes, b.Bytes);
        }
    }
}
