using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// CVE-2021-30465: a container swapped a directory on a mount's path for a symlink between runc's
/// check and its mount(2), so the mount landed on the host. Husk resolves every destination inside
/// the rootfs (openat2 RESOLVE_IN_ROOT) and mounts through /proc/self/fd. Here a racer swaps the
/// directory with symlinks to "/" and to "../../.." (renameat2 RENAME_EXCHANGE, as the exploit)
/// during 100 creates: the host must never get a mount or a directory.
/// </summary>
[Collection(SecurityCollection.Name)]
public class Cve2021_30465Tests
{
    [Fact]
    public void Swapping_a_mount_target_for_a_symlink_during_100_creates_never_mounts_on_the_host()
    {
        using var s = new Sandbox("cat", "/proc/self/mountinfo");
        string unique = "husk-race-" + Guid.NewGuid().ToString("N")[..8];
        // /mnt/a is the component the racer swaps; the mounts go to /mnt/a/<unique>.
        string a = s.Bundle.HostPath("/mnt/a"), absLink = s.Bundle.HostPath("/mnt/abs"), relLink = s.Bundle.HostPath("/mnt/rel");
        Directory.CreateDirectory(Path.Combine(a, unique));
        File.CreateSymbolicLink(absLink, "/");
        File.CreateSymbolicLink(relLink, "../../../../../../../..");
        string hostSource = Directory.CreateTempSubdirectory("husk-race-src-").FullName;
        try
        {
            var mounts = (JsonArray)s.Config["mounts"]!;
            mounts.Add(new JsonObject { ["destination"] = $"/mnt/a/{unique}", ["type"] = "tmpfs", ["source"] = unique, ["options"] = Attack.Strings("nosuid", "size=64k") });
            mounts.Add(new JsonObject { ["destination"] = $"/mnt/a/{unique}/bind", ["type"] = "bind", ["source"] = hostSource, ["options"] = Attack.Strings("rbind", "ro") });
            s.Bundle.Save();

            using var stop = new CancellationTokenSource();
            long swaps = 0;
            var racer = new Thread(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    Attack.Swap(a, absLink);
                    Attack.Swap(a, absLink);
                    Attack.Swap(a, relLink);
                    Attack.Swap(a, relLink);
                    Interlocked.Add(ref swaps, 4);
                }
            }) { IsBackground = true };
            racer.Start();
            int ran = 0;
            try
            {
                for (int i = 0; i < 100; i++)
                {
                    var r = s.Root.Run(new RunOptions { Timeout = TimeSpan.FromSeconds(20) }, "run", "--bundle", s.Bundle.Dir, s.NewId());
                    if (r.ExitCode == 0)
                    {
                        ran++;
                        // The container saw its tmpfs at the destination, or (when the swap won) at a
                        // path inside its own root: never anything but the container's view.
                        foreach (var m in MountLine.ParseAll(r.Stdout).Where(m => m.Source == unique))
                            Assert.True(m.MountPoint.EndsWith("/" + unique, StringComparison.Ordinal), $"tmpfs mounted at {m.MountPoint}");
                    }
                    Assert.False(Directory.Exists("/" + unique), $"/{unique} was created on the host (run {i})");
                    Assert.DoesNotContain(Mounts.MountPoints(), p => p.Contains(unique, StringComparison.Ordinal) && !p.StartsWith(s.Bundle.Dir, StringComparison.Ordinal));
                }
            }
            finally
            {
                stop.Cancel();
                racer.Join();
            }
            Assert.True(Interlocked.Read(ref swaps) > 100, "the racer did not run");
            Assert.True(ran > 0, "no create succeeded: the race test proves nothing");
            Assert.False(Directory.Exists("/" + unique));
            Assert.Empty(Directory.GetFileSystemEntries(hostSource));
            s.AssertNothingLeaked();
        }
        finally
        {
            Mounts.UnmountUnder(hostSource);
            Directory.Delete(hostSource, recursive: true);
        }
    }
}
