using Husk.Spec;
using Xunit;
using HSpec = Husk.Spec.Spec;

namespace Husk.Tests.Spec;

public class SpecValidatorTests
{
    private static HSpec Base() => DefaultSpec.Create(false);

    private static List<string> Errors(HSpec s, string? bundle = null) =>
        SpecValidator.Validate(s, bundle).Select(e => e.ToString()).ToList();

    private static void Has(HSpec s, string expected)
    {
        var errs = Errors(s);
        Assert.True(errs.Contains(expected), $"expected \"{expected}\" in:\n{string.Join("\n", errs)}");
        Assert.All(errs, e => Assert.DoesNotContain('\n', e));
    }

    private static void HasPrefix(HSpec s, string pathPrefix)
    {
        var errs = Errors(s);
        Assert.True(errs.Any(e => e.StartsWith(pathPrefix + ": ", StringComparison.Ordinal)), $"expected an error at {pathPrefix} in:\n{string.Join("\n", errs)}");
    }

    [Fact] public void DefaultIsValid() => Assert.Empty(Errors(Base()));

    [Fact] public void SpecErrorToString() => Assert.Equal("/a: b", new SpecError("/a", "b").ToString());

    [Fact]
    public void OciVersion()
    {
        var s = Base(); s.OCIVersion = ""; Has(s, "/ociVersion: must be set");
        s.OCIVersion = "2.0.0"; HasPrefix(s, "/ociVersion");
        s.OCIVersion = "1.0.2-dev"; Assert.Empty(Errors(s));
        s.OCIVersion = "1.2.0"; Assert.Empty(Errors(s));
    }

    [Fact]
    public void Root()
    {
        var s = Base(); s.Root = null; Has(s, "/root: must be set");
        s = Base(); s.Root!.Path = ""; Has(s, "/root/path: must be set");
        s = Base();
        var dir = Directory.CreateTempSubdirectory("husk-val-");
        try
        {
            HasPrefixIn(SpecValidator.Validate(s, dir.FullName), "/root/path");
            Directory.CreateDirectory(Path.Combine(dir.FullName, "rootfs"));
            Assert.Empty(SpecValidator.Validate(s, dir.FullName));
        }
        finally { dir.Delete(true); }
    }

    private static void HasPrefixIn(IReadOnlyList<SpecError> errs, string path) => Assert.Contains(errs, e => e.Path == path);

    [Fact]
    public void Process()
    {
        var s = Base(); s.Process = null; Has(s, "/process: must be set");
        s = Base(); s.Process!.Args = []; Has(s, "/process/args: must be a non-empty array of strings");
        s = Base(); s.Process!.Cwd = "tmp"; Has(s, "/process/cwd: must be an absolute path, got \"tmp\"");
        s = Base(); s.Process!.Cwd = ""; HasPrefix(s, "/process/cwd");
        s = Base(); s.Process!.Env.Add("=x"); HasPrefix(s, "/process/env/2");
        s = Base(); s.Process!.User.Umask = 512; HasPrefix(s, "/process/user/umask");
        s = Base(); s.Process!.OOMScoreAdj = 1001; HasPrefix(s, "/process/oomScoreAdj");
        s = Base(); s.Process!.ConsoleSize = new Box(); s.Process.Terminal = false; HasPrefix(s, "/process/consoleSize");
    }

    [Fact]
    public void Capabilities_Known()
    {
        var s = Base(); s.Process!.Capabilities!.Effective.Add("CAP_FOO");
        Has(s, "/process/capabilities/effective/3: unknown capability \"CAP_FOO\"");
    }

    [Fact]
    public void Rlimits()
    {
        var s = Base(); s.Process!.Rlimits.Add(new POSIXRlimit { Type = "RLIMIT_BOGUS" }); HasPrefix(s, "/process/rlimits/1/type");
        s = Base(); s.Process!.Rlimits.Add(new POSIXRlimit { Type = "RLIMIT_NOFILE", Soft = 1, Hard = 1 });
        Has(s, "/process/rlimits/1/type: duplicate rlimit \"RLIMIT_NOFILE\" (also at /process/rlimits/0)");
        s = Base(); s.Process!.Rlimits[0].Soft = 2048; Has(s, "/process/rlimits/0/soft: soft limit 2048 is above the hard limit 1024");
    }

    [Fact]
    public void Mounts()
    {
        var s = Base(); s.Mounts[0].Destination = "proc"; Has(s, "/mounts/0/destination: must be an absolute path, got \"proc\"");
        s = Base(); s.Mounts.Add(new Mount { Destination = "/x", Options = ["rbind"] }); Has(s, "/mounts/7/source: a bind mount needs a source");
        s = Base(); s.Mounts.Add(new Mount { Destination = "/x", Type = "bind", Source = "/y", UIDMappings = [new LinuxIDMapping { Size = 1 }] });
        HasPrefix(s, "/mounts/7/gidMappings");
    }

    [Fact]
    public void Namespaces()
    {
        var s = Base(); s.Linux!.Namespaces[2].Type = "foo"; Has(s, "/linux/namespaces/2/type: unknown namespace type \"foo\"");
        s = Base(); s.Linux!.Namespaces.Add(new LinuxNamespace { Type = "pid" }); HasPrefix(s, "/linux/namespaces/5/type");
        s = Base(); s.Linux!.Namespaces[0].Path = "proc/1/ns/pid"; HasPrefix(s, "/linux/namespaces/0/path");
    }

    [Fact]
    public void UserNamespaceAndMappings()
    {
        var s = Base(); s.Linux!.UIDMappings = [new LinuxIDMapping { Size = 1 }]; s.Linux.GIDMappings = [new LinuxIDMapping { Size = 1 }];
        HasPrefix(s, "/linux/uidMappings");
        s = Base(); s.Linux!.Namespaces.Add(new LinuxNamespace { Type = "user" }); HasPrefix(s, "/linux/uidMappings");
        s = Base(); s.Linux!.Namespaces.Add(new LinuxNamespace { Type = "user", Path = "/proc/1/ns/user" }); Assert.Empty(Errors(s));
        s = DefaultSpec.Create(true, 1000, 1000); Assert.Empty(Errors(s));
        s.Process!.User.UID = 5; Has(s, "/process/user/uid: uid 5 is not mapped by /linux/uidMappings");
        s = DefaultSpec.Create(true); s.Linux!.UIDMappings[0].Size = 0; Has(s, "/linux/uidMappings/0/size: must be greater than 0");
    }

    [Fact]
    public void Hooks()
    {
        var s = Base(); s.Hooks = new Hooks { Poststop = [new Hook { Path = "bin/x" }], Prestart = [new Hook { Path = "/bin/x", Timeout = 0 }] };
        HasPrefix(s, "/hooks/poststop/0/path");
        Has(s, "/hooks/prestart/0/timeout: must be greater than 0, got 0");
    }

    [Fact]
    public void TimeOffsets()
    {
        var s = Base(); s.Linux!.TimeOffsets["monotonic"] = new LinuxTimeOffset { Secs = 1 }; HasPrefix(s, "/linux/timeOffsets");
        s.Linux.Namespaces.Add(new LinuxNamespace { Type = "time" }); Assert.Empty(Errors(s));
        s.Linux.TimeOffsets["realtime"] = new LinuxTimeOffset(); HasPrefix(s, "/linux/timeOffsets/realtime");
    }

    [Fact]
    public void Sysctl()
    {
        var s = DefaultSpec.Create(true); // no network namespace
        s.Linux!.Sysctl["net.ipv4.ip_forward"] = "1"; HasPrefix(s, "/linux/sysctl/net.ipv4.ip_forward");
        s = Base(); s.Linux!.Sysctl["net.ipv4.ip_forward"] = "1"; s.Linux.Sysctl["kernel.shmmax"] = "1"; s.Linux.Sysctl["fs.mqueue.msg_max"] = "1";
        s.Linux.Sysctl["kernel.domainname"] = "x"; Assert.Empty(Errors(s));
        s.Linux.Sysctl["kernel.hostname"] = "x"; HasPrefix(s, "/linux/sysctl/kernel.hostname");
        s = Base(); s.Linux!.Sysctl["vm.swappiness"] = "1"; HasPrefix(s, "/linux/sysctl/vm.swappiness");
        s = Base(); s.Linux!.Namespaces.RemoveAll(n => n.Type == "ipc"); s.Linux.Sysctl["kernel.msgmax"] = "1"; HasPrefix(s, "/linux/sysctl/kernel.msgmax");
        s = Base(); s.Linux!.Sysctl["net/ipv4/ip_forward"] = "1"; Assert.Empty(Errors(s));
    }

    [Fact]
    public void HostnameNeedsUts()
    {
        var s = Base(); s.Linux!.Namespaces.RemoveAll(n => n.Type == "uts"); HasPrefix(s, "/hostname");
        s.Hostname = null; s.Domainname = "d"; HasPrefix(s, "/domainname");
    }

    [Fact]
    public void Devices()
    {
        var s = Base(); s.Linux!.Devices.Add(new LinuxDevice { Path = "/dev/x", Type = "z" }); HasPrefix(s, "/linux/devices/0/type");
        // runtime spec: major and minor are required unless the type is p; a fifo's are ignored.
        s = Base(); s.Linux!.Devices.Add(new LinuxDevice { Path = "/dev/f", Type = "p", Major = 1, Minor = -3 }); Assert.Empty(Errors(s));
        s = Base(); s.Linux!.Devices.Add(new LinuxDevice { Path = "dev/x", Type = "c", Major = 1, Minor = 3 }); HasPrefix(s, "/linux/devices/0/path");
        s = Base(); s.Linux!.Devices.Add(new LinuxDevice { Path = "/dev/null2", Type = "c", Major = 1, Minor = 3 }); Assert.Empty(Errors(s));
    }

    [Fact]
    public void RootfsPropagation_CgroupsPath_Personality()
    {
        var s = Base(); s.Linux!.RootfsPropagation = "weird"; HasPrefix(s, "/linux/rootfsPropagation");
        s = Base(); s.Linux!.RootfsPropagation = "rslave"; Assert.Empty(Errors(s));
        s = Base(); s.Linux!.CgroupsPath = "/a/../../b"; HasPrefix(s, "/linux/cgroupsPath");
        s = Base(); s.Linux!.Personality = new LinuxPersonality { Domain = "LINUX64" }; HasPrefix(s, "/linux/personality/domain");
        s = Base(); s.Linux!.Personality = new LinuxPersonality { Domain = "LINUX32" }; Assert.Empty(Errors(s));
    }

    [Fact]
    public void MaskedPathsNeedMountNamespace()
    {
        var s = Base(); s.Linux!.Namespaces.RemoveAll(n => n.Type == "mount"); HasPrefix(s, "/linux/namespaces");
        s = Base(); s.Linux!.MaskedPaths.Add("proc/x"); HasPrefix(s, "/linux/maskedPaths/11");
    }

    [Fact]
    public void Seccomp()
    {
        var s = Base();
        s.Linux!.Seccomp = new LinuxSeccomp
        {
            DefaultAction = "SCMP_ACT_NOPE",
            Architectures = ["SCMP_ARCH_VAX"],
            Syscalls = [new LinuxSyscall { Names = [], Action = "SCMP_ACT_NOTIFY", Args = [new LinuxSeccompArg { Index = 6, Op = "SCMP_CMP_XX" }] }],
        };
        HasPrefix(s, "/linux/seccomp/defaultAction");
        HasPrefix(s, "/linux/seccomp/architectures/0");
        HasPrefix(s, "/linux/seccomp/syscalls/0/names");
        HasPrefix(s, "/linux/seccomp/syscalls/0/args/0/index");
        HasPrefix(s, "/linux/seccomp/syscalls/0/args/0/op");
        HasPrefix(s, "/linux/seccomp/listenerPath");
    }

    [Fact]
    public void Resources()
    {
        var s = Base();
        s.Linux!.Resources!.Devices.Add(new LinuxDeviceCgroup { Allow = true, Type = "x", Access = "rwx" });
        s.Linux.Resources.CPU = new LinuxCPU { Cpus = "0-" };
        s.Linux.Resources.HugepageLimits.Add(new LinuxHugepageLimit { Pagesize = "2XB" });
        HasPrefix(s, "/linux/resources/devices/1/type");
        // runc accepts any access string and uses the r, w and m in it (DeviceRules.From).
        Assert.DoesNotContain(Errors(s), e => e.StartsWith("/linux/resources/devices/1/access", StringComparison.Ordinal));
        HasPrefix(s, "/linux/resources/cpu/cpus");
        HasPrefix(s, "/linux/resources/hugepageLimits/0/pageSize");
        Assert.NotEmpty(SpecValidator.ValidateResources(new LinuxResources { Memory = new LinuxMemory { Swappiness = 101 } }));
    }
}
