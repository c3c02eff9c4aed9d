using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// Files Husk writes for its caller. A pid file goes to a directory the caller names, which others
/// may write to: its temporary must be a new file (O_EXCL|O_NOFOLLOW, a name no one can guess), never
/// a symlink someone planted there to make root overwrite another file. The state root (--root)
/// holds every container's config (its environment, often secrets): created 0700, as runc does.
/// Observed before the fix: the temporary was "PIDFILE.tmpPID", opened O_CREAT|O_TRUNC; with symlinks
/// planted for the next 4000 pids, create and exec wrote the pid into the victim file (its content
/// replaced by the pid) and left the pid file a symlink to it. A new --root (and its missing parent)
/// was 0755. After: the victim is untouched, the pid file is a regular file, --root is 0700.
/// </summary>
[Collection(SecurityCollection.Name)]
public class CallerFilesTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("husk-callerfiles-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("create")]
    [InlineData("exec")]
    public void A_symlink_planted_for_the_pid_files_temporary_never_redirects_the_write(string command)
    {
        using var s = new Sandbox("sleep", "1000");
        string victim = Path.Combine(_dir, "victim"), pidFile = Path.Combine(_dir, "pid");
        File.WriteAllText(victim, "precious\n");
        string id = "";
        if (command == "exec") s.StartDetached(out id);
        int last = int.Parse(File.ReadAllText("/proc/sys/kernel/ns_last_pid").Trim());
        for (int pid = last + 1; pid <= last + 4000; pid++)
            File.CreateSymbolicLink($"{pidFile}.tmp{pid}", victim);

        if (command == "create")
        {
            id = s.NewId();
            s.Root.Run("create", "--pid-file", pidFile, "--bundle", s.Bundle.Save().Dir, id).AssertSuccess();
        }
        else s.Root.Run("exec", "-d", "--pid-file", pidFile, id, "sleep", "1000").AssertSuccess();

        Assert.Equal("precious\n", File.ReadAllText(victim));
        Assert.Null(new FileInfo(pidFile).LinkTarget);
        Assert.True(int.TryParse(File.ReadAllText(pidFile), out int written) && written > 0, $"pid file holds \"{File.ReadAllText(pidFile)}\"");
        s.Delete(id);
        s.AssertNothingLeaked();
    }

    [Fact]
    public void A_new_state_root_is_private()
    {
        string root = Path.Combine(_dir, "missing", "root");
        using var bundle = new Bundle();
        var id = ContainerIds.New("priv");
        HuskCli.Run("--root", root, "run", "--bundle", bundle.Dir, id).AssertSuccess();
        Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(root));
        Assert.Equal((UnixFileMode)0b111_000_000, File.GetUnixFileMode(Path.GetDirectoryName(root)!));
    }
}
