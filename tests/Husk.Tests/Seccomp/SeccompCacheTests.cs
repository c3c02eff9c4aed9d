using Husk.Linux;
using Husk.Seccomp;
using Husk.Spec;
using Xunit;

namespace Husk.Tests.Seccomp;

/// <summary>The cache of compiled filters init plans load: what an entry is found by, and that only exactly its key and a root-only directory give a program back.</summary>
public class SeccompCacheTests
{
    static LinuxSeccomp Profile(string denied) => new()
    {
        DefaultAction = "SCMP_ACT_ALLOW",
        Syscalls = [new LinuxSyscall { Names = [denied], Action = "SCMP_ACT_ERRNO" }],
    };

    static byte[] Key(LinuxSeccomp s, string version = "2.5.4", uint api = 6, string boot = "b1") =>
        SeccompCache.Key(s, SeccompProfile.Build(s, _ => true, version), version, api, boot);

    static readonly Native.SockFilter[] Program = [new(0x20, 0, 0, 4), new(0x06, 0, 0, 0x7fff0000)];

    [Fact]
    public void The_key_covers_the_profile_the_library_and_the_boot()
    {
        var key = Key(Profile("mkdir"));
        Assert.Equal(key, Key(Profile("mkdir")));
        Assert.Equal(SeccompCache.Name(key), SeccompCache.Name(Key(Profile("mkdir"))));
        Assert.NotEqual(key, Key(Profile("rmdir")));
        Assert.NotEqual(key, Key(Profile("mkdir"), version: "2.6.0"));
        Assert.NotEqual(key, Key(Profile("mkdir"), api: 5));
        Assert.NotEqual(key, Key(Profile("mkdir"), boot: "b2"));
        var flagged = Profile("mkdir");
        flagged.Flags = ["SECCOMP_FILTER_FLAG_LOG"];
        Assert.NotEqual(key, Key(flagged));
        Assert.Matches("^[0-9a-f]{16}$", SeccompCache.Name(key));
        // This boot's id, as the kernel gives it (/proc/sys/kernel/random/boot_id).
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", SeccompCache.BootId());
    }

    [Fact]
    public void An_entry_gives_its_program_back_for_exactly_its_key()
    {
        if (Native.geteuid() != 0) Assert.Skip("the cache trusts only a directory of root's: run as root (make test does)");
        var dir = Path.Combine(Directory.CreateTempSubdirectory("husk-seccomp-cache-").FullName, "seccomp");
        try
        {
            var key = Key(Profile("mkdir"));
            Assert.Null(SeccompCache.Read(dir, key));
            SeccompCache.Write(dir, key, Program);
            Assert.Equal(0x1c0, (int)File.GetUnixFileMode(dir));
            Assert.Equal(Program, SeccompCache.Read(dir, key));

            // Another key stored under the same name (a collision) is a miss, as is a damaged entry.
            var other = Key(Profile("rmdir"));
            File.Copy(Path.Combine(dir, SeccompCache.Name(key)), Path.Combine(dir, SeccompCache.Name(other)));
            Assert.Null(SeccompCache.Read(dir, other));
            File.WriteAllBytes(Path.Combine(dir, SeccompCache.Name(key)), [.. key, 1, 2, 3]);
            Assert.Null(SeccompCache.Read(dir, key));

            // A directory others may write is not trusted.
            SeccompCache.Write(dir, key, Program);
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ff);
            Assert.Null(SeccompCache.Read(dir, key));
        }
        finally { Directory.Delete(Path.GetDirectoryName(dir)!, recursive: true); }
    }
}
