using System.Text;

namespace Husk.Corpus;

/// <summary>What a corpus case must do (its file name starts with the word).</summary>
public enum Expect
{
    /// <summary>"ok-": a valid spec; `husk create` succeeds (then `delete` removes it).</summary>
    Ok,
    /// <summary>"err-": refused by the parser or the validator (one line naming the field).</summary>
    Err,
    /// <summary>"fail-": a valid document that `husk create` refuses (one line), e.g. a host-level check.</summary>
    Fail,
    /// <summary>"any-": the host decides; either a clear one-line error or a correct container.</summary>
    Any,
}

/// <summary>One hostile or malformed input: a file of tests/Corpus or one generated at test time (too big to commit).</summary>
public sealed record CorpusCase(string Name, Expect Expect, byte[] Bytes)
{
    public override string ToString() => Name;
}

/// <summary>
/// The bad-input corpus shared by the unit tests (SpecJson + SpecValidator) and the e2e tests
/// (`husk create`): tests/Corpus/config/*.json and process/*.json, plus big cases generated here.
/// Every config's root.path is "rootfs" (relative to the bundle).
/// </summary>
public static class CorpusCases
{
    const int TenMiB = 10 * 1024 * 1024;

    public static string Dir => Path.Combine(RepoRoot(), "tests", "Corpus");

    /// <summary>The config.json corpus: the committed files, then the generated big ones.</summary>
    public static IReadOnlyList<CorpusCase> Configs(bool includeGenerated = true)
    {
        var list = Load("config");
        if (includeGenerated) list.AddRange(GeneratedConfigs());
        return list;
    }

    /// <summary>The process.json corpus (`exec --process`).</summary>
    public static IReadOnlyList<CorpusCase> Processes() => Load("process");

    /// <summary>The valid config every generated case starts from (ok-default.json).</summary>
    public static string DefaultConfig => File.ReadAllText(Path.Combine(Dir, "config", "ok-default.json"));

    static List<CorpusCase> Load(string sub)
    {
        var dir = Path.Combine(Dir, sub);
        var files = Directory.GetFiles(dir, "*.json").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new InvalidOperationException($"no corpus files in {dir}");
        return files.Select(f =>
        {
            var name = Path.GetFileNameWithoutExtension(f);
            return new CorpusCase($"{sub}/{name}", ExpectOf(name), File.ReadAllBytes(f));
        }).ToList();
    }

    public static Expect ExpectOf(string name) => name.Split('-')[0] switch
    {
        "ok" => Expect.Ok,
        "err" => Expect.Err,
        "fail" => Expect.Fail,
        "any" => Expect.Any,
        _ => throw new InvalidOperationException($"corpus file {name}: the name must start with ok-, err-, fail- or any-"),
    };

    /// <summary>Cases too big to commit: 10 MB strings in every kind of place, huge arrays, very deep nesting.</summary>
    public static IEnumerable<CorpusCase> GeneratedConfigs()
    {
        string big = new('x', TenMiB);
        string bigPath = "/" + new string('d', TenMiB);
        string text = DefaultConfig;
        CorpusCase Replace(string name, Expect e, string what, string with) =>
            new($"generated/{name}", e, Encoding.UTF8.GetBytes(ReplaceOnce(text, what, with)));
        const string Oci = "\"ociVersion\"";

        yield return Replace("any-annotation-value-10mb", Expect.Any, Oci, $"\"annotations\": {{\"big\": \"{big}\"}},\n{Oci}");
        yield return Replace("any-unknown-key-10mb", Expect.Any, Oci, $"\"{big}\": 1,\n{Oci}");
        yield return Replace("any-program-10mb", Expect.Any, "\"true\"", $"\"{bigPath}\"");
        yield return Replace("any-arg-10mb", Expect.Any, "\"true\"", $"\"true\", \"{big}\"");
        yield return Replace("any-hostname-10mb", Expect.Any, "\"hostname\": \"husk\"", $"\"hostname\": \"{big}\"");
        yield return Replace("any-cwd-10mb", Expect.Any, "\"cwd\": \"/\"", $"\"cwd\": \"{bigPath}\"");
        yield return Replace("any-env-10mb", Expect.Any, "\"TERM=xterm\"", $"\"TERM={big}\"");
        yield return Replace("any-mount-destination-10mb", Expect.Any, "\"destination\": \"/proc\"", $"\"destination\": \"{bigPath}\"");
        yield return Replace("any-masked-path-10mb", Expect.Any, "\"/proc/kcore\"", $"\"{bigPath}\"");
        yield return Replace("any-cgroupspath-10mb", Expect.Any, "\"namespaces\"", $"\"cgroupsPath\": \"{bigPath}\", \"namespaces\"");
        yield return Replace("err-root-path-10mb", Expect.Err, "\"path\": \"rootfs\"", $"\"path\": \"{big}\"");
        yield return Replace("err-ociversion-10mb", Expect.Err, "\"1.2.0\"", $"\"{big}\"");
        yield return Replace("err-capability-10mb", Expect.Err, "\"CAP_KILL\"", $"\"{big}\"");
        yield return Replace("err-10mb-string-then-invalid-utf8", Expect.Err, Oci, $"\"x\": \"{big}\u0001\",\n{Oci}");
        yield return Replace("any-args-100000", Expect.Any, "\"true\"", "\"true\"" + string.Concat(Enumerable.Repeat(", \"a\"", 100_000)));
        yield return Replace("any-additional-gids-70000", Expect.Any, "\"gid\": 0", "\"gid\": 0, \"additionalGids\": [" + string.Join(",", Enumerable.Range(1, 70_000)) + "]");
        yield return Replace("any-annotations-100000", Expect.Any, Oci,
            "\"annotations\": {" + string.Join(",", Enumerable.Range(0, 100_000).Select(i => $"\"k{i}\": \"v\"")) + $"}},\n{Oci}");
        yield return Replace("err-deep-arrays-1000000", Expect.Err, Oci, "\"x\": " + new string('[', 1_000_000) + new string(']', 1_000_000) + $",\n{Oci}");
        yield return new("generated/err-only-open-braces-10mb", Expect.Err, Encoding.ASCII.GetBytes(new string('{', TenMiB)));
        var invalid = Encoding.UTF8.GetBytes(ReplaceOnce(text, Oci, $"\"x\": \"{big}\",\n{Oci}"));
        invalid[invalid.Length / 2] = 0xFF;
        yield return new("generated/err-invalid-utf8-in-10mb-string", Expect.Err, invalid);
    }

    static string ReplaceOnce(string s, string what, string with)
    {
        int i = s.IndexOf(what, StringComparison.Ordinal);
        if (i < 0) throw new InvalidOperationException($"corpus generator: \"{what}\" is not in ok-default.json");
        return s[..i] + with + s[(i + what.Length)..];
    }

    static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Husk.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no Husk.slnx above {AppContext.BaseDirectory}");
    }
}
