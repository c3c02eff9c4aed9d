using System.Text;
using Husk.Spec;
using Xunit;
using HSpec = Husk.Spec.Spec;

namespace Husk.Tests.Spec;

public class SpecJsonTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RuncDefaultSpec_RoundTripsByteForByte(bool rootless)
    {
        string text = RuncSpecs.Load(rootless);
        var spec = SpecJson.Parse(text);
        Assert.Equal(["sh"], spec.Process!.Args);
        Assert.Equal(text, SpecJson.Serialize(spec, indented: true).ReplaceLineEndings("\n"));
        // And compact → parse → indented is stable.
        var again = SpecJson.Parse(SpecJson.SerializeToUtf8(spec));
        Assert.Equal(text, SpecJson.Serialize(again, indented: true).ReplaceLineEndings("\n"));
    }

    [Fact]
    public void LiveRuncSpec_RoundTrips()
    {
        if (!File.Exists("/usr/sbin/runc")) Assert.Skip("runc is not installed (/usr/sbin/runc; make test installs Debian's runc)");
        var dir = Directory.CreateTempSubdirectory("husk-spec-");
        try
        {
            var psi = new System.Diagnostics.ProcessStartInfo("/usr/sbin/runc", "spec") { WorkingDirectory = dir.FullName };
            using (var p = System.Diagnostics.Process.Start(psi)!) p.WaitForExit();
            var path = Path.Combine(dir.FullName, "config.json");
            Assert.True(File.Exists(path), "runc spec wrote no config.json");
            var spec = SpecJson.Load(path);
            Assert.Equal(File.ReadAllText(path), SpecJson.Serialize(spec, true));
        }
        finally { dir.Delete(true); }
    }

    /// <summary>RuncSpecs hold runc 1.1.5's output on a v1/hybrid host; on a pure cgroup v2 host runc appends a cgroup namespace (specconv.Example).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DefaultSpec_IsRuncsWithHuskChanges(bool cgroupV2)
    {
        var runc = SpecJson.Parse(RuncSpecs.Load(false));
        var husk = DefaultSpec.Create(false, cgroupNamespace: cgroupV2);
        // The documented differences from runc 1.1.5 (compat/DEVIATIONS.md): version, hostname, powercap (runc 1.2).
        runc.OCIVersion = DefaultSpec.OCIVersion;
        runc.Hostname = "husk";
        if (cgroupV2) runc.Linux!.Namespaces.Add(new LinuxNamespace { Type = "cgroup" });
        runc.Linux!.MaskedPaths.Insert(9, "/sys/devices/virtual/powercap");
        Assert.Equal(SpecJson.Serialize(runc, true), SpecJson.Serialize(husk, true));
        Assert.Empty(SpecValidator.Validate(husk, null));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DefaultSpec_Rootless_IsRuncsWithHuskChanges(bool cgroupV2)
    {
        var runc = SpecJson.Parse(RuncSpecs.Load(true));
        var husk = DefaultSpec.Create(true, 1000, 1001, cgroupNamespace: cgroupV2);
        runc.OCIVersion = DefaultSpec.OCIVersion;
        runc.Hostname = "husk";
        // runc: the cgroup namespace is added before ToRootless appends the user namespace.
        if (cgroupV2) runc.Linux!.Namespaces.Insert(4, new LinuxNamespace { Type = "cgroup" });
        runc.Linux!.MaskedPaths.Insert(9, "/sys/devices/virtual/powercap");
        runc.Linux.UIDMappings[0].HostID = 1000;
        runc.Linux.GIDMappings[0].HostID = 1001;
        Assert.Equal(SpecJson.Serialize(runc, true), SpecJson.Serialize(husk, true));
        Assert.Empty(SpecValidator.Validate(husk, null));
    }

    private static HuskException Fails(string json) => Assert.Throws<HuskException>(() => SpecJson.Parse(json));
    private static HuskException Fails(byte[] json) => Assert.Throws<HuskException>(() => SpecJson.Parse(json));

    private static void OneLine(HuskException e)
    {
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain("   at ", e.Message);
        Assert.StartsWith("config.json: ", e.Message);
    }

    [Fact]
    public void ArgsNumber_NamesPointer()
    {
        var e = Fails("""{"ociVersion":"1.2.0","process":{"args":5,"cwd":"/"}}""");
        OneLine(e);
        Assert.Equal("config.json: /process/args: expected an array of strings, got 5", e.Message);
    }

    [Fact]
    public void ArgsElementNumber_NamesIndex()
    {
        var e = Fails("""{"process":{"args":["a", 7]}}""");
        OneLine(e);
        Assert.StartsWith("config.json: /process/args/1: expected a string, got 7", e.Message);
    }

    [Fact]
    public void NegativeUid_Fails()
    {
        var e = Fails("""{"process":{"user":{"uid":-1,"gid":0}}}""");
        OneLine(e);
        Assert.Contains("/process/user/uid: expected an unsigned integer", e.Message);
        Assert.Contains("got -1", e.Message);
    }

    [Fact]
    public void OutOfRangeNumber_Fails()
    {
        var e = Fails("""{"linux":{"uidMappings":[{"containerID":0,"hostID":4294967296,"size":1}]}}""");
        OneLine(e);
        Assert.Contains("/linux/uidMappings/0/hostID", e.Message);
    }

    [Fact]
    public void DottedKey_IsEscapedInPointer()
    {
        var e = Fails("""{"linux":{"sysctl":{"net.ipv4/ip_forward": 1}}}""");
        OneLine(e);
        Assert.Equal("config.json: /linux/sysctl/net.ipv4~1ip_forward: expected a string, got 1", e.Message);
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{\"a\":}")]
    [InlineData("{\"a\":1,}")]
    [InlineData("{\"a\":1} x")]
    [InlineData("// c\n{}")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("nul")]
    public void Malformed_OneLine(string json)
    {
        var e = Fails(json);
        OneLine(e);
    }

    [Fact]
    public void Malformed_SaysLine()
    {
        var e = Fails("{\n  \"ociVersion\": \"1.2.0\",\n  \"process\": {,}\n}");
        OneLine(e);
        Assert.Contains("line 3", e.Message);
    }

    [Fact]
    public void TopLevelArray_OneLine()
    {
        var e = Fails("[]");
        OneLine(e);
        Assert.Contains("expected an object", e.Message);
    }

    [Fact]
    public void Null_OneLine() => OneLine(Fails("null"));

    [Fact]
    public void InvalidUtf8_OneLine()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"hostname\":\"ab\"}");
        bytes[14] = 0xFF;
        var e = Fails(bytes);
        OneLine(e);
        Assert.Contains("invalid UTF-8", e.Message);
    }

    [Fact]
    public void LoneSurrogateEscape_OneLine()
    {
        var e = Fails("""{"hostname":"\ud800"}""");
        OneLine(e);
        Assert.Contains("/hostname", e.Message);
    }

    [Fact]
    public void DuplicateKey_NamesPath()
    {
        var e = Fails("""{"process":{"cwd":"/","cwd":"/x"}}""");
        OneLine(e);
        Assert.Equal("config.json: /process/cwd: duplicate key \"cwd\"", e.Message);
    }

    [Fact]
    public void DuplicateKeyInArrayElement_NamesPath()
    {
        var e = Fails("""{"mounts":[{"destination":"/a"},{"destination":"/b","type":"x","type":"y"}]}""");
        OneLine(e);
        Assert.Equal("config.json: /mounts/1/type: duplicate key \"type\"", e.Message);
    }

    [Fact]
    public void SameKeyInSiblingObjects_IsFine()
    {
        var s = SpecJson.Parse("""{"mounts":[{"destination":"/a"},{"destination":"/b"}]}""");
        Assert.Equal(2, s.Mounts.Count);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(65)]
    public void DeepNesting_OneLine(int depth)
    {
        var json = "{\"annotations\":{\"x\":" + new string('[', depth) + new string(']', depth) + "}}";
        var e = Fails(json);
        OneLine(e);
        Assert.Contains("deeper than 64", e.Message);
    }

    [Fact]
    public void DeepNestingInUnknownField_OneLine()
    {
        var json = "{\"x\":" + string.Concat(Enumerable.Repeat("{\"a\":", 100)) + "1" + new string('}', 100) + "}";
        OneLine(Fails(json));
    }

    [Fact]
    public void TenMegabyteString_LoadsOrFailsInOneLine()
    {
        var big = new string('a', 10 * 1024 * 1024);
        var spec = SpecJson.Parse("{\"ociVersion\":\"1.2.0\",\"hostname\":\"" + big + "\"}");
        Assert.Equal(big.Length, spec.Hostname!.Length);
        var e = Fails("{\"process\":{\"user\":{\"uid\":\"" + big + "\"}}}");
        OneLine(e);
        Assert.True(e.Message.Length < 400, e.Message.Length.ToString());
    }

    [Fact]
    public void UnknownFields_AreIgnored()
    {
        var s = SpecJson.Parse("""{"ociVersion":"1.2.0","solaris":{"milestone":"x"},"process":{"cwd":"/","futureThing":[1,2,{"a":null}]},"vm":null}""");
        Assert.Equal("/", s.Process!.Cwd);
        Assert.Equal("""{"ociVersion":"1.2.0","process":{"user":{"uid":0,"gid":0},"cwd":"/"}}""", SpecJson.Serialize(s));
    }

    [Fact]
    public void EmptyObject_RoundTripsToMinimal()
    {
        var s = SpecJson.Parse("{}");
        Assert.NotNull(s.Mounts);
        Assert.NotNull(s.Annotations);
        Assert.Equal("""{"ociVersion":""}""", SpecJson.Serialize(s));
    }

    [Fact]
    public void NullItems_BecomeZeroValues()
    {
        var s = SpecJson.Parse("""{"process":{"args":["a",null]},"annotations":{"k":null},"mounts":[null],"linux":{"timeOffsets":{"boottime":null}}}""");
        Assert.Equal(["a", ""], s.Process!.Args);
        Assert.Equal("", s.Annotations["k"]);
        Assert.NotNull(s.Mounts[0]);
        Assert.NotNull(s.Linux!.TimeOffsets["boottime"]);
    }

    [Fact]
    public void NullObjects_AreHandled()
    {
        var s = SpecJson.Parse("""{"process":{"user":null,"capabilities":null},"root":null,"linux":null}""");
        Assert.NotNull(s.Process!.User);
        Assert.Null(s.Root);
    }

    [Fact]
    public void SettersTurnNullIntoEmpty()
    {
        var s = new HSpec { Mounts = null!, Annotations = null! };
        Assert.Empty(s.Mounts);
        Assert.Empty(s.Annotations);
        var l = new Husk.Spec.Linux { Sysctl = null!, TimeOffsets = null! };
        Assert.Empty(l.Sysctl);
        Assert.Empty(l.TimeOffsets);
    }

    [Fact]
    public void Load_MissingFile_OneLine()
    {
        var e = Assert.Throws<HuskException>(() => SpecJson.Load("/nonexistent/dir/config.json"));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("/nonexistent/dir/config.json", e.Message);
    }

    [Fact]
    public void Load_FileNameLeadsErrors()
    {
        var f = Path.GetTempFileName();
        try
        {
            File.WriteAllText(f, """{"process":{"args":5}}""");
            var e = Assert.Throws<HuskException>(() => SpecJson.Load(f));
            Assert.Equal($"{f}: /process/args: expected an array of strings, got 5", e.Message);
        }
        finally { File.Delete(f); }
    }

    [Fact]
    public void Bom_IsAccepted()
    {
        var bytes = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Encoding.UTF8.GetBytes("{\"ociVersion\":\"1.2.0\"}")).ToArray();
        Assert.Equal("1.2.0", SpecJson.Parse(bytes).OCIVersion);
    }

    [Fact]
    public void ParseProcess_Works_AndErrorsNameProcessJson()
    {
        var p = SpecJson.ParseProcess("""{"args":["ls"],"cwd":"/","env":null}""");
        Assert.Equal(["ls"], p.Args);
        Assert.Empty(p.Env);
        var e = Assert.Throws<HuskException>(() => SpecJson.ParseProcess("""{"terminal":"yes"}"""));
        Assert.Equal("process.json: /terminal: expected a boolean, got the string \"yes\"", e.Message);
    }

    [Fact]
    public void State_SerializesLikeRunc()
    {
        var st = new State
        {
            OCIVersion = "1.2.0", ID = "c1", Pid = 0, Status = ContainerState.Stopped, Bundle = "/b", Rootfs = "/b/rootfs",
            Created = State.FormatCreated(new DateTime(2026, 11, 22, 6, 1, 31, DateTimeKind.Utc).AddTicks(1234567)),
            Owner = "",
        };
        Assert.Equal("""{"ociVersion":"1.2.0","id":"c1","pid":0,"status":"stopped","bundle":"/b","rootfs":"/b/rootfs","created":"2026-11-22T06:01:31.1234567Z","owner":""}""",
            SpecJson.Serialize(st));
        long secs = new DateTimeOffset(2026, 11, 22, 6, 1, 31, TimeSpan.Zero).ToUnixTimeSeconds();
        Assert.Equal("2026-11-22T06:01:31.123456789Z", State.FormatCreated(secs * 1_000_000_000 + 123456789));
        Assert.Equal("2026-11-22T06:01:31.1Z", State.FormatCreated(secs * 1_000_000_000 + 100_000_000));
        Assert.Equal("2026-11-22T06:01:31Z", State.FormatCreated(secs * 1_000_000_000));
        var back = SpecJson.ParseState(SpecJson.SerializeToUtf8(st));
        Assert.Equal("c1", back.ID);
        Assert.Empty(back.Annotations);
    }

    [Fact]
    public void Features_Serialize()
    {
        var f = Features.Build();
        var json = SpecJson.Serialize(f, true);
        Assert.Contains("\"ociVersionMax\": \"1.2.0\"", json);
        Assert.Contains("\"CAP_CHECKPOINT_RESTORE\"", json);
        Assert.Contains("\"rbind\"", json);
        Assert.Contains("\"time\"", json);
        Assert.Contains("\"SCMP_ACT_NOTIFY\"", json);
        Assert.Equal(6, f.Hooks.Count);
        Assert.Equal(json, SpecJson.Serialize(SpecJson.ParseFeatures(Encoding.UTF8.GetBytes(json)), true));
    }

    [Fact]
    public void Resources_Parse()
    {
        var r = SpecJson.ParseResources("""{"memory":{"limit":1048576},"cpu":{"cpus":"0-1"},"unified":null}""");
        Assert.Equal(1048576, r.Memory!.Limit);
        Assert.Empty(r.Unified);
        Assert.Equal("""{"memory":{"limit":1048576},"cpu":{"cpus":"0-1"}}""", SpecJson.Serialize(r));
    }

    [Fact]
    public void Resources_Parse_GoStyleNames()
    {
        // runc's update.bats "update cpuset parameters via resources.CPU" gives `update -r -` Go's field names.
        var r = SpecJson.ParseResources("""{"CPU": {"Cpus": "1", "Mems": "0"}}""");
        Assert.Equal(("1", "0"), (r.CPU!.Cpus, r.CPU.Mems));
        Assert.Equal("""{"cpu":{"cpus":"1","mems":"0"}}""", SpecJson.Serialize(r));
    }

    [Fact]
    public void Config_MemberNamedTwiceInOtherCase_Merges()
    {
        // The same test's config.json: jq adds "CPU" beside the "cpu" the file's setup wrote; runc (Go) reads both into linux.resources.cpu.
        var spec = SpecJson.Parse("""
            {"ociVersion": "1.0.2", "Process": {"args": ["sh"], "Cwd": "/"},
             "linux": {"resources": {"cpu": {"shares": 100, "quota": 500000, "period": 1000000}, "CPU": {"Cpus": "0", "Mems": "0"}}}}
            """);
        Assert.Equal(["sh"], spec.Process!.Args);
        var cpu = spec.Linux!.Resources!.CPU!;
        Assert.Equal((100UL, 500000L, 1000000UL, "0", "0"), (cpu.Shares, cpu.Quota, cpu.Period, cpu.Cpus, cpu.Mems));
    }
}
