using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// runc's -ENOSYS stub (libcontainer/seccomp/patchbpf): under a profile whose default action
/// denies, a syscall numbered above the largest one the profile names fails with ENOSYS, so a
/// program can fall back from it, instead of with the default errno.
/// </summary>
[Collection(SecurityCollection.Name)]
public partial class SeccompEnosysTests
{
    [LibraryImport("libseccomp.so.2")]
    private static partial nint seccomp_syscall_resolve_num_arch(uint arch, int num);

    [LibraryImport("libc")]
    private static partial void free(nint p);

    /// <summary>The names libseccomp gives the x86_64 syscalls numbered 0..<paramref name="last"/>.</summary>
    internal static List<string> SyscallsUpTo(int last)
    {
        var names = new List<string>();
        for (int nr = 0; nr <= last; nr++)
        {
            nint p = seccomp_syscall_resolve_num_arch(0 /* SCMP_ARCH_NATIVE */, nr);
            if (p == 0) continue;
            names.Add(Marshal.PtrToStringUTF8(p)!);
            free(p);
        }
        return names;
    }

    [Fact]
    public void A_syscall_newer_than_the_profile_fails_with_enosys_an_older_one_with_the_default_errno()
    {
        // Everything numbered up to 307 is allowed; busybox's nsenter calls setns (308), above the
        // profile's last syscall: ENOSYS, as with runc. Listed but denied, setns gets the default EPERM.
        const int SetnsNr = 308;
        using var s = new Sandbox();
        var allowed = SyscallsUpTo(SetnsNr - 1);
        Assert.Contains("openat", allowed);
        s.Linux["seccomp"] = new JsonObject
        {
            ["defaultAction"] = "SCMP_ACT_ERRNO",
            ["architectures"] = Attack.Strings("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
            ["syscalls"] = new JsonArray(new JsonObject { ["names"] = Attack.Strings([.. allowed]), ["action"] = "SCMP_ACT_ALLOW" }),
        };
        s.Script("nsenter -t 1 -u true 2>&1; echo rc=$?");
        var newer = s.Run().AssertSuccess();
        Assert.Contains("Function not implemented", newer.Stdout);
        Assert.Contains("rc=1", newer.Stdout);

        ((JsonArray)s.Linux["seccomp"]!["syscalls"]!).Add(new JsonObject { ["names"] = Attack.Strings("setns"), ["action"] = "SCMP_ACT_ERRNO" });
        var listed = s.Run().AssertSuccess();
        Assert.Contains("Operation not permitted", listed.Stdout);
        s.AssertNothingLeaked();
    }
}
