using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// CVE-2024-21626: runc leaked a host directory fd into the container's init; process.cwd
/// "/proc/self/fd/N" then put the container's process in the host's file system. Husk closes every
/// fd not meant for the container and refuses a cwd outside the rootfs; hostile cwds stay inside.
/// The leaked fds here are the caller's own (opened by the shell that runs husk), pointing at a
/// host directory with a secret.
/// </summary>
[Collection(SecurityCollection.Name)]
public class Cve2024_21626Tests : IDisposable
{
    readonly string _secretDir = Directory.CreateTempSubdirectory("husk-21626-").FullName;
    const string Secret = "host-secret-21626";

    public Cve2024_21626Tests() => File.WriteAllText(Path.Combine(_secretDir, "secret"), Secret + "\n");

    public void Dispose() => Directory.Delete(_secretDir, recursive: true);

    /// <summary>husk run from a shell that leaks fd 7 (the secret dir) and fd 8 (the host's /) to it.</summary>
    Result RunLeaking(Sandbox s, string id) =>
        Attack.Sh($"exec 7<{Attack.Q(_secretDir)} 8</; exec {Attack.Q(HuskCli.BinaryPath)} --root {Attack.Q(s.Root.Path)} run --bundle {Attack.Q(s.Bundle.Save().Dir)} {id}");

    [Fact]
    public void Only_stdio_reaches_the_container_process()
    {
        using var s = new Sandbox();
        s.Script("for f in /proc/self/fd/*; do echo \"${f##*/} -> $(readlink $f)\"; done");
        var r = RunLeaking(s, s.NewId()).AssertSuccess();
        var fds = r.StdoutLines.Select(l => l.Split(" -> ")).ToDictionary(p => int.Parse(p[0]), p => p.Length > 1 ? p[1] : "");
        // 0-2, plus the listing's own directory fd (gone, or on /proc, by the time readlink runs).
        Assert.True(fds.Keys.Order().Take(3).SequenceEqual([0, 1, 2]), r.Describe("stdio is missing"));
        Assert.True(fds.Where(kv => kv.Key > 2).All(kv => kv.Value == "" || kv.Value.StartsWith("/proc/", StringComparison.Ordinal)),
            r.Describe("an fd other than stdio reached the container"));
        Assert.DoesNotContain(fds.Values, v => v == "/" || v.Contains(_secretDir));
        s.AssertNothingLeaked();
    }

    [Fact]
    public void A_cwd_through_proc_self_fd_is_refused_and_never_reaches_the_host()
    {
        using var s = new Sandbox();
        s.Script("pwd; cat secret 2>&1; ls");
        for (int fd = 3; fd <= 9; fd++)
        {
            s.Bundle.Process["cwd"] = $"/proc/self/fd/{fd}";
            var r = RunLeaking(s, s.NewId());
            Assert.DoesNotContain(Secret, r.Stdout + r.Stderr);
            Assert.True(r.ExitCode != 0, r.Describe($"cwd /proc/self/fd/{fd} must be refused"));
            // Refused by the chdir, or (an fd of the init's own: the host's /proc it writes sysctls
            // through) by the check right after it that the cwd is inside the root.
            Assert.True(r.Stderr.Contains("cwd") || r.Stderr.Contains("current working directory is outside of container mount namespace root"),
                r.Describe($"cwd /proc/self/fd/{fd}: not refused for its cwd"));
        }
        Assert.Empty(s.Root.ListIds());
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Hostile_cwds_stay_inside_the_rootfs()
    {
        using var s = new Sandbox();
        s.Config["root"]!["readonly"] = false;
        // A symlink to the host directory (absolute) and one that climbs out (relative).
        File.CreateSymbolicLink(s.Bundle.HostPath("/hostlink"), _secretDir);
        File.CreateSymbolicLink(s.Bundle.HostPath("/climb"), "../../../../../../../../" + _secretDir.TrimStart('/'));
        s.Script("pwd; cat secret 2>&1; ls -a");
        foreach (var cwd in new[] { "/../../../../..", "/hostlink", "/climb", "/climb/..", "/tmp/../../../.." })
        {
            s.Bundle.Process["cwd"] = cwd;
            var r = s.Run();
            Assert.DoesNotContain(Secret, r.Stdout + r.Stderr);
            if (r.ExitCode == 0)
            {
                // It ran: then inside the container (its root has /bin/busybox, the host's secret dir is not there).
                Assert.True(File.Exists(s.Bundle.HostPath("/bin/busybox")));
                Assert.DoesNotContain(Path.GetFileName(_secretDir), r.Stdout);
            }
            else Assert.Contains("cwd", r.Stderr);
        }
        // Nothing was created in the host directory the links point to.
        Assert.Equal(["secret"], Directory.GetFileSystemEntries(_secretDir).Select(Path.GetFileName));
        s.AssertNothingLeaked();
    }
}
