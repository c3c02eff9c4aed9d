using System.Diagnostics;
using System.Text;
using Xunit;

namespace Husk.E2E.Terminal;

/// <summary>
/// Runs a shell command line on a terminal, as a user at a keyboard would: through
/// <c>script -qfec</c> (util-linux), which gives the command a pty and copies our stdin into it
/// and its output to our stdout. The command sees a real terminal (isatty, window size from
/// <c>stty rows R cols C</c> in the command line), and typed input is echoed by the pty.
/// <code>
/// using var s = new PtySession("stty rows 30 cols 90; exec husk run -b DIR ID");
/// s.WaitFor("# "); s.Type("echo hi\r"); s.WaitFor("hi");
/// </code>
/// </summary>
public sealed class PtySession : IDisposable
{
    readonly Process _process;
    readonly StringBuilder _output = new();
    readonly Thread _reader;

    public PtySession(string commandLine, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("script")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-q", "-f", "-e", "-c", commandLine, "/dev/null" }) psi.ArgumentList.Add(a);
        if (env != null) foreach (var (k, v) in env) psi.Environment[k] = v;
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start script");
        _reader = new Thread(() =>
        {
            var buf = new byte[4096];
            var stdout = _process.StandardOutput.BaseStream;
            int n;
            try
            {
                while ((n = stdout.Read(buf, 0, buf.Length)) > 0)
                    lock (_output) _output.Append(Encoding.UTF8.GetString(buf, 0, n));
            }
            catch (IOException) { }
        }) { IsBackground = true };
        _reader.Start();
    }

    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>Types <paramref name="text"/> (use "\r" for Enter).</summary>
    public void Type(string text)
    {
        _process.StandardInput.Write(text);
        _process.StandardInput.Flush();
    }

    public void WaitFor(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (DateTime.UtcNow < deadline)
        {
            if (Output.Contains(text, StringComparison.Ordinal)) return;
            if (_process.HasExited && !Output.Contains(text, StringComparison.Ordinal))
            {
                _reader.Join(TimeSpan.FromSeconds(1));
                if (Output.Contains(text, StringComparison.Ordinal)) return;
                Assert.Fail($"the session ended (exit {_process.ExitCode}) without showing \"{text}\"; it showed:\n{Output}\nstderr: {_process.StandardError.ReadToEnd()}");
            }
            Thread.Sleep(20);
        }
        Assert.Fail($"the terminal never showed \"{text}\"; it showed:\n{Output}");
    }

    /// <summary>Waits for the command to end; returns its exit code (script -e passes it through).</summary>
    public int WaitForExit(TimeSpan? timeout = null)
    {
        if (!_process.WaitForExit(timeout ?? TimeSpan.FromSeconds(30)))
            Assert.Fail($"the terminal session did not end; it showed:\n{Output}");
        _reader.Join(TimeSpan.FromSeconds(2));
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.Dispose();
    }

    /// <summary>A POSIX shell single-quoted word.</summary>
    public static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>A command line of quoted words.</summary>
    public static string CommandLine(params string[] words) => string.Join(' ', words.Select(Quote));
}
