using Husk.Container;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Container;

/// <summary>The process `husk exec` runs: runc's rules for --process FILE and for args with flags.</summary>
public class ExecProcessTests
{
    static Husk.Spec.Spec ContainerSpec() => SpecJson.Parse("""
        {"ociVersion":"1.2.0","root":{"path":"rootfs"},
         "process":{"args":["sleep","1000"],"env":["PATH=/bin","A=1"],"cwd":"/srv","terminal":true,
           "user":{"uid":5,"gid":6},"noNewPrivileges":true,"apparmorProfile":"prof",
           "capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]},
           "rlimits":[{"type":"RLIMIT_NOFILE","hard":100,"soft":100}]}}
        """);

    static Process FromFile(string json)
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, json);
            return Executor.BuildProcess(ContainerSpec(), new ExecOptions { Id = "c", ProcessFile = path });
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Args_run_over_the_containers_process_with_the_flags_applied()
    {
        var p = Executor.BuildProcess(ContainerSpec(), new ExecOptions
        {
            Id = "c", Args = ["sh", "-c", "id"], Env = ["B=2"], Cwd = "/tmp", User = "7:8", AdditionalGids = [9],
            Caps = ["sys_time", "CAP_NET_ADMIN"], NoNewPrivs = false,
        });
        Assert.Equal(["sh", "-c", "id"], p.Args);
        Assert.Equal(["PATH=/bin", "A=1", "B=2"], p.Env);
        Assert.Equal("/tmp", p.Cwd);
        Assert.Equal((7u, 8u), (p.User.UID, p.User.GID));
        Assert.Equal([9u], p.User.AdditionalGids);
        Assert.False(p.Terminal);   // not the container's: only --tty sets it
        Assert.False(p.NoNewPrivileges);
        Assert.Equal(["CAP_KILL", "CAP_SYS_TIME", "CAP_NET_ADMIN"], p.Capabilities!.Bounding);
        Assert.Empty(p.Capabilities.Ambient);   // no inheritable set in the spec
        Assert.Equal("prof", p.ApparmorProfile);
        Assert.Single(p.Rlimits);
    }

    [Fact]
    public void Without_flags_the_containers_settings_are_kept()
    {
        var p = Executor.BuildProcess(ContainerSpec(), new ExecOptions { Id = "c", Args = ["true"], Tty = true });
        Assert.True(p.Terminal);
        Assert.True(p.NoNewPrivileges);
        Assert.Equal("/srv", p.Cwd);
        Assert.Equal(5u, p.User.UID);
        Assert.Equal(6u, p.User.GID);   // --user without a gid keeps the container's gid
    }

    [Fact]
    public void A_process_file_gets_the_containers_security_settings_where_it_has_none()
    {
        var p = FromFile("""{"args":["ls"],"cwd":"/"}""");
        Assert.Equal(["ls"], p.Args);
        Assert.Equal(["CAP_KILL"], p.Capabilities!.Bounding);
        Assert.Equal("RLIMIT_NOFILE", Assert.Single(p.Rlimits).Type);
        Assert.Equal("prof", p.ApparmorProfile);
        Assert.True(p.NoNewPrivileges);
        Assert.Empty(p.Env);                 // the file's env, as written
    }

    [Fact]
    public void A_process_file_overrides_what_it_sets()
    {
        var p = FromFile("""{"args":["ls"],"cwd":"/","noNewPrivileges":false,"capabilities":{"bounding":[]},"apparmorProfile":"other"}""");
        Assert.False(p.NoNewPrivileges);
        Assert.Empty(p.Capabilities!.Bounding);
        Assert.Equal("other", p.ApparmorProfile);
    }

    [Theory]
    [InlineData("""{"args":[],"cwd":"/"}""", "args must not be empty")]
    [InlineData("""{"args":["ls"],"cwd":"rel"}""", "must be an absolute path")]
    public void Bad_process_files_are_refused_in_one_line(string json, string expected)
    {
        var e = Assert.Throws<HuskException>(() => FromFile(json));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("1000", 1000u, 42u)]
    [InlineData("1000:2000", 1000u, 2000u)]
    public void User_is_uid_and_optional_gid(string text, uint uid, uint gid) =>
        Assert.Equal((uid, gid), Executor.ParseUser(text, 42));

    [Theory]
    [InlineData("root")]
    [InlineData("1:2:3")]
    [InlineData("1:x")]
    public void User_names_are_refused(string text) =>
        Assert.Throws<HuskException>(() => Executor.ParseUser(text, 0));

    [Fact]
    public void An_unknown_capability_is_refused()
    {
        var e = Assert.Throws<HuskException>(() =>
            Executor.BuildProcess(ContainerSpec(), new ExecOptions { Id = "c", Args = ["true"], Caps = ["CAP_NOPE"] }));
        Assert.Contains("CAP_NOPE", e.Message);
    }

    [Fact]
    public void Cgroup_flags_are_read_as_runcs_getSubCgroupPaths()
    {
        Assert.Empty(Executor.ParseSubCgroups([]));
        Assert.Equal(new Dictionary<string, string> { [""] = "sub" }, Executor.ParseSubCgroups(["sub"]));
        Assert.Equal(new Dictionary<string, string> { ["memory"] = "m", ["cpu"] = "c", ["cpuacct"] = "c" },
            Executor.ParseSubCgroups(["memory:m", "cpu,cpuacct:c"]));
        Assert.Equal("invalid --cgroup argument: a:b:c", Assert.Throws<HuskException>(() => Executor.ParseSubCgroups(["a:b:c"])).Message);
        Assert.Contains("missing <controller>: prefix", Assert.Throws<HuskException>(() => Executor.ParseSubCgroups(["memory:m", "x"])).Message);
    }
}
