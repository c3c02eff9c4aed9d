using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Namespaces;

/// <summary>The spec's mounts, as the container sees them (its mountinfo) and as the host does.</summary>
[Collection(IsolationCollection.Name)]
public class MountTests
{
    static void AddMount(Sandbox s, string destination, string type, string source, params string[] options)
    {
        var m = new JsonObject { ["destination"] = destination, ["type"] = type, ["source"] = source };
        if (options.Length > 0) m["options"] = new JsonArray(options.Select(o => (JsonNode?)JsonValue.Create(o)).ToArray());
        ((JsonArray)s.Config["mounts"]!).Add(m);
    }

    /// <summary>Runs the container with <paramref name="script"/> then `cat /proc/self/mountinfo`; returns (script output lines, mounts).</summary>
    static (string[] Lines, List<MountLine> Mounts) RunAndReadMounts(Sandbox s, string script)
    {
        s.Script(script + "; echo ===; cat /proc/self/mountinfo");
        var r = s.Run().AssertSuccess();
        int sep = Array.IndexOf(r.StdoutLines, "===");
        Assert.True(sep >= 0, r.ToString());
        return (r.StdoutLines[..sep], MountLine.ParseAll(string.Join('\n', r.StdoutLines[(sep + 1)..])));
    }

    [Fact]
    public void Bind_and_rbind_of_host_directories_with_ro_nosuid_nodev_noexec()
    {
        using var s = new Sandbox();
        var src = Directory.CreateDirectory(Path.Combine(s.Bundle.Dir, "hostdir")).FullName;
        File.WriteAllText(Path.Combine(src, "hello"), "from-host\n");
        File.WriteAllText(Path.Combine(src, "tool"), "#!/bin/sh\necho ran\n");
        File.SetUnixFileMode(Path.Combine(src, "tool"), (UnixFileMode)0b111_101_101);
        // A submount on the host: only rbind brings it along.
        var sub = Directory.CreateDirectory(Path.Combine(src, "sub")).FullName;
        ProcessRunner.Run("mount", "-t", "tmpfs", "-o", "size=1m", "husk-e2e-sub", sub).AssertSuccess();
        try
        {
            File.WriteAllText(Path.Combine(sub, "in-sub"), "sub\n");
            AddMount(s, "/mnt/ro", "bind", src, "bind", "ro", "nosuid", "nodev", "noexec");
            AddMount(s, "/mnt/rbind", "bind", src, "rbind", "rw");
            AddMount(s, "/mnt/plain", "bind", src, "bind");
            var (lines, mounts) = RunAndReadMounts(s,
                "cat /mnt/ro/hello; touch /mnt/ro/x 2>&1; /mnt/ro/tool 2>&1; echo exec-rc=$?; /mnt/rbind/tool; " +
                "cat /mnt/rbind/sub/in-sub; ls /mnt/plain/sub | wc -l; echo w > /mnt/rbind/written && echo wrote");
            Assert.Equal("from-host", lines[0]);
            Assert.Contains("Read-only file system", lines[1]);
            Assert.Contains("Permission denied", lines[2]); // noexec
            Assert.Equal("exec-rc=126", lines[3]);
            Assert.Equal("ran", lines[4]);
            Assert.Equal("sub", lines[5]);
            Assert.Equal("0", lines[6]); // a plain bind does not carry the submount
            Assert.Equal("wrote", lines[7]);
            Assert.Equal("w\n", File.ReadAllText(Path.Combine(src, "written")));

            var ro = MountLine.At(mounts, "/mnt/ro");
            foreach (var o in new[] { "ro", "nosuid", "nodev", "noexec" }) Assert.True(ro.Has(o), $"/mnt/ro lacks {o}: {ro}");
            Assert.True(MountLine.At(mounts, "/mnt/rbind").Has("rw"));
            Assert.Equal("tmpfs", MountLine.At(mounts, "/mnt/rbind/sub").FsType);
            Assert.DoesNotContain(mounts, m => m.MountPoint == "/mnt/plain/sub");
        }
        finally { Mounts.UnmountUnder(sub); }
        s.AssertNothingLeaked();
    }

    [Fact]
    public void A_bind_mount_of_a_missing_source_fails_cleanly_after_other_mounts_were_made()
    {
        using var s = new Sandbox();
        AddMount(s, "/scratch", "tmpfs", "tmpfs", "size=1m");
        AddMount(s, "/mnt/missing", "bind", Path.Combine(s.Bundle.Dir, "no-such-dir"), "rbind");
        var r = s.Run().AssertFailure();
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("no-such-dir", r.Stderr);
        Assert.Contains("No such file or directory", r.Stderr);
        Assert.Empty(s.Root.ListIds());
        Assert.Empty(Directory.GetDirectories(s.Root.Path));
        s.AssertNothingLeaked();
    }

    [Fact]
    public void A_file_bind_mount_shows_the_hosts_file()
    {
        using var s = new Sandbox();
        var file = Path.Combine(s.Bundle.Dir, "host-file.txt");
        File.WriteAllText(file, "single file\n");
        AddMount(s, "/etc/bound/file.txt", "bind", file, "rbind", "ro");
        var (lines, mounts) = RunAndReadMounts(s, "cat /etc/bound/file.txt; stat -c %F /etc/bound/file.txt");
        Assert.Equal(["single file", "regular file"], lines);
        Assert.True(MountLine.At(mounts, "/etc/bound/file.txt").Has("ro"));
        s.AssertNothingLeaked();
    }

    /// <summary>
    /// runc's userns.bats "userns with 2 inaccessible mounts" and "... + exec": bind sources under a
    /// directory that only the host's root may enter (0700), which the container's remapped root
    /// cannot traverse. `create` opens them for the init (BindSources), inside the init's mount
    /// namespace, so the binds are what they were for a reachable source: a slave of a shared host
    /// mount (not a peer: the container's mounts must not reach the host) whose read-only and
    /// nosuid flags the user namespace locked (a remount cannot clear them).
    /// </summary>
    [Fact]
    public void In_a_user_namespace_bind_sources_the_containers_root_cannot_reach_are_mounted()
    {
        using var s = new Sandbox();
        s.WithUserNamespace(100000).WithCapability("CAP_SYS_ADMIN");
        var locked = Directory.CreateDirectory(Path.Combine(s.Bundle.Dir, "locked")).FullName;
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var plain = Directory.CreateDirectory(Path.Combine(locked, "plain")).FullName;
        File.WriteAllText(Path.Combine(plain, "hello"), "plain\n");
        // The second source is a read-only, nosuid tmpfs of the host's, shared.
        var shared = Directory.CreateDirectory(Path.Combine(locked, "shared")).FullName;
        ProcessRunner.Run("mount", "-t", "tmpfs", "-o", "size=1m,nosuid", "husk-e2e-locked", shared).AssertSuccess();
        try
        {
            File.WriteAllText(Path.Combine(shared, "hello"), "shared\n");
            ProcessRunner.Run("mount", "-o", "remount,ro", shared).AssertSuccess();
            ProcessRunner.Run("mount", "--make-shared", shared).AssertSuccess();
            AddMount(s, "/mnt/plain", "bind", plain, "bind");
            AddMount(s, "/mnt/shared", "bind", shared, "bind");
            // The container's root may not create them in the host root's rootfs (as in the bats test).
            foreach (var dest in new[] { "/mnt/plain", "/mnt/shared" }) Directory.CreateDirectory(s.Bundle.HostPath(dest));
            var (lines, mounts) = RunAndReadMounts(s,
                "cat /mnt/plain/hello /mnt/shared/hello; mount -o remount,bind,rw /mnt/shared 2>/dev/null; echo rw-rc=$?; " +
                "mount -o remount,bind,suid,ro /mnt/shared 2>/dev/null; echo suid-rc=$?");
            Assert.Equal(["plain", "shared", "rw-rc=1", "suid-rc=1"], lines);
            var bound = MountLine.At(mounts, "/mnt/shared");
            Assert.True(bound.Has("ro") && bound.Has("nosuid"), bound.ToString());
            Assert.StartsWith("master:", bound.Propagation);
            Assert.DoesNotContain("shared:", bound.Propagation);

            // exec joins the running container and sees both.
            s.Script("exec sleep 1000");
            int pid = s.StartDetached(out var id);
            var r = s.Root.Run("exec", id, "cat", "/mnt/plain/hello", "/mnt/shared/hello").AssertSuccess("husk exec");
            Assert.Equal(["plain", "shared"], r.StdoutLines);
            Assert.Equal("100000", HostProc.Status(pid, "Uid").Split('\t')[0]);
            s.Delete(id);
        }
        finally { Mounts.UnmountUnder(shared); }
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Tmpfs_honours_size_and_mode()
    {
        using var s = new Sandbox();
        AddMount(s, "/scratch", "tmpfs", "tmpfs", "nosuid", "size=2m", "mode=0710");
        var (lines, mounts) = RunAndReadMounts(s, "stat -c %a /scratch; df -k /scratch | tail -1 | awk '{print $2}'");
        Assert.Equal("710", lines[0]);
        Assert.Equal("2048", lines[1]);
        var m = MountLine.At(mounts, "/scratch");
        Assert.Equal("tmpfs", m.FsType);
        Assert.True(m.HasSuper("size=2048k"), m.ToString());
        Assert.True(m.HasSuper("mode=710"), m.ToString());
        Assert.True(m.Has("nosuid"));
        s.AssertNothingLeaked();
    }

    [Fact]
    public void Proc_sysfs_devpts_mqueue_have_their_types_and_options()
    {
        using var s = new Sandbox();
        var (lines, mounts) = RunAndReadMounts(s,
            "touch /sys/kernel/x 2>&1; stat -c %a /dev/pts/ptmx; readlink /dev/ptmx; ls /dev/pts | wc -l");
        Assert.Contains("Read-only file system", lines[0]);
        Assert.Equal("666", lines[1]);          // ptmxmode=0666
        Assert.Equal("pts/ptmx", lines[2]);
        Assert.Equal("1", lines[3]);            // a new instance: only ptmx, none of the host's ptys

        Assert.Equal("proc", MountLine.At(mounts, "/proc").FsType);
        var sys = MountLine.At(mounts, "/sys");
        Assert.Equal("sysfs", sys.FsType);
        Assert.True(sys.Has("ro") && sys.Has("nosuid") && sys.Has("nodev") && sys.Has("noexec"), sys.ToString());
        var pts = MountLine.At(mounts, "/dev/pts");
        Assert.Equal("devpts", pts.FsType);
        Assert.True(pts.HasSuper("ptmxmode=666") && pts.HasSuper("mode=620") && pts.HasSuper("gid=5"), pts.ToString());
        var mq = MountLine.At(mounts, "/dev/mqueue");
        Assert.Equal("mqueue", mq.FsType);
        Assert.True(mq.Has("nosuid") && mq.Has("nodev") && mq.Has("noexec"), mq.ToString());

        // The devpts is not the host's: from the host, its device differs from /dev/pts.
        s.Script("exec sleep 1000");
        int pid = s.StartDetached(out var id);
        var inside = MountLine.At(MountLine.Of(pid), "/dev/pts");
        var host = MountLine.At(MountLine.Of(Environment.ProcessId), "/dev/pts");
        Assert.NotEqual(host.Dev, inside.Dev);
        s.Delete(id);
        s.AssertNothingLeaked();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Cgroup_mount_shows_only_the_containers_own_cgroups(bool cgroupNamespace)
    {
        HostFacts.Here.RequireV1();   // it looks at the pids hierarchy
        using var s = new Sandbox();
        if (cgroupNamespace) s.WithCgroupNamespace();
        else
        {
            var ns = s.Linux["namespaces"]!.AsArray();
            foreach (var n in ns.Where(n => (string?)n!["type"] == "cgroup").ToList()) ns.Remove(n);
        }
        var (lines, mounts) = RunAndReadMounts(s,
            "cat /sys/fs/cgroup/pids/cgroup.procs | tr '\\n' ' '; echo; ls -d /sys/fs/cgroup/pids/*/ 2>/dev/null | wc -l; ls /sys/fs/cgroup | tr '\\n' ' '; echo");
        // Our processes only (sh, cat, tr... all in the container's pid namespace), no child cgroups.
        Assert.StartsWith("1 ", lines[0]);
        Assert.Equal("0", lines[1]);
        foreach (var h in new[] { "pids", "memory", "cpu", "cpuacct", "devices" }) Assert.Contains(h, lines[2].Split(' '));
        var pids = MountLine.At(mounts, "/sys/fs/cgroup/pids");
        Assert.Equal("cgroup", pids.FsType);
        Assert.True(pids.Has("ro"), pids.ToString());

        // From the host, the container's pids hierarchy is rooted at its own cgroup.
        s.Script("exec sleep 1000");
        int pid = s.StartDetached(out var id);
        var hostView = MountLine.At(MountLine.Of(pid), "/sys/fs/cgroup/pids");
        Assert.Equal($"/husk/{id}", hostView.Root);
        Assert.Equal(HostCgroup(pid, "pids"), hostView.Root);
        s.Delete(id);
        s.AssertNothingLeaked();
    }

    static string HostCgroup(int pid, string controller) =>
        File.ReadLines($"/proc/{pid}/cgroup").Select(l => l.Split(':', 3)).First(f => f[1].Split(',').Contains(controller))[2];

    [Theory]
    [InlineData("/etc")]
    [InlineData("../../../../../../etc")]
    public void A_destination_through_a_symlink_pointing_outside_lands_inside_the_rootfs(string linkTarget)
    {
        using var s = new Sandbox();
        string marker = "husk-e2e-" + Guid.NewGuid().ToString("N")[..8];
        File.CreateSymbolicLink(s.Bundle.HostPath("/evil"), linkTarget);
        var hostFile = Path.Combine(s.Bundle.Dir, "payload");
        File.WriteAllText(hostFile, "payload\n");
        AddMount(s, $"/evil/{marker}", "tmpfs", "tmpfs", "size=1m");
        AddMount(s, $"/evil/{marker}.file", "bind", hostFile, "bind");
        var hostEtcBefore = Directory.GetFileSystemEntries("/etc").Order().ToList();

        var (lines, mounts) = RunAndReadMounts(s, $"ls -d /etc/{marker}; cat /etc/{marker}.file");
        Assert.Equal([$"/etc/{marker}", "payload"], lines);
        Assert.Equal("tmpfs", MountLine.At(mounts, $"/etc/{marker}").FsType);
        Assert.Contains(mounts, m => m.MountPoint == $"/etc/{marker}.file");

        // Created inside the rootfs, never in the host's /etc.
        Assert.True(Directory.Exists(s.Bundle.HostPath($"/etc/{marker}")), "the mount point was not made in the rootfs's /etc");
        Assert.False(Path.Exists($"/etc/{marker}"), $"the host's /etc/{marker} was created");
        Assert.False(Path.Exists($"/etc/{marker}.file"), $"the host's /etc/{marker}.file was created");
        Assert.Equal(hostEtcBefore, Directory.GetFileSystemEntries("/etc").Order().ToList());
        Assert.DoesNotContain(Mounts.MountPoints(), m => m.StartsWith("/etc/", StringComparison.Ordinal) && m.Contains(marker));
        s.AssertNothingLeaked();
    }
}
