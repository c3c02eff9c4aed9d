using System.Runtime.InteropServices;
using System.Text;
using Husk.Cgroups;
using Husk.Container;
using Husk.Linux;
using Husk.Rootfs;

namespace Husk.Checkpoint;

/// <summary>What `husk restore` did: the comparison, and the container's init (and terminal) once restored.</summary>
public sealed class RestoreResult
{
    public required SpecComparison Comparison { get; init; }
    public int Pid { get; init; }
    /// <summary>The restored terminal's master when there was no --console-socket (the caller relays it), else -1.</summary>
    public int ConsoleMaster { get; init; } = -1;
}

/// <summary>
/// `husk restore`, as runc's Restore: compare the bundle's spec with the checkpointed one
/// (<see cref="SpecComparer"/>; --dry-run stops there), make the state directory and the cgroup,
/// bind the rootfs to &lt;state&gt;/criu-root (CRIU wants a mount point whose parent is not
/// over-mounted), create the mount points, have CRIU restore (<see cref="Criu.Serve"/>: detached,
/// as a sibling of CRIU, i.e. our child) with the external mounts, namespaces and stdio mapped to
/// their restore-time sources and the new cgroup as its cgroup root, send the new terminal's master
/// to --console-socket, then record the restored init (pid and start time). The result is a normal
/// Husk container. Any failure removes everything made.
/// </summary>
public static class Restorer
{
    public static RestoreResult Restore(StateStore store, RestoreOptions o)
    {
        StateStore.ValidateId(o.Id);
        string image = o.ImageDir, work = o.WorkDir;
        var saved = CheckpointImage.ReadSpec(image);
        var savedState = CheckpointImage.ReadState(image);
        var bundle = Path.GetFullPath(o.Bundle);
        var spec = Creator.LoadAndValidate(bundle);
        // The checkpointed spec had its CDI devices injected at create; so does the restore spec.
        Cdi.DeviceInjector.Apply(spec, o.CdiSpecDirs);
        var comparison = SpecComparer.Compare(saved, spec);
        if (o.DryRun) return new RestoreResult { Comparison = comparison };
        if (!comparison.Compatible) throw new HuskException(comparison.ErrorMessage());

        var rootfs = Creator.RootfsOf(spec, bundle);
        bool terminal = spec.Process?.Terminal == true;
        if (terminal && o.ConsoleSocket == null && o.Detach)
            throw new HuskException("/process/terminal: a terminal needs --console-socket when the runtime does not stay attached");
        var criu = Criu.LocateAndCheck(o.CriuBinary);
        Directory.CreateDirectory(work);

        using var dirLock = store.CreateDirectory(o.Id);
        var record = ContainerRecord.New(o.Id, bundle, rootfs, spec);
        ICgroupManager? cgroup = null;
        string criuRoot = Path.Combine(store.DirOf(o.Id), "criu-root");
        bool mounted = false;
        var openFds = new List<int>();
        // The restored terminal's master goes to --console-socket, or without one (in the
        // foreground) back to the caller to relay.
        int console = -1, master = -1;
        bool gotMaster = false;
        try
        {
            if (terminal && o.ConsoleSocket != null) openFds.Add(console = Native.ConnectUnix(o.ConsoleSocket));
            store.WriteRecord(record);
            store.WriteConfig(o.Id, Spec.SpecJson.SerializeToUtf8(spec));
            cgroup = CgroupManagers.ForContainer(spec.Linux?.CgroupsPath, o.Id);
            record.Cgroup = cgroup.ToInfo();
            store.WriteRecord(record);
            cgroup.Create();
            record.Cgroup = cgroup.ToInfo();
            store.WriteRecord(record);
            cgroup.ApplyResources(spec.Linux?.Resources ?? new Spec.LinuxResources(), spec.Linux?.Devices, applyDevices: true);

            PrepareMountPoints(spec, rootfs);
            Directory.CreateDirectory(criuRoot);
            Native.Check(Native.mount(rootfs, criuRoot, null, Native.MS_BIND | Native.MS_REC, null), $"bind mount {rootfs} to {criuRoot}");
            mounted = true;

            var opts = o.Options("restore.log", criuRoot, spec);
            // A terminal's new master comes back in the "orphan-pts-master" notification.
            opts.RstSibling = true;
            opts.EvasiveDevices = true;
            if (o.LazyPages) opts.LazyPages = true;
            // CRIU puts the restored tasks below its cgroup root: the new container's cgroup.
            if (o.ManageCgroupsMode != "ignore")
                foreach (var (controllers, path) in cgroup.CriuCgroupRoots())
                    opts.CgRoot.Add(controllers == null ? new Rpc.cgroup_root { Path = path } : new Rpc.cgroup_root { Ctrl = controllers, Path = path });
            var external = new List<string>();
            var fds = new List<(int Source, int Target)>();
            AddExternalMounts(spec, rootfs, cgroup, savedState, external);
            AddNamespaces(spec, savedState, opts, fds, openFds);
            AddStdio(savedState, opts, fds);
            opts.External.AddRange(external.Distinct());

            string log = Path.Combine(work, "restore.log"), output = Path.Combine(work, "criu-restore.out");
            var (resp, st) = criu.Serve(image, work, Rpc.criu_req_type.Restore, opts, fds, output, (script, fd) =>
            {
                if (script != "orphan-pts-master") return;
                if (fd < 0) throw new HuskException("criu restore: the orphan-pts-master notification came without the pty master");
                gotMaster = true;
                if (console >= 0) Native.SendFd(console, "/dev/ptmx", fd, "send the restored terminal over the console socket");
                else master = Native.Check(Native.fcntl(fd, Native.F_DUPFD_CLOEXEC, 3), "keep the restored terminal's master");
            });
            if (resp is not { Success: true } || st != 0)
                throw new HuskException($"criu restore of container \"{o.Id}\" failed ({Criu.Describe(resp, st)}): {Criu.LastError(log, output)} (log: {log})");
            int pid = resp.Restore?.Pid ?? 0;
            if (pid <= 0) throw new HuskException($"criu restore of container \"{o.Id}\" answered no pid");
            if (terminal && !gotMaster) throw new HuskException($"criu restore of container \"{o.Id}\" sent no master for the restored terminal");
            record.Pid = pid;
            record.PidStartTime = ProcFs.Stat(pid)?.StartTime ?? 0;
            store.WriteRecord(record);
            if (o.ManageCgroupsMode == "ignore") cgroup.AddProcess(pid);
            if (o.PidFile != null) SmallFile.WriteAtomically(Path.GetFullPath(o.PidFile), Encoding.ASCII.GetBytes(pid.ToString()));
            record.CreateFinished = true;
            store.WriteRecord(record);
        }
        catch (Exception)
        {
            if (master >= 0) Native.close(master);
            Cleanup.KillInit(record.Pid, record.PidStartTime);
            try { cgroup?.Destroy(); } catch (HuskException e) { Log.Warn($"cleanup: {e.Message}"); }
            Unmount(criuRoot, ref mounted);
            store.RemoveDirectory(o.Id);
            throw;
        }
        finally
        {
            foreach (var fd in openFds) Native.close(fd);
            Unmount(criuRoot, ref mounted);
        }
        return new RestoreResult { Comparison = comparison, Pid = record.Pid, ConsoleMaster = master };
    }

    static void Unmount(string criuRoot, ref bool mounted)
    {
        if (!mounted) return;
        mounted = false;
        Native.umount2(criuRoot, Native.MNT_DETACH);
        try { Directory.Delete(criuRoot); } catch (IOException) { }
    }

    /// <summary>
    /// As runc's prepareCriuRestoreMounts: every mount point the container had must exist in the
    /// rootfs, or inside a bind mount in its source, except below a tmpfs (CRIU restores a tmpfs
    /// with its contents).
    /// </summary>
    static void PrepareMountPoints(Spec.Spec spec, string rootfs)
    {
        var tmpfs = spec.Mounts.Where(m => m.Type == "tmpfs").Select(m => ContainerPath.Clean(m.Destination)).ToList();
        using var root = SafeRoot.Open(rootfs);
        // Earlier bind mounts of directories: a mount point inside one is in its source, not the rootfs
        // (runc mounts each bind for a moment to reach it; looking it up in the source needs no mount).
        var binds = new List<(string Destination, string Source)>();
        foreach (var m in spec.Mounts)
        {
            var dest = ContainerPath.Clean(m.Destination);
            if (tmpfs.Any(t => t != dest && ContainerPath.IsWithin(dest, t))) continue;
            var outer = binds.LastOrDefault(b => b.Destination != dest && ContainerPath.IsWithin(dest, b.Destination));
            using var source = outer.Source != null ? SafeRoot.Open(outer.Source) : null;
            var below = source ?? root;
            var path = outer.Source != null ? ContainerPath.Join("/", Path.GetRelativePath(outer.Destination, dest)) : dest;
            bool fileSource = m.IsBind && m.Source is { Length: > 0 } src && File.Exists(src);
            if (m.IsBind && m.Source is { Length: > 0 } dir && Directory.Exists(dir)) binds.Add((dest, dir));
            int probe = below.TryOpen(path, Native.O_PATH);
            if (probe >= 0) { Native.close(probe); continue; }
            string what = $"restore: create mount point {dest}";
            (fileSource ? below.CreateFile(path, what) : below.MkdirAll(path, 0x1ed, what)).Dispose();
        }
    }

    /// <summary>
    /// The restore side of the checkpoint's external mounts: each key mapped to its source now (the
    /// keys resolved in the rootfs as the checkpoint resolved them).
    /// </summary>
    static void AddExternalMounts(Spec.Spec spec, string rootfs, ICgroupManager cgroup, CheckpointState saved, List<string> external)
    {
        using var root = SafeRoot.Open(rootfs);
        foreach (var m in spec.Mounts.Where(m => m.IsBind))
            external.Add($"mnt[{root.Resolved(m.Destination)}]:{m.Source}");   // absolute: Creator.LoadAndValidate resolved it
        if (spec.Linux?.MaskedPaths.Count > 0) external.Add("mnt[/dev/null]:/dev/null");
        foreach (var d in spec.Linux?.Devices ?? [])
        {
            var path = root.Resolved(d.Path);
            external.Add($"mnt[{path}]:{path}");
        }
        if (saved.CgroupBinds.Count == 0) return;
        var host = CgroupHost.Current;
        foreach (var (mountPoint, name) in saved.CgroupBinds)
        {
            string? source = cgroup.Directories.FirstOrDefault(d =>
                host.Hierarchies.Any(h => Path.GetFileName(h.Mountpoint.TrimEnd('/')) == name && d.StartsWith(h.Mountpoint.TrimEnd('/') + "/", StringComparison.Ordinal)));
            if (name == "") source = cgroup.Directories.FirstOrDefault();
            if (source == null) throw new HuskException($"restore: the cgroup hierarchy \"{name}\" bound at {mountPoint} when checkpointed does not exist on this host");
            external.Add($"mnt[{mountPoint}]:{source}");
        }
    }

    /// <summary>Joined network/pid namespaces: an fd of the restore spec's path, handed to CRIU as an inherit_fd.</summary>
    static void AddNamespaces(Spec.Spec spec, CheckpointState saved, Rpc.criu_opts opts, List<(int, int)> fds, List<int> openFds)
    {
        int next = 20;
        foreach (var (type, key) in saved.ExternalNamespaces)
        {
            var ns = spec.Linux?.Namespaces.FirstOrDefault(n => n.Type == type);
            if (ns?.Path is not { Length: > 0 } path)
                throw new HuskException($"/linux/namespaces: the checkpoint joined a {type} namespace; the restore spec must name one to join");
            int fd = Native.Check(Native.open(path, Native.O_RDONLY | Native.O_CLOEXEC, 0), $"open {type} namespace {path}");
            openFds.Add(fd);
            fds.Add((fd, next));
            opts.InheritFd.Add(new Rpc.inherit_fd { Fd = next, Key = key });
            next++;
        }
    }

    /// <summary>fds 0-2 that led outside the container get this command's own 0-2 (as runc's inherit-fd of pipes).</summary>
    static void AddStdio(CheckpointState saved, Rpc.criu_opts opts, List<(int, int)> fds)
    {
        for (int fd = 0; fd < saved.Stdio.Count && fd <= 2; fd++)
        {
            if (saved.Stdio[fd] is not { Length: > 0 } key) continue;
            fds.Add((fd, 10 + fd));
            opts.InheritFd.Add(new Rpc.inherit_fd { Fd = 10 + fd, Key = key });
        }
    }
}
