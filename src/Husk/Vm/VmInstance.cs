using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Husk.Container;
using Husk.Linux;

namespace Husk.Vm;

/// <summary>
/// One container's VM, seen from the host: virtiofsd sharing the rootfs and QEMU booting the guest
/// kernel with Husk as its init (<see cref="GuestInit"/>), both children of this process (the
/// container's VM monitor, <see cref="VmMonitor"/>). It relays the workload's stdio between this
/// process's fds 0-2 and the guest's ports, passes signals on, and reads the guest's reports.
/// Disposing it kills and reaps what is left and removes its runtime directory.
/// </summary>
public sealed class VmInstance : IDisposable
{
    const int DefaultMemoryMiB = 256, GuestOverheadMiB = 128;

    readonly string _dir;
    readonly List<int> _hostEnds = [];
    readonly List<Thread> _relays = [];
    readonly List<PosixSignalRegistration> _signals = [];
    int _virtiofsd, _qemu, _execListener = -1, _terminal = -1;
    int Control => _hostEnds[0];

    VmInstance(string dir) => _dir = dir;

    /// <summary>Starts the VM and sends the guest the container's id and config.json (its rootfs the share).</summary>
    public static VmInstance Boot(VmMonitorConfig config)
    {
        var assets = GuestAssets.Find().Require();
        var spec = Spec.SpecJson.Parse(Encoding.UTF8.GetBytes(config.Spec));
        var dir = config.RuntimeDirectory;
        Native.Check(Native.mkdir(dir, 0x1c0), $"mkdir {dir}");
        var vm = new VmInstance(dir);
        try
        {
            var share = vm.Share(config.Rootfs, spec);
            // Inside the guest it is an ordinary container (its `create` and `exec` run as on a host).
            spec.Annotations[VmIsolation.Annotation] = "container";
            var fsSocket = Path.Combine(dir, "fs.sock");
            vm._virtiofsd = SpawnLogged(assets.Virtiofsd!, ["virtiofsd", $"--socket-path={fsSocket}", "-o", $"source={share}", "-o", "cache=auto"],
                Path.Combine(dir, "virtiofsd.log"), []);
            WaitForSocket(fsSocket, vm._virtiofsd);

            // One socket pair per port: QEMU gets one end at fds 3.., this process keeps the other.
            var ports = new List<(string, int)>();
            var childEnds = new List<(int, int)>();
            try
            {
                foreach (var name in QemuCommand.Ports)
                {
                    var pair = Native.SocketPair(Native.SOCK_STREAM, $"socketpair for {name}");
                    vm._hostEnds.Add(pair[0]);
                    childEnds.Add((pair[1], 3 + ports.Count));
                    ports.Add((name, 3 + ports.Count));
                }
                var plan = new VmPlan
                {
                    Kernel = assets.Kernel!, Initrd = config.Initrd, Kvm = assets.Kvm,
                    MemoryMiB = MemoryMiB(spec), Cpus = Cpus(spec), FsSocket = fsSocket, Ports = ports,
                    ConsoleLog = Path.Combine(dir, "console.log"), TscKhz = TscKhz(),
                };
                vm._qemu = SpawnLogged(assets.Qemu!, ["qemu-system-x86_64", .. QemuCommand.Arguments(plan)], Path.Combine(dir, "qemu.log"), childEnds);
            }
            finally { foreach (var (fd, _) in childEnds) Native.close(fd); }

            // The guest's copy of config.json: its rootfs and bind sources are in the share (Share).
            VmControl.WriteFrame(vm.Control, Encoding.UTF8.GetBytes(config.Id));
            VmControl.WriteFrame(vm.Control, Spec.SpecJson.SerializeToUtf8(spec));
            vm._execListener = Native.ListenUnix(Path.Combine(dir, VmExec.SocketName));
            VmExec.Serve(vm._execListener, vm._hostEnds[4]);
            // With a terminal the workload's stdin and stdout are the pty on the host (HostTerminal).
            int input = 0, output = 1;
            if (spec.Process!.Terminal) input = output = vm._terminal = vm.HostTerminal(Husk.Init.ContainerConsole.InheritedSocket(), spec.Process.ConsoleSize);
            vm._relays.Add(Relay(input, vm._hostEnds[1], closeTarget: true));
            vm._relays.Add(Relay(vm._hostEnds[2], output, closeTarget: false));
            vm._relays.Add(Relay(vm._hostEnds[3], 2, closeTarget: false));
            return vm;
        }
        catch
        {
            vm.Dispose();
            throw;
        }
    }

    /// <summary>How long a guest may take to boot and create its container (TCG is slow) before it is given up.</summary>
    static readonly TimeSpan CreateTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Waits for the guest's "created": its container waits for start. Throws the guest's error.</summary>
    public void AwaitCreated()
    {
        var report = ReadReport(CreateTimeout);
        if (report != "created") throw Failure(report);
    }

    /// <summary>
    /// Lets the workload run, and returns once the guest has started it (as `start` returns once
    /// the init has exec'd); from then on SIGINT, SIGTERM, SIGHUP and SIGQUIT this process gets go to it.
    /// </summary>
    public void Start()
    {
        // The terminal's size first: the workload starts with it.
        SendWindowSize();
        VmControl.WriteFrame(Control, "start"u8);
        var report = ReadReport();
        if (report != "started") throw Failure(report);
        foreach (var sig in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
            _signals.Add(PosixSignalRegistration.Create(sig, ctx =>
            {
                ctx.Cancel = true;
                try { VmControl.WriteFrame(Control, Encoding.UTF8.GetBytes($"signal {Signals.Number(ctx.Signal)}")); } catch (HuskException) { }
            }));
    }

    /// <summary>
    /// The pty of a workload with process.terminal (<see cref="OpenHostPty"/>), relayed to the
    /// guest, where the container gets a pty of its own. The slave is this process's stdio and
    /// controlling terminal, so the size its client sets on the master arrives as SIGWINCH and goes
    /// on to the guest, and create's pipes are not held open (the runc shim would wait for their end).
    /// </summary>
    unsafe int HostTerminal(int consoleSocket, Spec.Box? size)
    {
        int slave = OpenHostPty(consoleSocket, size);
        Native.EnsureSessionLeader();
        Native.ioctl(slave, Native.TIOCSCTTY, null);
        for (int fd = 0; fd <= 2; fd++) Native.Check(Native.dup2(slave, fd), $"dup2 the pty's slave onto fd {fd}");
        _signals.Add(PosixSignalRegistration.Create((PosixSignal)28 /* SIGWINCH */, ctx => { ctx.Cancel = true; SendWindowSize(); }));
        return slave;
    }

    /// <summary>
    /// A pty made on the host (the host's /dev/ptmx, not the container's: nothing of the container
    /// is reachable here), its master sent over <paramref name="consoleSocket"/> as an init sends it
    /// (then both are closed); returns the slave. For a VM workload or exec with process.terminal.
    /// </summary>
    public static unsafe int OpenHostPty(int consoleSocket, Spec.Box? size)
    {
        if (consoleSocket < 0) throw new HuskException("process.terminal is set but there is no console socket");
        int master = Native.Check(Native.open("/dev/ptmx", Native.O_RDWR | Native.O_NOCTTY | Native.O_CLOEXEC, 0), "open /dev/ptmx");
        try
        {
            int unlock = 0;
            Native.Check(Native.ioctl(master, Native.TIOCSPTLCK, &unlock), "unlockpt");
            if (size is { Height: > 0, Width: > 0 })
            {
                var ws = new Native.WinSize { Rows = (ushort)size.Height, Cols = (ushort)size.Width };
                Native.ioctl(master, Native.TIOCSWINSZ, &ws);
            }
            int slave = Native.Check(Native.OpenPtyPeer(master, Native.O_RDWR | Native.O_CLOEXEC), "open the pty's slave");
            Native.SendFd(consoleSocket, "/dev/ptmx", master, "send the console fd over the console socket");
            return slave;
        }
        finally
        {
            Native.close(master);
            Native.close(consoleSocket);
        }
    }

    /// <summary>The host pty's size, for the guest's pty ("winsize ROWS COLS").</summary>
    unsafe void SendWindowSize()
    {
        Native.WinSize ws;
        if (_terminal >= 0 && Native.ioctl(_terminal, Native.TIOCGWINSZ, &ws) == 0 && ws.Rows > 0 && ws.Cols > 0)
            try { VmControl.WriteFrame(Control, Encoding.UTF8.GetBytes($"winsize {ws.Rows} {ws.Cols}")); } catch (HuskException) { }
    }

    /// <summary>The workload's exit code, once the guest reports it and powers off.</summary>
    public int AwaitExit()
    {
        var report = ReadReport();
        Bye();
        if (report?.StartsWith("exit ", StringComparison.Ordinal) != true || !int.TryParse(report[5..], CultureInfo.InvariantCulture, out int code))
            throw Failure(report);
        Cleanup.Reap(_qemu);
        _qemu = 0;
        foreach (var relay in _relays.Skip(1)) relay.Join(TimeSpan.FromSeconds(2));
        return code;
    }

    /// <summary>Tells the guest its last report arrived: it powers off then (not before, or the report could be lost).</summary>
    void Bye()
    {
        try { VmControl.WriteFrame(Control, "bye"u8); } catch (HuskException) { }
    }

    HuskException Failure(string? report)
    {
        Bye();
        return FailureOf(report);
    }

    HuskException FailureOf(string? report) =>
        report?.StartsWith("error ", StringComparison.Ordinal) == true
            ? new HuskException(report[6..])
            : new HuskException($"the container's VM ended without reporting ({(ProcFs.IsAlive(_qemu, 0) ? "QEMU still runs" : "QEMU exited")}){LastLine(Path.Combine(_dir, "qemu.log"), Path.Combine(_dir, "console.log"))}");

    public void Dispose()
    {
        foreach (var s in _signals) s.Dispose();
        if (_qemu > 0) Cleanup.KillAndReap(_qemu);
        if (_virtiofsd > 0) Cleanup.KillAndReap(_virtiofsd);
        foreach (var fd in _hostEnds) Native.close(fd);
        if (_execListener >= 0) Native.close(_execListener);
        // Never a recursive delete through a bind of the rootfs or of a host path: unmounted first,
        // or the directory stays (it is in the state directory, whose delete runs outside this mount
        // namespace and sees no mount there).
        bool unmounted = true;
        foreach (var mount in Enumerable.Reverse(_mounts))
            unmounted &= Native.umount2(mount, Native.MNT_DETACH) == 0 || Native.Errno == Native.EINVAL;
        if (unmounted)
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    readonly List<string> _mounts = [];

    /// <summary>
    /// The directory virtiofsd shares: the rootfs bound at rootfs/, each bind source of the spec at
    /// binds/N (the spec's sources are pointed there, and its root at the guest's view of rootfs/).
    /// The binds are made in the monitor's own mount namespace (VmStrategy asks nsexec.c for one),
    /// made a slave first so that nothing propagates to the host; they end with the monitor and virtiofsd.
    /// </summary>
    string Share(string rootfs, Spec.Spec spec)
    {
        var share = Path.Combine(_dir, "share");
        Native.Check(Native.mount(null, "/", null, Native.MS_REC | Native.MS_SLAVE, null), "make the VM monitor's mounts slaves");
        Directory.CreateDirectory(Path.Combine(share, "rootfs"));
        Bind(rootfs, Path.Combine(share, "rootfs"));
        spec.Root!.Path = GuestInit.SharedRootfs;
        for (int i = 0; i < spec.Mounts.Count; i++)
        {
            var m = spec.Mounts[i];
            if (!m.IsBind || m.Source is not { Length: > 0 } source) continue;
            var target = Path.Combine(share, "binds", i.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (Directory.Exists(source)) Directory.CreateDirectory(target);
            else if (File.Exists(source)) File.WriteAllBytes(target, []);
            else throw new HuskException($"/mounts/{i}/source: bind source {source} does not exist");
            Bind(source, target);
            m.Source = $"{GuestInit.SharedBinds}/{i.ToString(CultureInfo.InvariantCulture)}";
        }
        return share;
    }

    void Bind(string source, string target)
    {
        Native.Check(Native.mount(source, target, null, Native.MS_BIND | Native.MS_REC, null), $"bind {source} into the VM's share");
        _mounts.Add(target);
    }

    /// <summary>What this first VM mode cannot give the container yet: one line each, before anything starts.</summary>
    public static void RefuseUnsupported(Spec.Spec spec)
    {
        foreach (var ns in spec.Linux?.Namespaces ?? [])
            if (!string.IsNullOrEmpty(ns.Path))
                throw new HuskException($"/linux/namespaces: VM isolation cannot join the host's {ns.Type} namespace ({ns.Path}) yet");
        if (spec.Linux?.Devices is { Count: > 0 })
            throw new HuskException("/linux/devices: VM isolation passes no host devices to the guest yet");
        if (spec.Hooks is { } h && h.Prestart.Count + h.CreateRuntime.Count + h.CreateContainer.Count + h.StartContainer.Count + h.Poststart.Count + h.Poststop.Count > 0)
            throw new HuskException("/hooks: VM isolation runs no hooks yet");
    }

    /// <summary>Guest memory: the memory limit plus what the guest kernel and Husk need, else a default.</summary>
    public static int MemoryMiB(Spec.Spec spec) =>
        spec.Linux?.Resources?.Memory?.Limit is long limit and > 0
            ? (int)Math.Min(int.MaxValue, (limit + (1 << 20) - 1) / (1 << 20) + GuestOverheadMiB)
            : DefaultMemoryMiB;

    /// <summary>vCPUs: the CPU quota rounded up (at least one, at most the host's), else one.</summary>
    public static int Cpus(Spec.Spec spec)
    {
        if (spec.Linux?.Resources?.CPU is { Quota: long quota and > 0, Period: ulong period and > 0 })
            return (int)Math.Clamp((quota + (long)period - 1) / (long)period, 1, Environment.ProcessorCount);
        return 1;
    }

    /// <summary>The host's TSC rate in kHz from /proc/cpuinfo's "cpu MHz", or 0.</summary>
    static long TscKhz()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("cpu MHz", StringComparison.Ordinal) && double.TryParse(line[(line.IndexOf(':') + 1)..], CultureInfo.InvariantCulture, out double mhz))
                    return (long)(mhz * 1000);
        }
        catch (IOException) { }
        return 0;
    }

    static int SpawnLogged(string path, string[] argv, string log, IReadOnlyList<(int, int)> fds)
    {
        int nul = Native.Check(Native.open("/dev/null", Native.O_RDWR | Native.O_CLOEXEC, 0), "open /dev/null");
        int logFd = Native.Check(Native.open(log, Native.O_WRONLY | Native.O_CREAT | Native.O_CLOEXEC, 0x180), $"open {log}");
        try
        {
            return Spawner.Spawn(path, argv, ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], [(nul, 0), (nul, 1), (logFd, 2), .. fds], newSession: true);
        }
        finally { Native.close(nul); Native.close(logFd); }
    }

    static void WaitForSocket(string path, int pid)
    {
        var deadline = Environment.TickCount64 + 10_000;
        while (!File.Exists(path))
        {
            if (!ProcFs.IsAlive(pid, 0) || Environment.TickCount64 > deadline)
                throw new HuskException($"virtiofsd did not start{LastLine(Path.Combine(Path.GetDirectoryName(path)!, "virtiofsd.log"))}");
            Thread.Sleep(2);
        }
    }

    /// <summary>The guest's next line on the control port; null when QEMU exited. Throws when <paramref name="timeout"/> passes first.</summary>
    unsafe string? ReadReport(TimeSpan? timeout = null)
    {
        var line = new List<byte>();
        Span<byte> b = stackalloc byte[1];
        long deadline = timeout is { } t ? Environment.TickCount64 + (long)t.TotalMilliseconds : long.MaxValue;
        while (true)
        {
            var pfd = new Native.PollFd { Fd = Control, Events = Native.POLLIN };
            int wait = (int)Math.Clamp(deadline - Environment.TickCount64, 0, 1000);
            int ready = Native.poll(&pfd, 1, wait);
            if (ready == 0)
            {
                if (Environment.TickCount64 >= deadline)
                    throw new HuskException($"the container's VM did not report within {timeout!.Value.TotalSeconds:0} s{LastLine(Path.Combine(_dir, "console.log"))}");
                continue;
            }
            try
            {
                if (!Native.ReadExact(Control, b, "VM control port")) return null;
            }
            catch (HuskException) { return null; }
            if (b[0] == '\n') return Encoding.UTF8.GetString(line.ToArray());
            line.Add(b[0]);
        }
    }

    /// <summary>Copies <paramref name="from"/> to <paramref name="to"/> until end of file, on its own thread.</summary>
    static Thread Relay(int from, int to, bool closeTarget)
    {
        var t = new Thread(() =>
        {
            TerminalRelay.Pump(from, to);
            if (closeTarget) Native.shutdown(to, Native.SHUT_WR);
        }) { IsBackground = true };
        t.Start();
        return t;
    }

    static string LastLine(params string[] logs)
    {
        foreach (var log in logs)
        {
            try
            {
                var last = File.ReadLines(log).LastOrDefault(l => l.Trim().Length > 0);
                if (last != null) return $": {Path.GetFileName(log)}: {last.Trim()}";
            }
            catch (IOException) { }
        }
        return "";
    }
}
