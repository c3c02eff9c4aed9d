using Husk.Spec;
using OciSpec = Husk.Spec.Spec;

namespace Husk.Cdi;

/// <summary>
/// Applies CDI container edits to an OCI spec in place, as CDI's ContainerEdits.Apply does:
/// env set (a variable of the same name is replaced, others appended); device nodes completed
/// from the host node (type, major, minor) and added to linux.devices (replacing one at the same
/// path) with a linux.resources.devices allow rule ("rwm" by default, none for "none"), uid/gid
/// defaulting to the process user's when non-zero; mounts added (replacing one at the same
/// destination) and all mounts then ordered by depth, stably; hooks appended to the list their
/// hookName names; intelRdt set; additional gids (0 ignored) added once. Absent maps and lists
/// (process, hooks, linux, resources) are created as needed: nothing can crash on a missing one.
/// </summary>
public static class ContainerEditor
{
    public static void Apply(OciSpec spec, ContainerEdits edits, IHostDevices? host = null)
    {
        host ??= HostDevices.Instance;

        foreach (var env in edits.Env) SetEnv(spec.Process ??= new Process(), env);

        foreach (var node in edits.DeviceNodes)
        {
            var dev = ToLinuxDevice(node, host);
            if (dev.UID is null && spec.Process?.User.UID is > 0 and var uid) dev.UID = uid;
            if (dev.GID is null && spec.Process?.User.GID is > 0 and var gid) dev.GID = gid;
            var linux = spec.Linux ??= new Husk.Spec.Linux();
            linux.Devices.RemoveAll(d => d.Path == dev.Path);
            linux.Devices.Add(dev);
            if (dev.Type is "b" or "c" or "u")
            {
                var access = node.Permissions switch { null or "" => "rwm", "none" => "", var p => p };
                (linux.Resources ??= new LinuxResources()).Devices.Add(new LinuxDeviceCgroup
                {
                    Allow = true,
                    // The cgroup knows only b and c; "u" (unbuffered char) is a char device.
                    Type = dev.Type == "b" ? "b" : "c",
                    Major = dev.Major,
                    Minor = dev.Minor,
                    Access = access,
                });
            }
        }

        if (edits.Mounts.Count > 0)
        {
            foreach (var m in edits.Mounts)
            {
                spec.Mounts.RemoveAll(x => x.Destination == m.ContainerPath);
                spec.Mounts.Add(new Mount
                {
                    Source = m.HostPath,
                    Destination = m.ContainerPath,
                    Options = [.. m.Options],
                    Type = string.IsNullOrEmpty(m.Type) ? null : m.Type,
                });
            }
            // Parents before children: stable order by the number of path components.
            spec.Mounts = [.. spec.Mounts.Select((m, i) => (m, i)).OrderBy(x => Depth(x.m.Destination)).ThenBy(x => x.i).Select(x => x.m)];
        }

        foreach (var h in edits.Hooks)
        {
            var hooks = spec.Hooks ??= new Hooks();
            var list = h.HookName switch
            {
                "prestart" => hooks.Prestart,
                "createRuntime" => hooks.CreateRuntime,
                "createContainer" => hooks.CreateContainer,
                "startContainer" => hooks.StartContainer,
                "poststart" => hooks.Poststart,
                "poststop" => hooks.Poststop,
                _ => throw new HuskException($"CDI hook {h.Path}: unknown hook name \"{h.HookName}\""),
            };
            list.Add(new Hook { Path = h.Path, Args = [.. h.Args], Env = [.. h.Env], Timeout = h.Timeout });
        }

        if (edits.IntelRdt is { } rdt)
        {
            (spec.Linux ??= new Husk.Spec.Linux()).IntelRdt = new LinuxIntelRdt
            {
                ClosID = rdt.ClosID, L3CacheSchema = rdt.L3CacheSchema, MemBwSchema = rdt.MemBwSchema,
                EnableCMT = rdt.EnableCMT, EnableMBM = rdt.EnableMBM,
            };
        }

        foreach (var gid in edits.AdditionalGIDs)
        {
            if (gid == 0) continue;
            var user = (spec.Process ??= new Process()).User;
            if (!user.AdditionalGids.Contains(gid)) user.AdditionalGids.Add(gid);
        }
    }

    /// <summary>The OCI device for a CDI node, its type and numbers filled from the host node when missing.</summary>
    public static LinuxDevice ToLinuxDevice(CdiDeviceNode node, IHostDevices host)
    {
        var hostPath = string.IsNullOrEmpty(node.HostPath) ? node.Path : node.HostPath;
        string type = node.Type ?? "";
        long major = node.Major, minor = node.Minor;
        if (!(type.Length > 0 && (major != 0 || type == "p")))
        {
            var info = host.Stat(hostPath, out var error)
                ?? throw new HuskException($"CDI device node {node.Path}: host device {hostPath}: {error}");
            if (type.Length == 0) type = info.Type;
            else if (!SameType(type, info.Type))
                throw new HuskException($"CDI device node {node.Path}: type \"{type}\" but host device {hostPath} is \"{info.Type}\"");
            if (major == 0 && type != "p")
            {
                major = info.Major;
                minor = info.Minor;
            }
        }
        return new LinuxDevice { Path = node.Path, Type = type, Major = major, Minor = minor, FileMode = node.FileMode, UID = node.UID, GID = node.GID };
    }

    static bool SameType(string wanted, string host) => wanted == host || (wanted == "u" && host == "c");

    static void SetEnv(Process process, string env)
    {
        int eq = env.IndexOf('=');
        var prefix = eq > 0 ? env[..(eq + 1)] : env + "=";
        int at = process.Env.FindIndex(e => e.StartsWith(prefix, StringComparison.Ordinal) || e == prefix[..^1]);
        if (at >= 0) process.Env[at] = env;
        else process.Env.Add(env);
    }

    static int Depth(string destination)
    {
        var clean = Rootfs.ContainerPath.Clean(destination.Length == 0 ? "/" : destination);
        return clean == "/" ? 0 : clean.Count(c => c == '/');
    }
}
