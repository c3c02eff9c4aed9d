using Husk.Linux;
using Husk.Rootfs;
using Husk.Spec;
using Husk.Tests.Linux;
using Xunit;
using static Husk.Linux.Native;
using OciSpec = Husk.Spec.Spec;

namespace Husk.Tests.Rootfs;

/// <summary>
/// The mounts the init makes for a spec, against the recording kernel (youki's rootfs tests): which
/// calls, with which flags, in which order, and what happens when the kernel refuses one.
/// The rootfs is at /r; fds are shown as the paths they were opened at.
/// </summary>
public class RootfsSetupTests
{
    static OciSpec Spec(params Mount[] mounts) => new()
    {
        Root = new Root { Path = "/r", Readonly = true },
        Mounts = [.. mounts],
    };

    static readonly Mount Proc = new() { Destination = "/proc", Type = "proc", Source = "proc", Options = ["nosuid", "noexec", "nodev"] };
    static readonly Mount DevTmpfs = new() { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] };
    static readonly Mount DataRbind = new() { Destination = "/data", Type = "bind", Source = "/srv/data", Options = ["rbind", "rw"] };
    static readonly Mount HostsReadonly = new() { Destination = "/etc/hosts", Type = "bind", Source = "/etc/hosts", Options = ["bind", "ro", "nosuid"] };

    static RecordingKernel Kernel()
    {
        var kernel = new RecordingKernel();
        kernel.Files["/etc/hosts"] = (S_IFREG, 0, 0);
        kernel.Files["/proc/kcore"] = (0, 0, 0);   // no /dev/core link
        return kernel;
    }

    static List<string> Prepare(RecordingKernel kernel, OciSpec spec, RootfsOptions? options = null)
    {
        new RootfsSetup(kernel).Prepare(spec, "/r", options ?? new RootfsOptions(), beforePivot: () => kernel.Calls.Add("createContainer hooks"));
        Assert.Empty(kernel.OpenFds);   // every fd opened on the way is closed
        return kernel.Only("mount", "open_tree", "mount_setattr", "move_mount", "pivot_root", "umount2", "chdir", "fchdir", "createContainer hooks");
    }

    [Fact]
    public void MountSequenceForARepresentativeSpec()
    {
        var calls = Prepare(Kernel(), Spec(Proc, DevTmpfs, DataRbind, HostsReadonly));
        Assert.Equal(
        [
            // Our copy of the host's mounts sends nothing back; the rootfs becomes a mount point.
            "mount(-, /, -, MS_REC|MS_SLAVE, -)",
            "mount(/r, /r, bind, MS_BIND|MS_REC, -)",
            // The spec's mounts in order, each onto an fd resolved inside the rootfs.
            "mount(proc, </r/proc>, proc, MS_NOSUID|MS_NODEV|MS_NOEXEC, -)",
            "mount(tmpfs, </r/dev>, tmpfs, MS_NOSUID|MS_STRICTATIME, mode=755,size=65536k)",
            // Binds: a detached clone gets its attributes before it is attached.
            "open_tree(</srv/data>, recursive)",
            "mount_setattr(<clone of /srv/data>, 0, clear RDONLY)",
            "move_mount(<clone of /srv/data>, </r/data>)",
            "open_tree(</etc/hosts>)",
            "mount_setattr(<clone of /etc/hosts>, RDONLY|NOSUID, clear 0)",
            "move_mount(<clone of /etc/hosts>, </r/etc/hosts>)",
            // Hooks run from the rootfs, then pivot_root(".", ".") and the old root detached.
            "chdir(/r)",
            "createContainer hooks",
            "fchdir(</r>)",
            "pivot_root(., .)",
            "fchdir(</>)",
            "mount(-, ., -, MS_REC|MS_SLAVE, -)",
            "umount2(., MNT_DETACH)",
            "chdir(/)",
            // root.readonly, last.
            "mount(-, /, -, MS_RDONLY|MS_REMOUNT|MS_BIND, -)",
        ], calls);
    }

    [Fact]
    public void OnAKernelWithoutTheNewMountApiAReadonlyBindIsRemounted()
    {
        var kernel = Kernel().Fail("open_tree", ENOSYS, times: int.MaxValue);
        var calls = Prepare(kernel, Spec(HostsReadonly));
        Assert.Equal(
        [
            "mount(</etc/hosts>, </r/etc/hosts>, -, MS_BIND, -)",
            // mount(2) ignores ro and nosuid with MS_BIND: a remount of the new mount sets them.
            "mount(-, </r/etc/hosts>, -, MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND, -)",
        ], calls.Where(c => c.Contains("hosts", StringComparison.Ordinal) && c.StartsWith("mount(", StringComparison.Ordinal)));
    }

    [Fact]
    public void RemountRefusedWithEPERMIsRetriedKeepingTheLockedFlags()
    {
        // In a user namespace the flags the outer namespace set are locked: a remount that would
        // clear nodev, noexec or the atime mode is refused, and runc retries with them kept.
        var kernel = Kernel().Fail("open_tree", ENOSYS, times: int.MaxValue)
            .Fail("mount(-, </r/etc/hosts>, -, MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND, -)", EPERM);
        kernel.MountFlagsAt["/r/etc/hosts"] = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME;
        var calls = Prepare(kernel, Spec(HostsReadonly));
        Assert.Equal(
        [
            "mount(</etc/hosts>, </r/etc/hosts>, -, MS_BIND, -)",
            "mount(-, </r/etc/hosts>, -, MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND, -) = EPERM",
            "mount(-, </r/etc/hosts>, -, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND|MS_RELATIME, -)",
        ], calls.Where(c => c.Contains("hosts", StringComparison.Ordinal) && c.StartsWith("mount(", StringComparison.Ordinal)));
    }

    [Fact]
    public void RemountRefusedWithAnotherErrorIsNotRetried()
    {
        var kernel = Kernel().Fail("open_tree", ENOSYS, times: int.MaxValue)
            .Fail("mount(-, </r/etc/hosts>, -, MS_RDONLY|MS_NOSUID|MS_REMOUNT|MS_BIND, -)", EINVAL);
        var e = Assert.Throws<KernelException>(() => new RootfsSetup(kernel).Prepare(Spec(HostsReadonly), "/r", new RootfsOptions(), () => { }));
        Assert.Equal("mount /etc/hosts to /etc/hosts: Invalid argument", e.Message);
        Assert.Empty(kernel.OpenFds);
    }

    [Fact]
    public void SysfsRefusedInAUserNamespaceBecomesARestrictedBindOfTheHostsSys()
    {
        var sys = new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] };
        var kernel = Kernel().Fail("mount(sysfs", EPERM);
        var calls = Prepare(kernel, Spec(sys), new RootfsOptions { InUserNamespace = true });
        Assert.Equal(
        [
            "mount(sysfs, </r/sys>, sysfs, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC, -) = EPERM",
            "open_tree(</sys>, recursive)",
            "mount_setattr(<clone of /sys>, RDONLY|NOSUID|NODEV|NOEXEC, clear 0)",
            // The host's submounts of /sys come along: restricted too.
            "mount_setattr(<clone of /sys>, RDONLY|NOSUID|NODEV|NOEXEC, clear 0, recursive)",
            "move_mount(<clone of /sys>, </r/sys>)",
        ], calls[2..7]);
    }

    [Fact]
    public void SysfsRefusedOutsideAUserNamespaceIsAnError()
    {
        var sys = new Mount { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["ro"] };
        var kernel = Kernel().Fail("mount(sysfs", EPERM);
        var e = Assert.Throws<KernelException>(() => new RootfsSetup(kernel).Prepare(Spec(sys), "/r", new RootfsOptions(), () => { }));
        Assert.Equal("mount sysfs to /sys: Operation not permitted", e.Message);
    }

    [Fact]
    public void ReadonlyRootRefusedKeepsTheFlagsItHas()
    {
        var kernel = Kernel().Fail("mount(-, /, -, MS_RDONLY|MS_REMOUNT|MS_BIND, -)", EPERM);
        kernel.MountFlagsAt["/"] = MS_NOSUID | MS_NODEV | MS_RELATIME;
        var calls = Prepare(kernel, Spec());
        Assert.Equal(
        [
            "mount(-, /, -, MS_RDONLY|MS_REMOUNT|MS_BIND, -) = EPERM",
            "mount(-, /, -, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_REMOUNT|MS_BIND|MS_RELATIME, -)",
        ], calls[^2..]);
    }

    [Fact]
    public void DeviceNodesAreBoundFromTheHostWhereMknodIsRefused()
    {
        var kernel = Kernel().Fail("mknodat(</r/dev>, null,", EPERM);
        Prepare(kernel, Spec(DevTmpfs));
        int refused = kernel.Calls.IndexOf(kernel.Calls.First(c => c.StartsWith("mknodat(</r/dev>, null,", StringComparison.Ordinal)));
        Assert.EndsWith(" = EPERM", kernel.Calls[refused]);
        Assert.Equal("open(/dev/null)", kernel.Calls[refused + 1]);
        Assert.Contains("mount(</dev/null>, </r/dev/null>, -, MS_BIND, -)", kernel.Calls.Skip(refused));
        // The others are made, and given their owner; umask 0 around them so their modes are exact.
        Assert.Contains("fchownat(</r/dev>, zero, 0, 0)", kernel.Calls);
        Assert.Equal("umask(0)", kernel.Calls.First(c => c.StartsWith("umask", StringComparison.Ordinal)));
        Assert.Contains("symlinkat(/proc/self/fd, </r/dev>, fd)", kernel.Calls);
    }

    [Fact]
    public void WithoutPivotTheHostsProcAndSysAreDetachedOrCoveredBeforeTheMoveAndChroot()
    {
        var kernel = Kernel().Fail("umount2(/sys", EPERM);
        kernel.HostFiles["/proc/self/mountinfo"] =
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n" +
            "2 1 0:5 / /proc rw - proc proc rw\n" +
            "3 1 0:6 / /sys rw - sysfs sysfs rw\n" +
            "4 1 0:5 / /r/proc rw - proc proc rw\n";
        var calls = Prepare(kernel, Spec(), new RootfsOptions { NoPivot = true });
        Assert.Equal(
        [
            "chdir(/r)",
            "mount(-, /proc, -, MS_REC|MS_SLAVE, -)",
            "umount2(/proc, MNT_DETACH)",
            "mount(-, /sys, -, MS_REC|MS_SLAVE, -)",
            "umount2(/sys, MNT_DETACH) = EPERM",
            "mount(tmpfs, /sys, tmpfs, 0, -)",
            "mount(/r, /, -, MS_MOVE, -)",
            "chdir(/)",
        ], calls.SkipWhile(c => c != "createContainer hooks").Skip(1).SkipLast(1));
        Assert.Contains("chroot(.)", kernel.Calls);
    }

    // ---- readonly and masked paths (after the pivot: the root is "/") ----

    static RecordingKernel AfterPivot()
    {
        var kernel = new RecordingKernel();
        kernel.Files["/dev/null"] = (S_IFCHR, 1, 3);
        kernel.Files["/proc/kcore"] = (S_IFREG, 0, 0);
        kernel.Files["/proc/missing"] = (0, 0, 0);
        return kernel;
    }

    [Fact]
    public void MaskedPathsGetDevNullOverAFileAndAnEmptyReadonlyTmpfsOverADirectory()
    {
        var kernel = AfterPivot();
        new RootfsSetup(kernel).ApplyMaskedPaths(["/proc/kcore", "/proc/missing", "/proc/acpi"]);
        Assert.Equal(
        [
            "open_tree(</dev/null>)",
            "move_mount(<clone of /dev/null>, </proc/kcore>)",
            "fsopen(tmpfs)",
            "fsconfig(<fs tmpfs>, 6)",
            "fsmount(<fs tmpfs>, RDONLY)",
            "move_mount(<mount of fs tmpfs>, </proc/acpi>)",
        ], kernel.Only("mount", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount"));
        Assert.Empty(kernel.OpenFds);
    }

    [Fact]
    public void MaskedPathsOnAnOldKernelAreMountedThroughTheFdPaths()
    {
        var kernel = AfterPivot().Fail("open_tree", ENOSYS).Fail("fsopen", ENOSYS);
        new RootfsSetup(kernel).ApplyMaskedPaths(["/proc/kcore", "/proc/acpi"]);
        Assert.Equal(
        [
            "mount(</dev/null>, </proc/kcore>, -, MS_BIND, -)",
            "mount(tmpfs, </proc/acpi>, tmpfs, MS_RDONLY, -)",
        ], kernel.Only("mount"));
        Assert.Empty(kernel.OpenFds);
    }

    [Fact]
    public void AMaskIsNeverTakenFromADevNullThatIsNotTheNullDevice()
    {
        var kernel = AfterPivot();
        kernel.Files["/dev/null"] = (S_IFREG, 0, 0);   // the image replaced it with a file it can write
        var e = Assert.Throws<HuskException>(() => new RootfsSetup(kernel).ApplyMaskedPaths(["/proc/kcore"]));
        Assert.Equal("masked paths: /dev/null is not the null device (char 1:3)", e.Message);
        Assert.Empty(kernel.Only("mount", "move_mount"));
        Assert.Empty(kernel.OpenFds);
    }

    [Fact]
    public void ASymlinkAsMaskedOrReadonlyPathIsRefused()
    {
        var kernel = AfterPivot();
        kernel.Files["/proc/link"] = (S_IFLNK, 0, 0);
        var e = Assert.Throws<HuskException>(() => new RootfsSetup(kernel).ApplyReadonlyPaths(["/proc/link"]));
        Assert.Equal("readonly path /proc/link: is a symbolic link, refusing to follow it", e.Message);
        Assert.Empty(kernel.OpenFds);
    }

    [Fact]
    public void ReadonlyPathsAreMadeReadonlyBeforeTheyAreAttached()
    {
        var kernel = AfterPivot();
        new RootfsSetup(kernel).ApplyReadonlyPaths(["/proc/sys", "/proc/missing"]);
        Assert.Equal(
        [
            "open_tree(</proc/sys>, recursive)",
            "mount_setattr(<clone of /proc/sys>, RDONLY|NOSUID|NODEV|NOEXEC, clear 0, recursive)",
            "move_mount(<clone of /proc/sys>, </proc/sys>)",
        ], kernel.Only("mount", "open_tree", "mount_setattr", "move_mount"));
        Assert.Empty(kernel.OpenFds);
    }

    [Fact]
    public void ReadonlyPathsOnAnOldKernelAreBoundAndRemounted()
    {
        var kernel = AfterPivot().Fail("open_tree", ENOSYS);
        new RootfsSetup(kernel).ApplyReadonlyPaths(["/proc/sys"]);
        Assert.Equal(
        [
            "mount(</proc/sys>, </proc/sys>, -, MS_BIND|MS_REC, -)",
            "mount(-, </proc/sys>, -, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC|MS_REMOUNT|MS_BIND, -)",
        ], kernel.Only("mount"));
    }
}
