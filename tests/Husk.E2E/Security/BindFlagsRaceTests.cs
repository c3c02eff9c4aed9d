using System.Text.Json.Nodes;
using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// The flags of a bind mount (ro, nosuid, ...) must land on that bind mount. A runtime that mounts,
/// then looks the destination up again by path to remount it read-only, can be made to remount
/// another mount when something swaps a directory on the path in between (a container sharing the
/// volume, as in CVE-2021-30465), leaving the bind read-write. Husk clones the source detached
/// (open_tree), sets every attribute on the detached tree (mount_setattr) and only then attaches it
/// (move_mount): nothing is looked up by path after the mount. Here a host directory is bound "ro" at
/// /mnt/a/data while a racer swaps /mnt/a with /mnt/b, whose data/ holds a tmpfs; the container then
/// tries to write through both paths.
/// Observed before the fix (mount, then the destination opened again by path and remounted): the
/// bind was left read-write, and the container wrote into the host directory, in 4 of 140 successful
/// runs. After: the host directory was never written.
/// </summary>
[Collection(SecurityCollection.Name)]
public class BindFlagsRaceTests
{
    [Fact]
    public void A_read_only_bind_stays_read_only_while_its_path_is_swapped()
    {
        using var s = new Sandbox("sh", "-c", "for d in /mnt/a/data /mnt/b/data; do touch $d/written 2>/dev/null && echo wrote-$d; done; true");
        string a = s.Bundle.HostPath("/mnt/a"), b = s.Bundle.HostPath("/mnt/b");
        Directory.CreateDirectory(Path.Combine(a, "data"));
        Directory.CreateDirectory(Path.Combine(b, "data"));
        string hostSource = Directory.CreateTempSubdirectory("husk-bindro-").FullName;
        try
        {
            var mounts = (JsonArray)s.Config["mounts"]!;
            mounts.Add(new JsonObject { ["destination"] = "/mnt/b/data", ["type"] = "tmpfs", ["source"] = "tmpfs", ["options"] = Attack.Strings("size=64k") });
            mounts.Add(new JsonObject { ["destination"] = "/mnt/a/data", ["type"] = "bind", ["source"] = hostSource, ["options"] = Attack.Strings("bind", "ro") });
            s.Bundle.Save();

            using var stop = new CancellationTokenSource();
            long swaps = 0;
            var racer = new Thread(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    Attack.Swap(a, b);
                    Interlocked.Increment(ref swaps);
                }
            }) { IsBackground = true };
            racer.Start();
            int ran = 0, leftWritable = 0;
            try
            {
                for (int i = 0; i < 150; i++)
                {
                    var r = s.Root.Run(new RunOptions { Timeout = TimeSpan.FromSeconds(20) }, "run", "--bundle", s.Bundle.Dir, s.NewId());
                    if (r.ExitCode == 0) ran++;
                    if (File.Exists(Path.Combine(hostSource, "written")))
                    {
                        leftWritable++;
                        File.Delete(Path.Combine(hostSource, "written"));
                    }
                }
            }
            finally
            {
                stop.Cancel();
                racer.Join();
            }
            Assert.True(Interlocked.Read(ref swaps) > 100, "the racer did not run");
            Assert.True(ran > 0, "no run succeeded: the race test proves nothing");
            Assert.True(leftWritable == 0, $"the \"ro\" bind of the host directory was writable in {leftWritable} of {ran} runs");
            s.AssertNothingLeaked();
        }
        finally
        {
            Mounts.UnmountUnder(hostSource);
            Directory.Delete(hostSource, recursive: true);
        }
    }
}
