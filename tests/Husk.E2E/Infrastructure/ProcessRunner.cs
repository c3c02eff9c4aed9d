using System.Diagnostics;
using System.IO.Pipes;
using System.Runtime.InteropServices;
using System.Text;
using Xunit;

namespace Husk.E2E;

/// <summary>How to run a process: stdin, timeout, environment, working directory.</summary>
public sealed record RunOptions
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>husk's <c>--root</c>; only used by <see cref="HuskCli"/>. Null: husk's default.</summary>
    public string? Root { get; init; }

    /// <summary>Written to the process's stdin, which is then closed. Null: stdin is empty (EOF at once).</summary>
    public string? Stdin { get; init; }

    /// <summary>After this the whole process tree is killed and the test fails.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    public string? WorkingDirectory { get; init; }

    /// <summary>Extra environment variables; a null value removes the variable.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>
    /// After the process exits, how long at most to wait for the end of its stdout/stderr. A
    /// detached container (<c>create</c>, <c>run -d</c>) inherits the pipes and may hold them
    /// open: then, once everything already written has been read, the output so far is
    /// returned (usually within ~50 ms) and the pipes keep being drained in the background (so
    /// the container never gets SIGPIPE).
    /// </summary>
    public TimeSpan OutputGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Called with the process's pid once it has started.</summary>
    public Action<int>? Started { get; init; }
}

/// <summary>Exit code and output of one finished process.</summary>
public sealed record Result(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>Fails the test (showing command, exit code, stdout, stderr) unless the exit code is 0.</summary>
    public Result AssertSuccess(string? because = null)
    {
        if (ExitCode != 0) Assert.Fail(Describe($"expected exit code 0{Because(because)}"));
        return this;
    }

    /// <summary>Fails the test unless the exit code is non-zero (or equals <paramref name="exitCode"/>).</summary>
    public Result AssertFailure(int? exitCode = null, string? because = null)
    {
        bool ok = exitCode is { } want ? ExitCode == want : ExitCode != 0;
        if (!ok) Assert.Fail(Describe($"expected {(exitCode is { } w ? $"exit code {w}" : "a non-zero exit code")}{Because(because)}"));
        return this;
    }

    /// <summary>Stdout split into lines, without the trailing empty line.</summary>
    public string[] StdoutLines => Stdout.Split('\n', StringSplitOptions.None) is var l && l.Length > 0 && l[^1].Length == 0 ? l[..^1] : l;

    public string Describe(string headline) =>
        $"{headline}\n  command: {CommandLine}\n  exit code: {ExitCode}\n  stdout:\n{Indent(Stdout)}\n  stderr:\n{Indent(Stderr)}";

    public override string ToString() => Describe("process finished");

    private static string Because(string? because) => because is null ? "" : $" ({because})";

    private static string Indent(string s) =>
        s.Length == 0 ? "    <empty>" : string.Join('\n', s.TrimEnd('\n').Split('\n').Select(l => "    " + l));
}

/// <summary>Runs any program with <see cref="RunOptions"/>; <see cref="HuskCli"/> builds on it.</summary>
public static partial class ProcessRunner
{
    public static Result Run(string fileName, params string[] args) => Run(fileName, args, new RunOptions());

    public static Result Run(string fileName, IEnumerable<string> args, RunOptions options)
    {
        var argList = args.ToList();
        string commandLine = string.Join(' ', new[] { fileName }.Concat(argList).Select(Quote));

        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = options.WorkingDirectory ?? "",
        };
        foreach (var a in argList) psi.ArgumentList.Add(a);
        if (options.Environment is not null)
            foreach (var (k, v) in options.Environment)
                if (v is null) psi.Environment.Remove(k); else psi.Environment[k] = v;

        var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
            options.Started?.Invoke(process.Id);
        }
        catch (Exception e)
        {
            Assert.Fail($"could not start {commandLine}: {e.Message}");
            throw; // unreachable
        }

        var stdout = new Drain(process.StandardOutput.BaseStream);
        var stderr = new Drain(process.StandardError.BaseStream);
        var stdinTask = Task.Run(() =>
        {
            try
            {
                if (options.Stdin is { } input) process.StandardInput.Write(input);
                process.StandardInput.Close();
            }
            catch (IOException) { } // the process did not read its stdin
        });

        if (!process.WaitForExit(options.Timeout))
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit(TimeSpan.FromSeconds(5));
            WaitForOutput(stdout, stderr, TimeSpan.FromSeconds(2));
            var partial = new Result(commandLine, -1, stdout.Text, stderr.Text);
            Assert.Fail(partial.Describe($"timed out after {options.Timeout.TotalSeconds:0.#} s; the process tree was killed"));
        }
        process.WaitForExit(); // exit code is settled
        int exitCode = process.ExitCode;
        bool drained = WaitForOutput(stdout, stderr, options.OutputGrace);
        stdinTask.Wait(TimeSpan.FromSeconds(1));
        // When a detached child still holds the pipes, keep the Process (and its streams)
        // alive: the drains run until the child closes them.
        if (drained) process.Dispose();
        return new Result(commandLine, exitCode, stdout.Text, stderr.Text);
    }

    internal static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || "-_./=:,@%+".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>
    /// True when both streams reached EOF within <paramref name="max"/>. Returns false early
    /// once both pipes are empty and no read is in flight (a detached child holds them open).
    /// </summary>
    private static bool WaitForOutput(Drain a, Drain b, TimeSpan max)
    {
        var deadline = DateTime.UtcNow + max;
        int quiet = 0;
        while (true)
        {
            if (Task.WaitAll([a.Completion, b.Completion], TimeSpan.FromMilliseconds(20))) return true;
            if (DateTime.UtcNow >= deadline) return false;
            quiet = a.Idle && b.Idle ? quiet + 1 : 0;
            if (quiet >= 3) return false; // ~60 ms with nothing buffered and nothing being read
        }
    }

    /// <summary>Reads a stream to its end on its own thread, keeping what was read so far.</summary>
    private sealed class Drain
    {
        private readonly MemoryStream _buffer = new();
        private readonly Stream _stream;
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _processing;

        public Task Completion => _done.Task;

        public Drain(Stream stream)
        {
            _stream = stream;
            new Thread(Loop) { IsBackground = true, Name = "output drain" }.Start();
        }

        /// <summary>Nothing buffered in the pipe and no chunk between read and append.</summary>
        public bool Idle => !_processing && BytesAvailable() == 0;

        private void Loop()
        {
            var chunk = new byte[16384];
            try
            {
                int n;
                while ((n = _stream.Read(chunk)) > 0)
                {
                    _processing = true;
                    lock (_buffer) _buffer.Write(chunk, 0, n);
                    _processing = false;
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { }
            finally { _done.TrySetResult(); }
        }

        private int BytesAvailable()
        {
            if (_stream is not PipeStream pipe) return 1; // unknown: not idle, wait for EOF or the deadline
            try
            {
                int n = 0;
                return Ioctl((int)pipe.SafePipeHandle.DangerousGetHandle(), FIONREAD, ref n) == 0 ? n : 1;
            }
            catch (ObjectDisposedException) { return 0; }
        }

        public string Text
        {
            get { lock (_buffer) return Encoding.UTF8.GetString(_buffer.GetBuffer(), 0, (int)_buffer.Length); }
        }
    }

    private const int FIONREAD = 0x541B;

    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern int Ioctl(int fd, int request, ref int value);
}
