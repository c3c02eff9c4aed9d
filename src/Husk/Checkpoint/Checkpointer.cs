using Husk.Cgroups;
using Husk.Container;
using Husk.Linux;
using Husk.Rootfs;
using Husk.Spec;

namespace Husk.Checkpoint;

/// <summary>
/// `husk checkpoint`: dumps a running container through CRIU's RPC (<see cref="Criu.Serve"/>) as
/// runc does (libcontainer's Checkpoint): the init's tree, the rootfs as root, managed cgroups, the freezer
/// cgroup, every bind mount external (mnt[dest]:dest), masked files as /dev/null, devices by path,
/// cgroup v1 binds, joined network/pid namespaces as external, and the stdio that leads outside
/// the container as external files or pipes. The spec and <see cref="CheckpointState"/> go into
/// the image directory. Without --leave-running (or --pre-dump) the container is then deleted, as runc does.
/// </summary>
public static class Checkpointer
{
    public static void Checkpoint(StateStore store, CheckpointOptions o)
    {
        bool destroy;
        using (var l = store.Lock(o.Id))
        {
            var r = store.ReadRecord(o.Id) ?? throw new HuskException($"container \"{o.Id}\" has no state; delete it with --force");
            var status = ContainerStatus.Of(store, r, createInProgress: false);
            if (status is not (ContainerStatus.Running or ContainerStatus.Paused))
                throw new HuskException($"cannot checkpoint container \"{o.Id}\": it is {status}, not running");
            var spec = store.ReadConfig(o.Id) ?? throw new HuskException($"container \"{o.Id}\" has no config.json");
            Husk.Vm.VmIsolation.RefuseIfInVm(spec, o.Id, "checkpoint");

            // As runc: CRIU takes the parent relative to the image directory, so it must be relative and exist there.
            if (o.ParentPath is { Length: > 0 } parentPath)
            {
                if (Path.IsPathRooted(parentPath)) throw new HuskException($"--parent-path {parentPath}: must be relative (to the image path)");
                var realParent = Path.Combine(o.ImageDir, parentPath);
                if (!Directory.Exists(realParent)) throw new HuskException($"invalid --parent-path {parentPath}: {realParent} is not a directory");
            }
            var criu = Criu.LocateAndCheck(o.CriuBinary);
            if (o.PreDump || o.ParentPath != null)
            {
                var (ok, _) = criu.Check("mem_dirty_track");
                if (!ok) throw new HuskException(
                    $"{(o.PreDump ? "--pre-dump" : "--parent-path")} needs memory change tracking (soft-dirty page bits), which this kernel does not offer (`criu check --feature mem_dirty_track` failed); checkpoint without it");
            }
            if (o.LazyPages)
            {
                var (ok, detail) = criu.Check("uffd-noncoop");
                if (!ok) throw new HuskException($"--lazy-pages needs userfaultfd support, which CRIU does not find here: {detail}");
                if (o.PageServer == null) throw new HuskException("--lazy-pages needs --page-server ADDRESS:PORT (the restore side's `criu lazy-pages` fetches the pages from it)");
            }

            string image = o.ImageDir, work = o.WorkDir;
            Directory.CreateDirectory(image);
            Directory.CreateDirectory(work);

            var state = new CheckpointState
            {
                Id = o.Id, Bundle = r.Bundle, Rootfs = r.Rootfs, Pid = r.Pid, CgroupPath = r.Cgroup?.Path ?? "",
                CheckpointedAt = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ"),
            };
            string logName = o.PreDump ? "predump.log" : "dump.log";
            var opts = o.Options(logName, r.Rootfs, spec);
            opts.Pid = r.Pid;
            if (o.LeaveRunning && !o.PreDump) opts.LeaveRunning = true;
            if (o.PreDump || o.ParentPath != null) opts.TrackMem = true;
            if (o.ParentPath is { Length: > 0 } parent) opts.ParentImg = parent;
            if (o.PageServer is { } ps)
            {
                int colon = ps.LastIndexOf(':');
                if (colon <= 0 || !int.TryParse(ps[(colon + 1)..], out int port)) throw new HuskException($"--page-server \"{ps}\": want ADDRESS:PORT");
                opts.Ps = new Rpc.criu_page_server_info { Address = ps[..colon], Port = port };
                // With the page server, --lazy-pages leaves the pages there for the restore side's `criu lazy-pages`.
                if (o.LazyPages) opts.LazyPages = true;
            }
            if (r.Cgroup != null && CgroupManagers.Open(r.Cgroup).DirectoryOf("freezer") is { } freezer && Directory.Exists(freezer))
                opts.FreezeCgroup = freezer;
            var external = new List<string>();
            AddExternalMounts(spec, r.Pid, r.Rootfs, state, external);
            AddExternalNamespaces(spec, state, external);
            AddExternalStdio(r.Pid, state, external);
            opts.External.AddRange(external.Distinct());

            // husk-spec.json first: a dump that succeeds always has its spec beside it.
            CheckpointImage.Write(image, Spec.SpecJson.SerializeToUtf8(spec, indented: true), state);
            string log = Path.Combine(work, logName), output = Path.Combine(work, "criu-dump.out");
            var type = o.PreDump ? Rpc.criu_req_type.PreDump : Rpc.criu_req_type.Dump;
            var (resp, st) = criu.Serve(image, work, type, opts, [], output);
            // After a pre-dump, swrk waits for the dump that would follow and exits with an error when
            // the socket closes instead (runc ends it the same way): the response alone says whether it worked.
            if (resp is not { Success: true } || (st != 0 && !o.PreDump))
                throw new HuskException($"criu {(o.PreDump ? "pre-dump" : "dump")} of container \"{o.Id}\" failed ({Criu.Describe(resp, st)}): {Criu.LastError(log, output)} (log: {log})");
            destroy = !o.LeaveRunning && !o.PreDump;
        }
        // As runc: the checkpointed container is gone unless it was asked to keep running.
        if (destroy) Operations.Delete(store, o.Id, force: true);
    }

    /// <summary>
    /// runc's external mounts: binds, masked files (/dev/null), devices by path, cgroup v1 binds. A
    /// bind or device destination is named where it really is: a symlink on the way (/conf -> /real/conf)
    /// was followed inside the rootfs when it was mounted, and CRIU knows the mount by that path.
    /// </summary>
    static void AddExternalMounts(Spec.Spec spec, int pid, string rootfs, CheckpointState state, List<string> external)
    {
        using var root = SafeRoot.Open(rootfs);
        foreach (var m in spec.Mounts.Where(m => m.IsBind))
        {
            var dest = root.Resolved(m.Destination);
            external.Add($"mnt[{dest}]:{dest}");
        }
        foreach (var p in spec.Linux?.MaskedPaths ?? [])
        {
            var path = ContainerPath.Clean(p);
            // Directories are masked with a tmpfs (dumped as one); files with /dev/null, which is external.
            try
            {
                var attr = File.GetAttributes($"/proc/{pid}/root{path}");
                if ((attr & FileAttributes.Directory) != 0) continue;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            external.Add($"mnt[{path}]:/dev/null");
        }
        foreach (var d in spec.Linux?.Devices ?? [])
        {
            var path = root.Resolved(d.Path);
            external.Add($"mnt[{path}]:{path}");
        }
        // Without a cgroup namespace, the container's cgroup mount holds binds of its host cgroup directories.
        bool cgroupNs = spec.Linux?.Has(NamespaceKind.Cgroup) == true;
        var cgroupDests = spec.Mounts.Where(m => m.Type == "cgroup").Select(m => ContainerPath.Clean(m.Destination)).ToList();
        if (cgroupNs || cgroupDests.Count == 0) return;
        List<MountInfoEntry> mounts;
        try { mounts = MountInfoEntry.Parse(File.ReadAllText($"/proc/{pid}/mountinfo")); }
        catch (IOException) { return; }
        foreach (var mi in mounts.Where(mi => mi.FsType is "cgroup" or "cgroup2"))
        {
            var dest = cgroupDests.FirstOrDefault(d => mi.MountPoint == d || mi.MountPoint.StartsWith(d + "/", StringComparison.Ordinal));
            if (dest == null) continue;
            external.Add($"mnt[{mi.MountPoint}]:{mi.MountPoint}");
            state.CgroupBinds[mi.MountPoint] = mi.MountPoint == dest ? "" : Path.GetFileName(mi.MountPoint);
        }
    }

    static readonly (string Type, string Proc, string Key, string Criu)[] ExternalNs =
    [
        ("network", "net", "extRootNetNS", "net"),
        ("pid", "pid", "extRootPidNS", "pid"),
    ];

    /// <summary>Joined network and pid namespaces are not the container's to dump: CRIU marks them external (runc's extRootNetNS).</summary>
    static void AddExternalNamespaces(Spec.Spec spec, CheckpointState state, List<string> external)
    {
        foreach (var (type, _, key, criuName) in ExternalNs)
        {
            var ns = spec.Linux?.Namespaces.FirstOrDefault(n => n.Type == type);
            if (ns?.Path is not { Length: > 0 } path) continue;
            var ino = Inode(path) ?? throw new HuskException($"/linux/namespaces: cannot stat {type} namespace {path}");
            external.Add($"{criuName}[{ino}]:{key}");
            state.ExternalNamespaces[type] = key;
        }
    }

    /// <summary>
    /// fds 0-2 of the init that lead outside the container (pipes to the caller, a host file such as
    /// the caller's /dev/null): pipes need only a key for --inherit-fd at restore; files on mounts the
    /// container does not have are dumped as external files (file[mnt_id:inode], hex).
    /// </summary>
    static void AddExternalStdio(int pid, CheckpointState state, List<string> external)
    {
        var containerMounts = new HashSet<string>();
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/mountinfo"))
                if (line.Split(' ', 2)[0] is { Length: > 0 } id) containerMounts.Add(id);
        }
        catch (IOException) { }
        for (int fd = 0; fd <= 2; fd++)
        {
            string key = "";
            string? target = null;
            try { target = new FileInfo($"/proc/{pid}/fd/{fd}").LinkTarget; } catch (IOException) { }
            if (target == null) { state.Stdio.Add(""); continue; }
            if (target.StartsWith("pipe:[", StringComparison.Ordinal)) key = target;
            else if (target.StartsWith('/'))
            {
                string? mntId = null;
                try
                {
                    mntId = File.ReadLines($"/proc/{pid}/fdinfo/{fd}").FirstOrDefault(l => l.StartsWith("mnt_id:", StringComparison.Ordinal))
                        ?.Split(':', 2)[1].Trim();
                }
                catch (IOException) { }
                if (mntId != null && !containerMounts.Contains(mntId) && Inode($"/proc/{pid}/fd/{fd}") is { } ino)
                {
                    key = $"file[{int.Parse(mntId):x}:{ino:x}]";
                    external.Add(key);
                }
            }
            state.Stdio.Add(key);
        }
    }

    internal static ulong? Inode(string path) => Native.InodeOf(path);
}
