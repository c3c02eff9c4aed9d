using System.Runtime.InteropServices;
using System.Text;
using Husk.Cgroups;
using Husk.Container;
using Husk.Linux;
using Husk.Rootfs;

namespace Husk.Checkpoint;

/// <summary>What `husk restore` did: the comparison, and the container's init and exit code once restored.</summary>
public sealed class RestoreResult
{
    public required SpecComparison Comparison { get; init; }
    public int Pid { get; init; }
    /// <summary>Exit code of a restore in the foreground (the container's, 128+signal when killed).</summary>
    public int ExitCode { get; init; }
}

/// <summary>
/// `husk restore`, as runc's Restore: compare the bundle's spec with the checkpointed one
/// (<see cref="SpecComparer"/>; --dry-run stops there), make the state directory and the cgroup,
/// bind the rootfs to &lt;state&gt;/criu-root (CRIU wants a mount point whose parent is not
/// over-mounted), create the mount points, run `criu restore --restore-detached --restore-sibling`
/// with the external mounts, namespaces and stdio mapped to their restore-time sources and
/// --cgroup-root the new cgroup, then record the restored init (pid and start time). The result is
/// a normal Husk container. Any failure removes everything made.
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
        if (spec.Process?.Terminal == true)
            throw new HuskException("cannot restore a container with a terminal: Husk cannot hand the restored terminal to --console-socket yet");
        var criu = Criu.LocateAndCheck(o.CriuBinary);
        Directory.CreateDirectory(work);

        using var dirLock = store.CreateDirectory(o.Id);
        var record = ContainerRecord.New(o.Id, bundle, rootfs, spec);
        ICgroupManager? cgroup = null;
        string criuRoot = Path.Combine(store.DirOf(o.Id), "criu-root");
        bool mounted = false;
        var openFds = new List<int>();
        try
        {
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

            string pidFile = Path.Combine(store.DirOf(o.Id), "criu-restore.pid");
            var args = new List<string> { "restore", "--images-dir", image, "--work-dir", work, "--log-file", "restore.log", "-v4",
                "--root", criuRoot, "--restore-detached", "--restore-sibling", "--pidfile", pidFile, "--evasive-devices" };
            args.AddRange(o.CommonArgs());
            if (o.LazyPages) args.Add("--lazy-pages");
            if (o.ManageCgroupsMode != "ignore") AddCgroupRoot(cgroup, args);
            var external = new List<string>();
            var fds = new List<(int Source, int Target)>();
            AddExternalMounts(spec, cgroup, savedState, external);
            AddNamespaces(spec, savedState, args, fds, openFds);
            AddStdio(savedState, args, fds);
            foreach (var e in external.Distinct()) { args.Add("--external"); args.Add(e); }

            string log = Path.Combine(work, "restore.log"), output = Path.Combine(work, "criu-restore.out");
            int st = criu.Run(args, fds, output);
            if (st != 0)
                throw new HuskException($"criu restore of container \"{o.Id}\" failed ({Signals.DescribeWaitStatus(st)}): {Criu.LastError(log, output)} (log: {log})");
            if (!int.TryParse(File.Exists(pidFile) ? File.ReadAllText(pidFile).Trim() : "", out int pid) || pid <= 0)
                throw new HuskException($"criu restore of container \"{o.Id}\" wrote no pid to {pidFile}");
            File.Delete(pidFile);
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
        return new RestoreResult { Comparison = comparison, Pid = record.Pid };
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
    /// rootfs, except below a tmpfs (CRIU restores a tmpfs with its contents).
    /// </summary>
    static void PrepareMountPoints(Spec.Spec spec, string rootfs)
    {
        var tmpfs = spec.Mounts.Where(m => m.Type == "tmpfs").Select(m => ContainerPath.Clean(m.Destination)).ToList();
        using var root = SafeRoot.Open(rootfs);
        foreach (var m in spec.Mounts)
        {
            var dest = ContainerPath.Clean(m.Destination);
            if (tmpfs.Any(t => t != dest && ContainerPath.IsWithin(dest, t))) continue;
            int probe = root.TryOpen(dest, Native.O_PATH);
            if (probe >= 0) { Native.close(probe); continue; }
            string what = $"restore: create mount point {dest}";
            bool fileSource = IsBind(m) && m.Source is { Length: > 0 } src && File.Exists(src);
            Native.close(fileSource ? root.CreateFile(dest, what) : root.MkdirAll(dest, 0x1ed, what));
        }
    }

    static bool IsBind(Spec.Mount m) => m.Type == "bind" || m.Options.Any(x => x is "bind" or "rbind");

    /// <summary>CRIU puts the restored tasks below --cgroup-root: the new container's cgroup, per hierarchy where they differ.</summary>
    static void AddCgroupRoot(ICgroupManager cgroup, List<string> args)
    {
        var host = CgroupHost.Current;
        string? first = null;
        foreach (var dir in cgroup.Directories)
        {
            var h = host.Hierarchies.Where(h => dir.StartsWith(h.Mountpoint.TrimEnd('/') + "/", StringComparison.Ordinal))
                .OrderByDescending(h => h.Mountpoint.Length).FirstOrDefault();
            if (h == null) continue;
            string rel = dir[h.Mountpoint.TrimEnd('/').Length..];
            if (first == null)
            {
                first = rel;
                args.AddRange(["--cgroup-root", rel]);
            }
            else if (rel != first && !h.IsV2) args.AddRange(["--cgroup-root", $"{h.Name}:{rel}"]);
        }
    }

    /// <summary>The restore side of the checkpoint's external mounts: each key mapped to its source now.</summary>
    static void AddExternalMounts(Spec.Spec spec, ICgroupManager cgroup, CheckpointState saved, List<string> external)
    {
        foreach (var m in spec.Mounts.Where(IsBind))
        {
            var dest = ContainerPath.Clean(m.Destination);
            external.Add($"mnt[{dest}]:{m.Source}");   // absolute: Creator.LoadAndValidate resolved it
        }
        if (spec.Linux?.MaskedPaths.Count > 0) external.Add("mnt[/dev/null]:/dev/null");
        foreach (var d in spec.Linux?.Devices ?? [])
        {
            var path = ContainerPath.Clean(d.Path);
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

    /// <summary>Joined network/pid namespaces: an fd of the restore spec's path, handed to CRIU with --inherit-fd.</summary>
    static void AddNamespaces(Spec.Spec spec, CheckpointState saved, List<string> args, List<(int, int)> fds, List<int> openFds)
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
            args.AddRange(["--inherit-fd", $"fd[{next}]:{key}"]);
            next++;
        }
    }

    /// <summary>fds 0-2 that led outside the container get this command's own 0-2 (as runc's inherit-fd of pipes).</summary>
    static void AddStdio(CheckpointState saved, List<string> args, List<(int, int)> fds)
    {
        for (int fd = 0; fd < saved.Stdio.Count && fd <= 2; fd++)
        {
            if (saved.Stdio[fd] is not { Length: > 0 } key) continue;
            fds.Add((fd, 10 + fd));
            args.AddRange(["--inherit-fd", $"fd[{10 + fd}]:{key}"]);
        }
    }
}
