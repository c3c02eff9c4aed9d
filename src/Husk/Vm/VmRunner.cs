using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Husk.Container;
using Husk.Linux;

namespace Husk.Vm;

/// <summary>
/// `husk run` of a container in its own VM, in the foreground: virtiofsd shares the rootfs, QEMU
/// boots the guest kernel with Husk as its init (<see cref="GuestInit"/>), and this process
/// relays the workload's stdio over virtio-serial ports, forwards the signals it gets, and
/// exits with the workload's exit code. Nothing is left behind: QEMU and virtiofsd are its
/// children and are killed and reaped on every path, their runtime directory removed.
/// </summary>
public static class VmRunner
{
    const int DefaultMemoryMiB = 256, GuestOverheadMiB = 128;
    static readonly TimeSpan GuestTimeout = TimeSpan.FromSeconds(60);

    public static int Run(CreateOptions o, Spec.Spec spec, bool detach)
    {
        StateStore.ValidateId(o.Id);
        if (detach) RefuseCreate();
        RefuseUnsupported(spec);
        var assets = GuestAssets.Find().Require();
        // virtiofsd shares a directory, not a symbolic link to one.
        var rootfs = Creator.RootfsOf(spec, Path.GetFullPath(o.Bundle));
        if (new DirectoryInfo(rootfs).ResolveLinkTarget(returnFinalTarget: true) is { } target) rootfs = target.FullName;
        var initrd = Initramfs.For(assets);

        var dir = Path.Combine(Initramfs.CacheDirectory, o.Id);
        int runtimeLock = LockRuntimeDirectory(dir, o.Id);
        int virtiofsd = 0, qemu = 0;
        var hostEnds = new List<int>();
        var relays = new List<Thread>();
        var signals = new List<PosixSignalRegistration>();
        try
        {
            var fsSocket = Path.Combine(dir, "fs.sock");
            virtiofsd = SpawnLogged(assets.Virtiofsd!, ["virtiofsd", $"--socket-path={fsSocket}", "-o", $"source={rootfs}", "-o", "cache=auto"],
                Path.Combine(dir, "virtiofsd.log"), []);
            WaitForSocket(fsSocket, virtiofsd);

            // One socket pair per port: QEMU gets one end at fds 3.., this process keeps the other.
            var ports = new List<(string, int)>();
            var childEnds = new List<(int, int)>();
            foreach (var name in QemuCommand.Ports)
            {
                var pair = Native.SocketPair(Native.SOCK_STREAM, $"socketpair for {name}");
                hostEnds.Add(pair[0]);
                childEnds.Add((pair[1], 3 + ports.Count));
                ports.Add((name, 3 + ports.Count));
            }
            var plan = new VmPlan
            {
                Kernel = assets.Kernel!, Initrd = initrd, Kvm = assets.Kvm,
                MemoryMiB = MemoryMiB(spec), Cpus = Cpus(spec), FsSocket = fsSocket, Ports = ports,
                ConsoleLog = Path.Combine(dir, "console.log"), TscKhz = TscKhz(),
            };
            try { qemu = SpawnLogged(assets.Qemu!, ["qemu-system-x86_64", .. QemuCommand.Arguments(plan)], Path.Combine(dir, "qemu.log"), childEnds); }
            finally { foreach (var (fd, _) in childEnds) Native.close(fd); }
            int control = hostEnds[0];

            // The guest's copy of config.json: its rootfs is the virtio-fs share.
            spec.Root!.Path = GuestInit.RootfsMount;
            VmControl.WriteFrame(control, Encoding.UTF8.GetBytes(o.Id));
            VmControl.WriteFrame(control, Spec.SpecJson.SerializeToUtf8(spec));

            foreach (var sig in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
                signals.Add(PosixSignalRegistration.Create(sig, ctx =>
                {
                    ctx.Cancel = true;
                    try { VmControl.WriteFrame(control, Encoding.UTF8.GetBytes($"signal {Signals.Number(ctx.Signal)}")); } catch (HuskException) { }
                }));
            relays.Add(Relay(0, hostEnds[1], closeTarget: true));
            relays.Add(Relay(hostEnds[2], 1, closeTarget: false));
            relays.Add(Relay(hostEnds[3], 2, closeTarget: false));

            string? report = ReadReport(control, qemu);
            int status = Cleanup.Reap(qemu);
            qemu = 0;
            foreach (var relay in relays.Skip(1)) relay.Join(TimeSpan.FromSeconds(2));
            return report switch
            {
                _ when report?.StartsWith("exit ", StringComparison.Ordinal) == true && int.TryParse(report[5..], CultureInfo.InvariantCulture, out int code) => code,
                _ when report?.StartsWith("error ", StringComparison.Ordinal) == true => throw new HuskException(report[6..]),
                _ => throw new HuskException($"VM of container \"{o.Id}\" ended without the workload's exit status ({Signals.DescribeWaitStatus(status)}){LastLine(Path.Combine(dir, "qemu.log"), Path.Combine(dir, "console.log"))}"),
            };
        }
        finally
        {
            foreach (var s in signals) s.Dispose();
            if (qemu > 0) Cleanup.KillAndReap(qemu);
            if (virtiofsd > 0) Cleanup.KillAndReap(virtiofsd);
            foreach (var fd in hostEnds) Native.close(fd);
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            File.Delete(dir + ".lock");
            Native.close(runtimeLock);
        }
    }

    /// <summary>
    /// Makes the VM's runtime directory (sockets, logs) under a lock held for this process's life:
    /// a second VM of the id is refused, and a directory left by a monitor that was killed (its
    /// lock went with it; its guest powers off when the control port closes) is removed first.
    /// </summary>
    static int LockRuntimeDirectory(string dir, string id)
    {
        Directory.CreateDirectory(Initramfs.CacheDirectory);
        int fd = Native.Check(Native.open(dir + ".lock", Native.O_RDWR | Native.O_CREAT | Native.O_CLOEXEC, 0x180), $"open {dir}.lock");
        if (Native.flock(fd, Native.LOCK_EX | Native.LOCK_NB) < 0)
        {
            Native.close(fd);
            throw new HuskException($"container \"{id}\" already exists (a VM of that id runs)");
        }
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Native.Check(Native.mkdir(dir, 0x1c0), $"mkdir {dir}");
        return fd;
    }

    /// <summary>Create, start and a detached run need the VM's own monitor process: not built yet.</summary>
    public static void RefuseCreate() =>
        throw new HuskException("VM isolation: only `husk run` in the foreground is supported so far (not create, start or run --detach)");

    /// <summary>What this first VM mode cannot give the container yet: one line each, before anything starts.</summary>
    public static void RefuseUnsupported(Spec.Spec spec)
    {
        foreach (var ns in spec.Linux?.Namespaces ?? [])
            if (!string.IsNullOrEmpty(ns.Path))
                throw new HuskException($"/linux/namespaces: VM isolation cannot join the host's {ns.Type} namespace ({ns.Path}) yet");
        foreach (var m in spec.Mounts)
            if (m.IsBind)
                throw new HuskException($"/mounts: VM isolation cannot bind {m.Source} from the host into {m.Destination} yet");
        if (spec.Linux?.Devices is { Count: > 0 })
            throw new HuskException("/linux/devices: VM isolation passes no host devices to the guest yet");
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

    /// <summary>The guest's one line on the control port; null when QEMU exited, or the guest was silent too long.</summary>
    static string? ReadReport(int control, int qemu)
    {
        var line = new List<byte>();
        var started = DateTime.UtcNow;
        Span<byte> b = stackalloc byte[1];
        while (true)
        {
            var pfd = new Native.PollFd { Fd = control, Events = Native.POLLIN };
            int ready;
            unsafe { ready = Native.poll(&pfd, 1, 1000); }
            if (ready == 0)
            {
                if (DateTime.UtcNow - started > GuestTimeout && line.Count == 0 && !ProcFs.IsAlive(qemu, 0)) return null;
                continue;
            }
            if (ready < 0) { if (Native.Errno == Native.EINTR) continue; return null; }
            if (!Native.ReadExact(control, b, "VM control port")) return null;
            if (b[0] == '\n') return Encoding.UTF8.GetString(line.ToArray());
            line.Add(b[0]);
        }
    }

    /// <summary>Copies <paramref name="from"/> to <paramref name="to"/> until end of file, on its own thread.</summary>
    static Thread Relay(int from, int to, bool closeTarget)
    {
        var t = new Thread(() =>
        {
            var buf = new byte[16384];
            try
            {
                while (true)
                {
                    int n = Native.ReadSome(from, buf);
                    if (n <= 0) break;
                    Native.WriteAll(to, buf.AsSpan(0, n), "relay");
                }
            }
            catch (HuskException) { }
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
