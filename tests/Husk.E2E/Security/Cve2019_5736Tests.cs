using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// CVE-2019-5736: a container process overwrote runc on the host through /proc/&lt;runc&gt;/exe of a
/// runc process that had entered the container. Husk's init runs from an unwritable copy of husk:
/// the file opened through a detached read-only overlayfs (shown as "/husk"), or a sealed memfd.
/// The attack runs against a private copy of the husk binary, so a successful one would not
/// corrupt the binary other tests use.
/// </summary>
[Collection(SecurityCollection.Name)]
public class Cve2019_5736Tests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("husk-5736-").FullName;
    readonly string _husk;

    public Cve2019_5736Tests()
    {
        _husk = Path.Combine(_dir, "husk");
        File.Copy(HuskCli.BinaryPath, _husk);
        File.SetUnixFileMode(_husk, (UnixFileMode)0b111_101_101);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    Result Husk(Sandbox s, params string[] args) => ProcessRunner.Run(_husk, ["--root", s.Root.Path, .. args], new RunOptions());

    [Fact]
    public async Task A_container_process_cannot_overwrite_the_runtime_through_proc_pid_exe()
    {
        string before = Attack.Sha256(_husk);
        using var s = new Sandbox("sleep", "1000");
        s.Config["root"]!["readonly"] = false;
        s.Bundle.Save();
        string id = s.NewId();
        Husk(s, "create", "--bundle", s.Bundle.Dir, id).AssertSuccess("husk create");
        int pid = Attack.InitPid(s, id);

        // The init, still husk and waiting for start, runs from the unwritable copy, not from the host file.
        string exe = new FileInfo($"/proc/{pid}/exe").LinkTarget ?? "";

        // An attacker inside the container (its mount and pid namespaces, its root): write to the
        // init's exe now, keep an fd on it, and write through that fd once the init has exec'd
        // the program (when ETXTBSY no longer protects a plain file).
        var attacker = Task.Run(() => ProcessRunner.Run("nsenter",
            ["--target", pid.ToString(), "--mount", "--pid", "--ipc", "--uts", "--root", "--wd", "--",
             "/bin/sh", "-c",
             "readlink /proc/1/exe; { echo pwned >> /proc/1/exe; } 2>/dev/null; echo now=$?; exec 3</proc/1/exe || exit 9; " +
             "i=0; while [ ! -e /tmp/go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; " +
             "{ echo pwned >> /proc/self/fd/3; } 2>/dev/null; echo later=$?; " +
             "{ echo pwned > /proc/self/fd/3; } 2>/dev/null; echo truncate=$?"],
            new RunOptions { Timeout = TimeSpan.FromSeconds(30) }));
        Thread.Sleep(300);
        Husk(s, "start", id).AssertSuccess("husk start");
        File.WriteAllText(s.Bundle.HostPath("/tmp/go"), "");
        var r = (await attacker).AssertSuccess("the attacker script");

        Assert.Equal(before, Attack.Sha256(_husk));
        Assert.DoesNotContain("now=0", r.Stdout);
        Assert.DoesNotContain("later=0", r.Stdout);
        Assert.DoesNotContain("truncate=0", r.Stdout);
        Assert.True(exe == "/husk" || exe.StartsWith("/memfd:husk", StringComparison.Ordinal), $"the init runs from {exe}");
        Assert.DoesNotContain(_dir, r.Stdout);

        Husk(s, "delete", "--force", id).AssertSuccess();
        s.AssertNothingLeaked();
    }

    [Fact]
    public async Task Shebang_to_proc_self_exe_re_executes_only_the_sealed_copy()
    {
        // The original exploit: the container's program is a script whose interpreter is
        // /proc/self/exe, so the runtime re-executes itself as a container process, which the
        // container can then open. Here it can only reach the unwritable copy.
        string before = Attack.Sha256(_husk);
        using var s = new Sandbox("/evil");
        s.Config["root"]!["readonly"] = false;
        s.Bundle.WriteFile("/evil", "#!/proc/self/exe\n");
        File.SetUnixFileMode(s.Bundle.HostPath("/evil"), (UnixFileMode)0b111_101_101);
        s.Bundle.Save();
        string id = s.NewId();
        Husk(s, "create", "--bundle", s.Bundle.Dir, id).AssertSuccess("husk create");
        int pid = Attack.InitPid(s, id);
        var watcher = Task.Run(() =>
        {
            // Every exe the init's pid shows until it is gone: husk waiting for start, then the
            // runtime re-executed through the shebang.
            var seen = new List<string>();
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (DateTime.UtcNow < deadline)
            {
                string? target;
                try { target = new FileInfo($"/proc/{pid}/exe").LinkTarget; }
                catch (IOException) { break; }
                catch (UnauthorizedAccessException) { break; }
                if (target is null) break;
                if (!seen.Contains(target)) seen.Add(target);
                Thread.Sleep(1);
            }
            return seen;
        });
        Husk(s, "start", id);
        var seen = await watcher;
        Assert.NotEmpty(seen);
        Assert.All(seen, t => Assert.False(t.StartsWith(_dir, StringComparison.Ordinal), $"a process of the container ran the host binary: {t}"));
        Assert.Equal(before, Attack.Sha256(_husk));
        Husk(s, "delete", "--force", id);
        s.AssertNothingLeaked();
    }
}
