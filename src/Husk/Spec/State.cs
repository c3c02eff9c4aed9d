using System.Globalization;
using Husk.Spec.Json;

namespace Husk.Spec;

/// <summary>
/// The state of a container as `runc state` prints it: the OCI state (ociVersion, id, status,
/// pid, bundle, annotations) plus runc's rootfs, created and owner. Hooks get the same object
/// on stdin. Property order follows runc's output.
/// </summary>
public sealed class State
{
    public string OCIVersion { get; set => field = value ?? ""; } = "";
    public string ID { get; set => field = value ?? ""; } = "";
    /// <summary>Pid of the container's init process; 0 when stopped.</summary>
    public int Pid { get; set; }
    /// <summary>creating, created, running, paused or stopped.</summary>
    public string Status { get; set => field = value ?? ""; } = "";
    public string Bundle { get; set => field = value ?? ""; } = "";
    public string Rootfs { get; set => field = value ?? ""; } = "";
    /// <summary>RFC 3339 time with nanoseconds, as runc prints it (see <see cref="FormatCreated"/>).</summary>
    public string Created { get; set => field = value ?? ""; } = "";
    public Dictionary<string, string> Annotations { get; set => field = value ?? []; } = [];
    public string Owner { get; set => field = value ?? ""; } = "";

    public static readonly JsonShape<State> Shape = new(m =>
    [
        m.String("ociVersion", s => s.OCIVersion, (s, v) => s.OCIVersion = v),
        m.String("id", s => s.ID, (s, v) => s.ID = v),
        m.Value("pid", s => s.Pid, (s, v) => s.Pid = v, JsonCodecs.Int32),
        m.String("status", s => s.Status, (s, v) => s.Status = v),
        m.String("bundle", s => s.Bundle, (s, v) => s.Bundle = v),
        m.String("rootfs", s => s.Rootfs, (s, v) => s.Rootfs = v),
        m.String("created", s => s.Created, (s, v) => s.Created = v),
        m.Map("annotations", s => s.Annotations, (s, v) => s.Annotations = v, JsonCodecs.String),
        m.String("owner", s => s.Owner, (s, v) => s.Owner = v),
    ]);

    /// <summary>Formats a time like Go's time.RFC3339Nano in UTC: "2026-11-22T06:01:31.123456789Z" (trailing zeros of the fraction dropped).</summary>
    public static string FormatCreated(DateTime time)
    {
        var utc = time.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(time, DateTimeKind.Utc) : time.ToUniversalTime();
        var s = utc.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
        long ticks = utc.Ticks % TimeSpan.TicksPerSecond; // 100 ns units
        if (ticks != 0)
            s += "." + (ticks * 100).ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0');
        return s + "Z";
    }

    /// <summary>Formats nanoseconds since the Unix epoch like Go's time.RFC3339Nano in UTC.</summary>
    public static string FormatCreated(long unixNanoseconds)
    {
        long secs = Math.DivRem(unixNanoseconds, 1_000_000_000L, out long nanos);
        if (nanos < 0) { secs--; nanos += 1_000_000_000L; }
        var s = DateTime.UnixEpoch.AddSeconds(secs).ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
        if (nanos != 0) s += "." + nanos.ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0');
        return s + "Z";
    }
}

/// <summary>The values of <see cref="State.Status"/> (Go type ContainerState; runc adds "paused").</summary>
public static class ContainerState
{
    public const string Creating = "creating";
    public const string Created = "created";
    public const string Running = "running";
    public const string Stopped = "stopped";
    public const string Paused = "paused";
}
