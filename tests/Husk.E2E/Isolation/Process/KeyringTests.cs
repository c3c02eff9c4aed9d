using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Isolation.Process;

/// <summary>
/// Session keyrings. By default the container joins a new session keyring "_ses.&lt;id&gt;" (as runc);
/// with --no-new-keyring it keeps the caller's. The check: husk is started from a thread that
/// joined a uniquely named session keyring, and the container runs as uid 1000, which can see in
/// /proc/keys only the keyrings it possesses (both keyrings belong to root): exactly its session keyring.
/// </summary>
public class KeyringTests
{
    [DllImport("libc", EntryPoint = "syscall", SetLastError = true)]
    static extern long KeyctlJoin(long number, long cmd, [MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    const long SYS_keyctl = 250, KEYCTL_JOIN_SESSION_KEYRING = 1;

    /// <summary>Runs <paramref name="action"/> on a thread of its own whose session keyring is a new one named <paramref name="name"/>.</summary>
    static T InSessionKeyring<T>(string name, Func<T> action)
    {
        T? result = default;
        ExceptionDispatchInfo? error = null;
        var t = new Thread(() =>
        {
            try
            {
                long key = KeyctlJoin(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
                if (key < 0)
                    Assert.Fail($"this host cannot join a session keyring (keyctl errno {Marshal.GetLastPInvokeError()}): keyrings are unusable here");
                result = action();
            }
            catch (Exception e) { error = ExceptionDispatchInfo.Capture(e); }
        });
        t.Start();
        t.Join();
        error?.Throw();
        return result!;
    }

    static Bundle KeysBundle(params string[] args)
    {
        var bundle = new Bundle(args);
        bundle.Process["user"] = new JsonObject { ["uid"] = 1000, ["gid"] = 1000 };
        // runc's default spec masks /proc/keys; this test needs to read it.
        var masked = (JsonArray?)bundle.Config["linux"]?["maskedPaths"];
        if (masked != null)
            foreach (var m in masked.Where(m => (string)m! == "/proc/keys").ToList()) masked.Remove(m);
        bundle.Save();
        return bundle;
    }

    static string[] Descriptions(string procKeys) =>
        procKeys.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 9).Select(f => f[8].TrimEnd(':')).ToArray();

    [Fact]
    public void By_default_the_container_gets_its_own_session_keyring_named_after_it()
    {
        using var root = new TestRoot();
        using var bundle = KeysBundle("cat", "/proc/keys");
        var id = root.NewId("keys");
        string callers = $"husk-e2e-caller-{Guid.NewGuid():N}"[..32];

        var r = InSessionKeyring(callers, () => root.Run("run", "--bundle", bundle.Dir, id)).AssertSuccess();

        var seen = Descriptions(r.Stdout);
        Assert.Contains($"_ses.{id}", seen);
        Assert.DoesNotContain(callers, seen);
    }

    [Fact]
    public void With_no_new_keyring_the_container_keeps_the_callers_session_keyring()
    {
        using var root = new TestRoot();
        using var bundle = KeysBundle("cat", "/proc/keys");
        var id = root.NewId("keys");
        string callers = $"husk-e2e-caller-{Guid.NewGuid():N}"[..32];

        var r = InSessionKeyring(callers, () => root.Run("run", "--no-new-keyring", "--bundle", bundle.Dir, id)).AssertSuccess();

        var seen = Descriptions(r.Stdout);
        Assert.Contains(callers, seen);
        Assert.DoesNotContain(seen, d => d.StartsWith("_ses."));
    }

    [Fact]
    public void The_new_session_keyring_is_visible_from_the_host_and_searchable_by_its_owner()
    {
        using var root = new TestRoot();
        using var bundle = KeysBundle("sleep", "1000");
        var id = root.NewId("keys");

        ProcessProbe.RunDetached(root, bundle, id);

        string line = File.ReadAllLines("/proc/keys").SingleOrDefault(l => l.EndsWith($" _ses.{id}: empty") || l.Contains($" _ses.{id}:"))
            ?? throw new Xunit.Sdk.XunitException($"no keyring _ses.{id} in the host's /proc/keys");
        uint perm = Convert.ToUInt32(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4], 16);
        Assert.True((perm & 0x00080000) != 0, $"KEY_USR_SEARCH missing from {perm:x8}: {line}");
        root.Run("delete", "--force", id).AssertSuccess();
    }
}
