using Husk.Init;
using Husk.Linux;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Init;

public class ProcessSetupTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("husk-init-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("RLIMIT_CPU", 0)]
    [InlineData("RLIMIT_CORE", 4)]
    [InlineData("RLIMIT_NPROC", 6)]
    [InlineData("RLIMIT_NOFILE", 7)]
    [InlineData("RLIMIT_MEMLOCK", 8)]
    [InlineData("RLIMIT_AS", 9)]
    [InlineData("RLIMIT_RTPRIO", 14)]
    [InlineData("RLIMIT_RTTIME", 15)]
    public void RlimitNamesMapToKernelNumbers(string name, int number)
        => Assert.Equal(number, new POSIXRlimit { Type = name }.Resource);

    [Fact]
    public void AllSixteenRlimitsAreKnown()
        => Assert.Equal(Enumerable.Range(0, 16), POSIXRlimit.Numbers.Values.Order());

    [Fact]
    public void UnknownRlimitIsAnErrorNamingIt()
    {
        var e = Assert.Throws<HuskException>(() => ProcessSetup.ApplyRlimits([new POSIXRlimit { Type = "RLIMIT_FOO", Soft = 1, Hard = 1 }]));
        Assert.Contains("RLIMIT_FOO", e.Message);
    }

    [Fact]
    public void SoftAboveHardIsAnErrorNamingTheRlimit()
    {
        var e = Assert.Throws<HuskException>(() => ProcessSetup.ApplyRlimits([new POSIXRlimit { Type = "RLIMIT_NOFILE", Soft = 10, Hard = 5 }]));
        Assert.StartsWith("error setting rlimit type RLIMIT_NOFILE", e.Message);
    }

    [Fact]
    public void CapabilityNamesBecomeBitMasks()
    {
        Assert.Equal(0x21UL, Husk.Spec.Capabilities.Mask(["CAP_CHOWN", "CAP_KILL"], 40));
        Assert.Equal(1UL << 21, Husk.Spec.Capabilities.Mask(["CAP_SYS_ADMIN"], 40));
        Assert.Equal(1UL << 40, Husk.Spec.Capabilities.Mask(["CAP_CHECKPOINT_RESTORE"], 40));
        Assert.Equal(0UL, Husk.Spec.Capabilities.Mask([], 40));
        Assert.Equal(["CAP_CHOWN", "CAP_KILL"], Husk.Spec.Capabilities.Names(0x21));
    }

    [Fact]
    public void UnknownAndKernelLackingCapabilitiesAreSkippedAndReported()
    {
        var skipped = new List<string>();
        // The kernel's last cap is 38 here: CAP_BPF (39) and CAP_CHECKPOINT_RESTORE (40) are missing.
        ulong mask = Husk.Spec.Capabilities.Mask(["CAP_KILL", "CAP_BPF", "CAP_NOPE", "CAP_CHECKPOINT_RESTORE", "CAP_NOPE"], 38, skipped);
        Assert.Equal(1UL << 5, mask);
        Assert.Equal(["CAP_BPF", "CAP_NOPE", "CAP_CHECKPOINT_RESTORE"], skipped);
    }

    [Fact]
    public void NullCapabilitiesMeanNone()
    {
        Assert.Equal(default, ProcessSetup.ComputeMasks(null, 40));
        var m = ProcessSetup.ComputeMasks(new LinuxCapabilities
        {
            Bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            Effective = ["CAP_KILL"],
            Permitted = ["CAP_CHOWN", "CAP_KILL"],
            Ambient = ["CAP_NET_BIND_SERVICE"],
        }, 40);
        Assert.Equal(0x421UL, m.Bounding);
        Assert.Equal(0x20UL, m.Effective);
        Assert.Equal(0x21UL, m.Permitted);
        Assert.Equal(0UL, m.Inheritable);
        Assert.Equal(0x400UL, m.Ambient);
    }

    [Fact]
    public void KernelLastCapIsRead()
    {
        int expected = int.Parse(File.ReadAllText("/proc/sys/kernel/cap_last_cap").Trim());
        Assert.Equal(expected, new ProcessSteps(LinuxKernel.Instance).KernelLastCap);
    }

    string MakeFile(string rel, UnixFileMode mode)
    {
        string path = Path.Combine(_dir, rel);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "#!/bin/sh\n");
        File.SetUnixFileMode(path, mode);
        return path;
    }

    const UnixFileMode Exe = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    const UnixFileMode NoExe = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public void ResolvesThroughThePathOfTheProcessEnvironment()
    {
        string foo = MakeFile("bin/foo", Exe);
        MakeFile("first/foo", NoExe);                      // not executable: skipped
        Directory.CreateDirectory(Path.Combine(_dir, "dir/foo"));   // a directory: skipped
        string path = $"PATH=/nonexistent:{_dir}/first:{_dir}/dir:{_dir}/bin";
        Assert.Equal(foo, ProcessSetup.ResolveExecutable("foo", ["A=1", path], "/"));
    }

    [Fact]
    public void NotFoundIsRuncsMessage()
    {
        MakeFile("bin/bar", NoExe);
        var e = Assert.Throws<HuskException>(() => ProcessSetup.ResolveExecutable("bar", [$"PATH={_dir}/bin"], "/"));
        Assert.Equal("exec: \"bar\": executable file not found in $PATH", e.Message);
        // No PATH in the process's env: the runtime's own PATH is not used.
        e = Assert.Throws<HuskException>(() => ProcessSetup.ResolveExecutable("sh", ["HOME=/"], "/"));
        Assert.Equal("exec: \"sh\": executable file not found in $PATH", e.Message);
    }

    [Fact]
    public void ArgZeroWithASlashIsNotSearchedButMustExist()
    {
        Assert.Equal("/bin/sh", ProcessSetup.ResolveExecutable("/bin/sh", [], "/"));
        Assert.Equal("./sh", ProcessSetup.ResolveExecutable("./sh", ["PATH=/nowhere"], "/bin"));
        var e = Assert.Throws<HuskException>(() => ProcessSetup.ResolveExecutable("/no/such/prog", [], "/"));
        Assert.Contains("\"/no/such/prog\"", e.Message);
    }

    [Fact]
    public void RelativePathEntriesAreRelativeToTheCwd()
    {
        string foo = MakeFile("sub/foo", Exe);
        Assert.Equal(foo, ProcessSetup.ResolveExecutable("foo", ["PATH=sub"], _dir));
    }

    [Theory]
    [InlineData("net.ipv4.ip_forward", "net/ipv4/ip_forward")]
    [InlineData("kernel.shm_rmid_forced", "kernel/shm_rmid_forced")]
    [InlineData("fs.mqueue.queues_max", "fs/mqueue/queues_max")]
    public void SysctlKeysMapToProcSysPaths(string key, string path)
        => Assert.Equal(path, ProcessSetup.SysctlPath(key));

    [Theory]
    [InlineData("")]
    [InlineData("net/ipv4/ip_forward")]
    [InlineData("../../etc/passwd")]
    [InlineData("net..ipv4")]
    [InlineData("..")]
    [InlineData(".net")]
    [InlineData("net.")]
    [InlineData("kernel.a\0b")]
    public void BadSysctlKeysAreRefused(string key)
    {
        var e = Assert.Throws<HuskException>(() => ProcessSetup.SysctlPath(key));
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ApplySysctlRefusesBadKeysBeforeWritingAnything()
        => Assert.Throws<HuskException>(() => ProcessSetup.ApplySysctl(new Dictionary<string, string> { ["net/../x"] = "1" }));

    [Fact]
    public void HomeIsAddedFromPasswdWhenMissing()
    {
        string passwd = Path.Combine(_dir, "passwd");
        File.WriteAllText(passwd, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        Assert.Equal(["A=1", "HOME=/home/app"], ProcessSetup.ProcessEnvironment(["A=1"], 1000, passwd));
        Assert.Equal(["HOME=/"], ProcessSetup.ProcessEnvironment([], 4242, passwd));
        Assert.Equal(["HOME=/"], ProcessSetup.ProcessEnvironment([], 0, Path.Combine(_dir, "missing")));
        Assert.Equal(["HOME=/x"], ProcessSetup.ProcessEnvironment(["HOME=/x"], 1000, passwd));
    }

    [Fact]
    public void HomeIsFoundInALongPasswdUpToOneMebibyte()
    {
        string passwd = Path.Combine(_dir, "passwd-long");
        var lines = Enumerable.Range(2000, 9000).Select(u => $"user{u}:x:{u}:{u}::/home/user{u}:/bin/sh\n");
        File.WriteAllText(passwd, string.Concat(lines) + "far:x:77777:1::/home/far:/bin/sh\n");
        Assert.InRange(new FileInfo(passwd).Length, 300_000, 1 << 20);
        Assert.Equal(["HOME=/home/far"], ProcessSetup.ProcessEnvironment([], 77777, passwd));
        File.AppendAllText(passwd, new string('#', 1 << 20) + "\nlate:x:88888:1::/home/late:/bin/sh\n");
        Assert.Equal(["HOME=/"], ProcessSetup.ProcessEnvironment([], 88888, passwd));
    }

    [Fact]
    public void FailedExecNamesTheProgramAndTheErrno()
    {
        var e = Assert.Throws<HuskException>(() => new ProcessSteps(LinuxKernel.Instance).ExecVe("/no/such/prog", ["prog"], []));
        Assert.Equal("exec \"/no/such/prog\": No such file or directory", e.Message);
        string noexe = MakeFile("noexe", NoExe);
        e = Assert.Throws<HuskException>(() => new ProcessSteps(LinuxKernel.Instance).ExecVe(noexe, ["noexe"], []));
        Assert.Contains("Permission denied", e.Message);
    }

    [Fact]
    public void ChdirErrorIsRuncs()
    {
        var e = Assert.Throws<HuskException>(() => new ProcessSteps(LinuxKernel.Instance).ChangeDirectory("/no/such/dir"));
        Assert.Equal("chdir to cwd (\"/no/such/dir\") set in config.json failed: No such file or directory", e.Message);
    }

    [Fact]
    public void CwdInsideTheRootPassesVerification() => new ProcessSteps(LinuxKernel.Instance).VerifyCwd();
}
