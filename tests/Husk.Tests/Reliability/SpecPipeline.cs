using System.Diagnostics;
using Husk.Cgroups;
using Husk.Container;
using Husk.Init;
using Husk.Rootfs;
using Husk.Spec;
using HSpec = Husk.Spec.Spec;
using HProcess = Husk.Spec.Process;

namespace Husk.Tests.Reliability;

/// <summary>What one input did: a valid spec, or refused with one line (from an exception or the validator).</summary>
public sealed record Outcome(bool Valid, string? Error)
{
    public override string ToString() => Valid ? "valid" : $"refused: {Error}";
}

/// <summary>
/// Everything `husk create` does with a config.json before it touches the system, as one pure
/// function: parse (SpecJson), validate (SpecValidator), then, for a valid spec, the planners
/// that read it (namespaces, mounts, /dev, cgroup resources, capabilities) and a round trip
/// through the serializer. Any exception other than <see cref="HuskException"/> escapes (a bug);
/// a HuskException or a validation error must be one line.
/// </summary>
public static class SpecPipeline
{
    /// <summary>The longest error line accepted: a 10 MB value must not end up in a message.</summary>
    public const int MaxErrorLength = 4096;

    /// <summary>A bundle directory with an empty rootfs/, for the validator's root.path check.</summary>
    public static string Bundle { get; } = MakeBundle();

    static string MakeBundle()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"husk-reliability-{Environment.ProcessId}");
        Directory.CreateDirectory(Path.Combine(dir, "rootfs"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(dir, recursive: true);
        return dir;
    }

    public static Outcome Config(byte[] bytes)
    {
        HSpec spec;
        try { spec = SpecJson.Parse(bytes, "config.json"); }
        catch (HuskException e) { return Refused(e.Message); }
        return CheckSpec(spec);
    }

    /// <summary>A process.json, validated as the process of the default spec (as `exec` uses it).</summary>
    public static Outcome Process(byte[] bytes)
    {
        HProcess p;
        try { p = SpecJson.ParseProcess(bytes, "process.json"); }
        catch (HuskException e) { return Refused(e.Message); }
        var spec = DefaultSpec.Create(false);
        spec.Process = p;
        return CheckSpec(spec);
    }

    static Outcome CheckSpec(HSpec spec)
    {
        var errors = SpecValidator.Validate(spec, Bundle);
        if (errors.Count > 0)
        {
            foreach (var e in errors) Refused(e.ToString());
            return Refused(errors[0].ToString());
        }
        try
        {
            Plan(spec);
        }
        catch (HuskException e) { return Refused(e.Message); }

        // A valid spec survives its own serialization unchanged (what create stores in config.json
        // and sends to the init is what it validated).
        var text = SpecJson.SerializeToUtf8(spec);
        HSpec again;
        try { again = SpecJson.Parse(text, "stored config.json"); }
        catch (HuskException e) { throw new UnreachableException($"a valid spec did not parse after serialization: {e.Message}"); }
        var errorsAgain = SpecValidator.Validate(again, Bundle);
        if (errorsAgain.Count > 0) throw new UnreachableException($"a valid spec is invalid after a round trip: {errorsAgain[0]}");
        var text2 = SpecJson.SerializeToUtf8(again);
        if (!text.AsSpan().SequenceEqual(text2)) throw new UnreachableException("serialize(parse(serialize(spec))) differs from serialize(spec)");
        return new Outcome(true, null);
    }

    /// <summary>The planners create and the init run over a valid spec before any syscall.</summary>
    static void Plan(HSpec spec)
    {
        var ns = NamespacePlan.From(spec);
        _ = ns.HasUserNamespace;
        foreach (var m in spec.Mounts) MountEntry.From(m);
        DevPlan.For(spec, hostHasKcore: true);
        foreach (var d in spec.Linux?.Devices ?? []) DevPlan.ToNode(d);
        if (spec.Linux?.Resources is { } r)
        {
            ResourcePlan.V1(r, hybrid: true, []);
            // The v2 plan refuses v1-only settings in one line when the host is not v2: fine here.
            try { ResourcePlan.V2(r, []); } catch (HuskException) { }
            ResourcePlan.Merge(r, r);
        }
        ProcessSetup.ComputeMasks(spec.Process?.Capabilities, 40, []);
        CgroupPaths.Normalize(spec.Linux?.CgroupsPath, "reliability");
        RootfsBuilder.ParsePropagation(spec.Linux?.RootfsPropagation);
    }

    static Outcome Refused(string message)
    {
        if (message.Contains('\n') || message.Contains('\r'))
            throw new UnreachableException($"an error of more than one line: {Short(message)}");
        if (message.Length > MaxErrorLength)
            throw new UnreachableException($"an error of {message.Length} characters (more than {MaxErrorLength}): {Short(message)}");
        if (string.IsNullOrWhiteSpace(message)) throw new UnreachableException("an empty error message");
        return new Outcome(false, message);
    }

    public static string Short(string s) => s.Length > 300 ? s[..300] + $"... ({s.Length} chars)" : s;
}
