using System.Buffers.Binary;
using System.Text;
using Husk.Container;
using Husk.Linux;

namespace Husk.Vm;

/// <summary>
/// Husk as a VM guest's PID 1 (the kernel runs the initramfs's /init, which is this binary):
/// mounts /proc, /sys, /dev and cgroup2, loads the virtio and virtio-fs modules, mounts the
/// container's rootfs and bind sources shared by the host, reads the container's id and config.json from the
/// control port, and runs the container with Husk's usual create/start path (namespaces,
/// mounts, seccomp, capabilities, rlimits: the same defences again, inside the guest). The
/// workload's stdio are the stdio/stderr ports; its exit code goes back on the control port,
/// then the guest powers off.
/// </summary>
public static class GuestInit
{
    /// <summary>
    /// The host's share (one virtio-fs tag): the rootfs under <see cref="SharedRootfs"/>, and each
    /// bind source of the spec under <see cref="SharedBinds"/>/N, where the guest's create binds from.
    /// </summary>
    public const string ShareTag = "share", ShareMount = "/share", SharedRootfs = ShareMount + "/rootfs",
        SharedBinds = ShareMount + "/binds", BundleDirectory = "/bundle";

    /// <summary>The kernel starts the initramfs's /init as PID 1 with argv[0] "/init"; nothing else does.</summary>
    public static bool IsGuestPid1 =>
        Environment.ProcessId == 1 && Environment.GetCommandLineArgs() is [ "/init", ..];

    /// <summary>Set when the host has read the last report ("bye") or is gone: only then may the guest power off.</summary>
    static readonly ManualResetEventSlim s_hostDone = new();
    static int s_relaying;
    /// <summary>The container's pty master, when it has a terminal: the host's window size is set on it.</summary>
    static int s_terminal = -1;

    public static int Run()
    {
        int control = -1;
        try
        {
            MountBasics();
            LoadModules();
            SwitchRoot();
            var ports = WaitForPorts(QemuCommand.Ports);
            control = Native.Check(Native.open(ports[QemuCommand.ControlPort], Native.O_RDWR | Native.O_CLOEXEC, 0), "open control port");
            string id = Encoding.UTF8.GetString(VmControl.ReadFrame(control) ?? throw new HuskException("no container id from the host"));
            byte[] config = VmControl.ReadFrame(control) ?? throw new HuskException("no config.json from the host");
            Native.Check(Native.mount(ShareTag, ShareMount, "virtiofs", 0, null), $"mount virtio-fs {ShareTag}");
            File.WriteAllBytes(Path.Combine(BundleDirectory, "config.json"), config);
            RedirectStdio(ports);
            // The container is created as on a host; the host's monitor reports ready when it is.
            var store = new StateStore("/run/husk");
            // A terminal: the container's pty master comes here, and is relayed to the stdio ports.
            var terminal = Spec.SpecJson.Parse(config).Process?.Terminal == true ? TerminalRelay.NewConsoleSocketPair() : default;
            var container = Creator.Create(store, new CreateOptions { Id = id, Bundle = BundleDirectory, ConsoleSocketFd = terminal.Child?.Fd ?? -1 });
            if (terminal.Parent is { } parent)
            {
                terminal.Child!.Dispose();
                s_terminal = TerminalRelay.Receive(parent);
                TerminalRelay.Start(s_terminal);
            }
            VmControl.WriteLine(control, "created");
            // Until start, the host may already send the terminal's size (its client sets it after create).
            while (true)
            {
                var frame = VmControl.ReadFrame(control) ?? throw new HuskException("the host's monitor went away before start");
                var text = Encoding.UTF8.GetString(frame);
                if (text == "start") break;
                if (!WindowSize(text)) throw new HuskException($"the host's monitor sent \"{text}\" before start");
            }
            Operations.Start(store, id);
            VmControl.WriteLine(control, "started");
            // Signals the host's husk received, for the workload: to this process, which forwards them.
            StartRelaying(control);
            // Execs run as children of this process: its wait hands their statuses over.
            var execs = new System.Collections.Concurrent.ConcurrentDictionary<int, Action<int>>();
            VmExec.ServeGuest(Native.Check(Native.open(ports[QemuCommand.ExecPort], Native.O_RDWR | Native.O_CLOEXEC, 0), "open exec port"), id, execs);
            int code = Cleanup.ExitCode(Foreground.WaitForwardingSignals(container.Record.Pid, (pid, status) =>
            {
                lock (execs)
                    if (execs.TryRemove(pid, out var exited)) exited(status);
            }));
            VmControl.WriteLine(control, $"exit {code}");
        }
        catch (Exception e)
        {
            var message = e is HuskException ? e.Message : $"guest init: {e.GetType().Name}: {e.Message}";
            Console.Error.WriteLine($"husk guest: {message}");
            if (control >= 0) try { VmControl.WriteLine(control, $"error {message.ReplaceLineEndings(" ")}"); } catch (HuskException) { }
        }
        // What was written to a port may still be in the virtqueue: power off once the host has it.
        if (control >= 0)
        {
            StartRelaying(control);
            s_hostDone.Wait(TimeSpan.FromSeconds(5));
        }
        PowerOff();
        return 1;
    }

    static void StartRelaying(int control)
    {
        if (Interlocked.Exchange(ref s_relaying, 1) == 0)
            new Thread(() => RelaySignals(control)) { IsBackground = true }.Start();
    }

    static void MountBasics()
    {
        Native.Check(Native.mount("proc", "/proc", "proc", Native.MS_NOSUID | Native.MS_NODEV | Native.MS_NOEXEC, null), "mount /proc");
        Native.Check(Native.mount("sysfs", "/sys", "sysfs", Native.MS_NOSUID | Native.MS_NODEV | Native.MS_NOEXEC, null), "mount /sys");
        Native.Check(Native.mount("devtmpfs", "/dev", "devtmpfs", Native.MS_NOSUID, null), "mount /dev");
        Native.Check(Native.mount("cgroup2", "/sys/fs/cgroup", "cgroup2", Native.MS_NOSUID | Native.MS_NODEV | Native.MS_NOEXEC, null), "mount cgroup2");
        Native.Check(Native.mount("tmpfs", "/run", "tmpfs", Native.MS_NOSUID | Native.MS_NODEV, "mode=755"), "mount /run");
    }

    /// <summary>
    /// Moves to a tmpfs root, as switch_root does: the initramfs is the root mount itself, which
    /// pivot_root cannot leave, and the container's create pivots into its rootfs as on a host.
    /// The mounts move.
    /// </summary>
    static void SwitchRoot()
    {
        const string newRoot = "/sysroot";
        Directory.CreateDirectory(newRoot);
        Native.Check(Native.mount("tmpfs", newRoot, "tmpfs", 0, "mode=755"), "mount the guest's root tmpfs");
        foreach (var dir in Initramfs.RootDirectories) Directory.CreateDirectory(newRoot + "/" + dir);
        foreach (var mount in new[] { "/proc", "/sys", "/dev", "/run" })
            Native.Check(Native.mount(mount, newRoot + mount, null, Native.MS_MOVE, null), $"move {mount}");
        Native.Check(Native.chdir(newRoot), "chdir to the guest's root");
        Native.Check(Native.mount(".", "/", null, Native.MS_MOVE, null), "move the guest's root");
        Native.Check(Native.chroot("."), "chroot to the guest's root");
        Native.Check(Native.chdir("/"), "chdir /");
    }

    /// <summary>The modules of the initramfs, in the order their names sort (Initramfs numbers them).</summary>
    static void LoadModules()
    {
        foreach (var file in Directory.GetFiles(Initramfs.ModulesDirectory, "*.ko").Order(StringComparer.Ordinal))
        {
            int fd = Native.Check(Native.open(file, Native.O_RDONLY | Native.O_CLOEXEC, 0), $"open {file}");
            try
            {
                if (Native.finit_module(fd) < 0 && Native.Errno != Native.EEXIST)
                    throw new KernelException($"load module {Path.GetFileName(file)}", Native.Errno);
            }
            finally { Native.close(fd); }
        }
    }

    /// <summary>The /dev nodes of the named virtio-serial ports, once the driver has made them all.</summary>
    static Dictionary<string, string> WaitForPorts(string[] names)
    {
        var deadline = Environment.TickCount64 + 10_000;
        while (true)
        {
            var found = new Dictionary<string, string>();
            if (Directory.Exists("/sys/class/virtio-ports"))
                foreach (var port in Directory.GetDirectories("/sys/class/virtio-ports"))
                {
                    // A port's directory can appear before its name does: looked at again on the next round.
                    string name;
                    try { name = File.ReadAllText(Path.Combine(port, "name")).Trim(); }
                    catch (IOException) { continue; }
                    var node = Path.Combine("/dev", Path.GetFileName(port));
                    if (names.Contains(name) && File.Exists(node)) found[name] = node;
                }
            if (found.Count == names.Length) return found;
            if (Environment.TickCount64 > deadline)
                throw new HuskException($"virtio-serial ports missing: {string.Join(", ", names.Except(found.Keys))}");
            Thread.Sleep(5);
        }
    }

    static void RedirectStdio(Dictionary<string, string> ports)
    {
        foreach (var (port, fd, flags) in new[] { (QemuCommand.StdinPort, 0, Native.O_RDONLY), (QemuCommand.StdoutPort, 1, Native.O_WRONLY), (QemuCommand.StderrPort, 2, Native.O_WRONLY) })
        {
            int opened = Native.Check(Native.open(ports[port], flags, 0), $"open {port}");
            Native.Check(Native.dup2(opened, fd), $"dup2 {port}");
            Native.close(opened);
        }
    }

    /// <summary>
    /// Frames from the host after start: "signal N", sent to this process (PID 1 takes only the
    /// signals it handles, as `run` does), "winsize ROWS COLS" for the container's pty, and "bye"
    /// once it has read the last report. The port
    /// closes when the host's husk is gone (killed): nobody waits for the workload then, and the
    /// guest powers off, which ends QEMU and virtiofsd.
    /// </summary>
    static void RelaySignals(int control)
    {
        try
        {
            while (VmControl.ReadFrame(control) is { } frame)
            {
                var text = Encoding.UTF8.GetString(frame);
                if (text == "bye") break;
                WindowSize(text);
                if (text.StartsWith("signal ", StringComparison.Ordinal) && int.TryParse(text[7..], out int sig))
                    Native.kill(1, sig);
            }
        }
        catch (HuskException) { }
        s_hostDone.Set();
        PowerOff();
    }

    /// <summary>"winsize ROWS COLS" from the host: set on the container's pty. False when <paramref name="frame"/> is something else.</summary>
    static unsafe bool WindowSize(string frame)
    {
        if (!frame.StartsWith("winsize ", StringComparison.Ordinal) || frame.Split(' ') is not [_, var rows, var cols]
            || !ushort.TryParse(rows, out var r) || !ushort.TryParse(cols, out var c))
            return false;
        var ws = new Native.WinSize { Rows = r, Cols = c };
        if (s_terminal >= 0) Native.ioctl(s_terminal, Native.TIOCSWINSZ, &ws);
        return true;
    }

    static void PowerOff()
    {
        Native.sync();
        Native.reboot(Native.RB_POWER_OFF);
    }
}

/// <summary>The control port's framing between host and guest: length-prefixed frames host → guest, lines guest → host.</summary>
public static class VmControl
{
    static readonly Lock s_writing = new();

    /// <summary>
    /// One frame, whole: frames are written from more than one thread (the size of a terminal from
    /// the SIGWINCH handler while the main thread sends "start"), and two interleaved would leave the
    /// guest reading one frame's length with the other's bytes.
    /// </summary>
    public static void WriteFrame(int fd, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(4));
        lock (s_writing) Native.WriteAll(fd, frame, "VM control port");
    }

    /// <summary>The next frame; null at end of file.</summary>
    public static byte[]? ReadFrame(int fd)
    {
        Span<byte> len = stackalloc byte[4];
        if (!Native.ReadExact(fd, len, "VM control port")) return null;
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(len);
        if (n > 16 << 20) throw new HuskException("VM control port: frame too large");
        var payload = new byte[n];
        if (n > 0 && !Native.ReadExact(fd, payload, "VM control port")) return null;
        return payload;
    }

    public static void WriteLine(int fd, string line) => Native.WriteAll(fd, Encoding.UTF8.GetBytes(line + "\n"), "VM control port");
}
