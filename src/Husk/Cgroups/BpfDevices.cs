using Husk.Linux;

namespace Husk.Cgroups;

/// <summary>Loads the device program of <see cref="DeviceFilter"/> and attaches it to a cgroup v2 directory.</summary>
public static class BpfDevices
{
    /// <summary>
    /// Attaches the program for <paramref name="rules"/> to <paramref name="cgroupDir"/> with BPF_F_ALLOW_OVERRIDE:
    /// a later attach (update) replaces it, and sub-cgroups may attach their own.
    /// </summary>
    public static void Attach(string cgroupDir, IReadOnlyList<DeviceRule> rules)
    {
        var insns = DeviceFilter.Encode(DeviceFilter.Build(rules));
        int prog = Native.BpfLoadDeviceProgram(insns, DeviceFilter.License, "husk_devices", out string log);
        if (prog < 0)
        {
            int e = Native.Errno;
            var first = log.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
            throw new HuskException($"{ResourcePlan.Prefix}/devices: cannot load the cgroup v2 device program: {Native.StrError(e)}"
                + (first != null ? $" (verifier: {first})" : ""));
        }
        try
        {
            int dirFd = Native.open(cgroupDir, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_CLOEXEC, 0);
            if (dirFd < 0) throw new HuskException($"{ResourcePlan.Prefix}/devices: cannot open {cgroupDir}: {Native.StrError(Native.Errno)}");
            try
            {
                if (Native.BpfProgAttach(dirFd, prog, Native.BPF_CGROUP_DEVICE, Native.BPF_F_ALLOW_OVERRIDE) < 0)
                    throw new HuskException($"{ResourcePlan.Prefix}/devices: cannot attach the device program to {cgroupDir}: {Native.StrError(Native.Errno)}");
            }
            finally { Native.close(dirFd); }
        }
        finally { Native.close(prog); }
    }
}
