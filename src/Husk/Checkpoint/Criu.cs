using System.Collections;
using Husk.Container;
using Husk.Linux;

namespace Husk.Checkpoint;

/// <summary>
/// CRIU as an external program: finding the binary (the global --criu, default "criu" on PATH),
/// `criu check` through its command line, and dump and restore through its RPC interface
/// (`criu swrk`, <see cref="Serve"/>), as runc does. Only RPC has orphan_pts_master: it dumps a
/// container whose terminal's master is outside it (the command line refuses the slave without its
/// master, and the /dev/console bind of it, unless that option is set; --shell-job covers the first
/// only), and at restore hands back the master of the new pty CRIU makes in the container's own
/// devpts. The command line's `--external tty[..]` with `--inherit-fd` could only give the restored
/// process a pty made before CRIU runs, outside the devpts instance CRIU restores for the container.
/// Its own stdout/stderr go to a file beside its log, so Husk's errors stay one line; a failure
/// is reported with the last "Error" line of CRIU's log.
/// </summary>
public sealed class Criu
{
    public const string DefaultBinary = "criu";

    /// <summary>The resolved absolute path of the binary.</summary>
    public string Path { get; }

    Criu(string path) => Path = path;

    /// <summary>Finds the binary; throws one line when it is missing.</summary>
    public static Criu Locate(string? configured)
    {
        var name = string.IsNullOrEmpty(configured) ? DefaultBinary : configured;
        if (name.Contains('/'))
        {
            var full = System.IO.Path.GetFullPath(name);
            if (!File.Exists(full)) throw new HuskException($"CRIU not found at {full} (--criu): checkpoint and restore need CRIU");
            return new Criu(full);
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").Split(':'))
        {
            if (dir.Length == 0) continue;
            var p = System.IO.Path.Combine(dir, name);
            if (File.Exists(p)) return new Criu(p);
        }
        throw new HuskException($"CRIU not found: \"{name}\" is not on PATH; install criu or pass --criu PATH (checkpoint and restore need CRIU)");
    }

    /// <summary>Locates CRIU and runs `criu check`; throws one line when either fails.</summary>
    public static Criu LocateAndCheck(string? configured)
    {
        var criu = Locate(configured);
        var (ok, detail) = criu.Check();
        if (!ok) throw new HuskException($"CRIU at {criu.Path} does not work on this host: `criu check` failed: {detail}");
        return criu;
    }

    /// <summary>`criu check` (or `criu check --feature F`): whether it passed, and its last meaningful output line.</summary>
    public (bool Ok, string Detail) Check(string? feature = null)
    {
        var tmp = Directory.CreateTempSubdirectory("husk-criu-check-");
        try
        {
            string output = System.IO.Path.Combine(tmp.FullName, "out");
            List<string> args = feature is null ? ["check"] : ["check", "--feature", feature];
            int status = Cleanup.Reap(Spawn(args, [], output));
            string text = File.Exists(output) ? File.ReadAllText(output) : "";
            var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            string detail = lines.LastOrDefault(l => l.Contains("Error")) ?? lines.LastOrDefault() ?? $"exit status {Cleanup.ExitCode(status)}";
            return (status == 0, detail);
        }
        finally { try { tmp.Delete(recursive: true); } catch (IOException) { } }
    }

    /// <summary>
    /// Starts CRIU with <paramref name="args"/>; <paramref name="fds"/> are (fd here, fd in CRIU) pairs (keep
    /// them above 2). CRIU's stdin is /dev/null, its stdout and stderr go to <paramref name="outputFile"/>.
    /// Returns its pid.
    /// </summary>
    int Spawn(IReadOnlyList<string> args, IReadOnlyList<(int Source, int Target)> fds, string outputFile)
    {
        int devNull = Native.Check(Native.open("/dev/null", Native.O_RDONLY | Native.O_CLOEXEC, 0), "open /dev/null");
        int output = Native.Check(Native.open(outputFile, Native.O_WRONLY | Native.O_CREAT | Native.O_TRUNC | Native.O_CLOEXEC, 0x180), $"open {outputFile}");
        try
        {
            var all = new List<(int, int)> { (devNull, 0), (output, 1), (output, 2) };
            all.AddRange(fds);
            var env = new List<string>();
            foreach (DictionaryEntry e in Environment.GetEnvironmentVariables()) env.Add($"{e.Key}={e.Value}");
            return Spawner.Spawn(Path, [System.IO.Path.GetFileName(Path), .. args], env, all);
        }
        finally
        {
            Native.close(devNull);
            Native.close(output);
        }
    }

    /// <summary>The fd number of the RPC socket in `criu swrk`; <see cref="Serve"/>'s other fds go above it.</summary>
    public const int SwrkSocketFd = 3;

    /// <summary>
    /// Serves one request through CRIU's RPC interface, as runc does: `criu swrk 3` with a
    /// SOCK_SEQPACKET socket at fd 3 and <paramref name="fds"/> (fd here, fd in CRIU; above 3) for
    /// its inherit_fd entries. CRIU reaches the image and work directories through this process's
    /// /proc/PID/fd. Every notification CRIU sends while it works (the opts' notify_scripts) is
    /// answered with success after <paramref name="onNotify"/> (script name, the fd sent with it or
    /// -1, which the callback must not keep: it is closed after) returned; a callback that throws
    /// answers failure, so CRIU aborts (a restore kills what it restored), and the exception goes on.
    /// Returns the final response (null when CRIU closed the socket without one) and CRIU's wait status.
    /// </summary>
    internal (Rpc.criu_resp? Response, int Status) Serve(string imageDir, string workDir, Rpc.criu_req_type type, Rpc.criu_opts opts,
        IReadOnlyList<(int Source, int Target)> fds, string outputFile, Action<string, int>? onNotify = null)
    {
        var open = new List<int>();
        try
        {
            foreach (var dir in new[] { imageDir, workDir })
                open.Add(Native.Check(Native.open(dir, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_CLOEXEC, 0), $"open {dir}"));
            opts.ImagesDirFd = open[0];
            opts.WorkDirFd = open[1];
            int[] pair = Native.SocketPair(Native.SOCK_SEQPACKET, "socketpair for criu swrk");
            open.Add(pair[0]);
            int pid;
            try { pid = Spawn(["swrk", SwrkSocketFd.ToString()], [(pair[1], SwrkSocketFd), .. fds], outputFile); }
            finally { Native.close(pair[1]); }
            Rpc.criu_resp? response;
            Exception? failed;
            int status;
            try { (response, failed) = Converse(pair[0], new Rpc.criu_req { Type = type, Opts = opts }, onNotify); }
            finally
            {
                // Closing our end ends swrk's request loop: it exits once it has answered.
                Native.close(pair[0]);
                open.Remove(pair[0]);
                status = Cleanup.Reap(pid);
            }
            if (failed != null) throw failed;
            return (response, status);
        }
        finally
        {
            foreach (var fd in open) Native.close(fd);
        }
    }

    /// <summary>Sends the request, answers the notifications, returns the final response and the callback's exception.</summary>
    static (Rpc.criu_resp? Response, Exception? Failed) Converse(int sock, Rpc.criu_req request, Action<string, int>? onNotify)
    {
        Send(sock, request);
        // CRIU's messages are small; one that filled this may have been cut (SOCK_SEQPACKET).
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var (n, fd) = Native.RecvMessage(sock, buffer, "receive from criu swrk");
            if (n == 0) return (null, null);
            var resp = n < buffer.Length ? Rpc.criu_resp.Parse(buffer.AsSpan(0, n)) : null;
            if (resp is not { Type: Rpc.criu_req_type.Notify, Success: true })
            {
                if (fd >= 0) Native.close(fd);
                if (resp == null) throw new HuskException($"criu swrk sent a message of {n} bytes or more, larger than expected");
                return (resp, null);
            }
            Exception? failed = null;
            try { onNotify?.Invoke(resp.Notify?.Script ?? "", fd); }
            catch (Exception e) { failed = e; }
            finally { if (fd >= 0) Native.close(fd); }
            Send(sock, new Rpc.criu_req { Type = Rpc.criu_req_type.Notify, NotifySuccess = failed == null });
            if (failed != null) return (null, failed);
        }
    }

    /// <summary>The annotation that names a container's own CRIU configuration file (runc's).</summary>
    public const string ConfigAnnotation = "org.criu.config";

    /// <summary>
    /// As runc: CRIU reads the configuration file the annotation org.criu.config names (none when
    /// it is empty), else /etc/criu/runc.conf; its settings override those sent by RPC, and a file
    /// that does not exist is ignored by CRIU.
    /// </summary>
    internal static void SetConfigFile(Rpc.criu_opts opts, Spec.Spec spec)
    {
        if (!spec.Annotations.TryGetValue(ConfigAnnotation, out var file)) opts.ConfigFile = "/etc/criu/runc.conf";
        else if (file.Length > 0) opts.ConfigFile = file;
    }

    /// <summary>Why a dump or restore through <see cref="Serve"/> failed, for the one-line error.</summary>
    internal static string Describe(Rpc.criu_resp? response, int status)
    {
        string exit = Signals.DescribeWaitStatus(status);
        if (response == null) return $"no answer, {exit}";
        // Not cr_errmsg: it is CRIU's first error, often a harmless one (RLIMIT_NOFILE); LastError finds the last.
        return !response.Success && response.CrErrno != 0 ? $"errno {response.CrErrno}" : exit;
    }

    static void Send(int sock, Rpc.criu_req request)
    {
        Native.WriteAll(sock, request.ToByteArray(), "send a request to criu swrk");
    }

    /// <summary>The most useful line of a failed run: the last "Error" of the log, else of the output file.</summary>
    public static string LastError(string logFile, string outputFile)
    {
        foreach (var f in new[] { logFile, outputFile })
        {
            if (!File.Exists(f)) continue;
            var line = File.ReadLines(f).LastOrDefault(l => l.Contains("Error", StringComparison.Ordinal) && !l.Contains("RLIMIT_NOFILE"));
            if (line != null) return line.Trim();
        }
        foreach (var f in new[] { outputFile, logFile })
            if (File.Exists(f) && File.ReadLines(f).LastOrDefault(l => l.Trim().Length > 0) is { } last) return last.Trim();
        return "no error in its log";
    }
}
