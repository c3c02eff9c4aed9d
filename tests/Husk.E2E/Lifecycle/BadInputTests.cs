using System.Text.Json.Nodes;
using Xunit;

namespace Husk.E2E.Lifecycle;

/// <summary>Malformed configs fail `create` with one line naming the field, and leave nothing behind.</summary>
public class BadInputTests
{
    /// <summary>Runs create on a broken config and checks: non-zero, one line, no state dir, cgroup or mount left.</summary>
    static string CreateFails(Action<Bundle> breakIt)
    {
        using var root = new TestRoot();
        using var bundle = new Bundle("true");
        breakIt(bundle);
        var id = root.NewId();
        var mountsBefore = Mounts.MountPointsExceptOtherTests(bundle.Dir, root.Path);
        var r = root.Run("create", "--bundle", bundle.Dir, id).AssertFailure();
        var lines = r.Stderr.Trim().Split('\n');
        Assert.True(lines.Length == 1, $"expected one line of error, got:\n{r.Stderr}");
        Assert.DoesNotMatch(@"\n\s+at |Exception", r.Stderr); // no stack trace
        Assert.Empty(Directory.GetFileSystemEntries(root.Path));
        Assert.Empty(global::Husk.E2E.Cgroups.Cg.Leftovers($"/husk/{id}"));
        Assert.Equal(mountsBefore, Mounts.MountPointsExceptOtherTests(bundle.Dir, root.Path));
        // The next command still works.
        root.Run("list").AssertSuccess();
        return lines[0];
    }

    [Fact]
    public void Args_of_the_wrong_type_name_process_args()
    {
        var line = CreateFails(b => { b.Process["args"] = 5; b.Save(); });
        Assert.Contains("/process/args", line);
    }

    [Fact]
    public void Empty_args_are_refused()
    {
        var line = CreateFails(b => { b.Process["args"] = new JsonArray(); b.Save(); });
        Assert.Contains("/process/args", line);
    }

    [Fact]
    public void Malformed_json_is_refused()
    {
        var line = CreateFails(b => File.WriteAllText(b.ConfigPath, "{\"ociVersion\": \"1.2.0\", "));
        Assert.Contains("config.json", line);
    }

    [Fact]
    public void A_missing_config_is_refused()
    {
        var line = CreateFails(b => File.Delete(b.ConfigPath));
        Assert.Contains("config.json", line);
    }

    [Fact]
    public void A_program_that_does_not_exist_fails_at_create()
    {
        var line = CreateFails(b => b.SetArgs("/no/such/program").Save());
        Assert.Contains("/no/such/program", line);
    }

    [Fact]
    public void A_missing_rootfs_is_refused()
    {
        var line = CreateFails(b => { b.Config["root"]!["path"] = "nowhere"; b.Save(); });
        Assert.Contains("nowhere", line);
    }

    [Fact]
    public void A_relative_cwd_is_refused()
    {
        var line = CreateFails(b => { b.Process["cwd"] = "tmp"; b.Save(); });
        Assert.Contains("/process/cwd", line);
    }

    [Fact]
    public void An_unknown_namespace_type_is_refused()
    {
        var line = CreateFails(b =>
        {
            ((JsonArray)b.Config["linux"]!["namespaces"]!).Add(new JsonObject { ["type"] = "bogus" });
            b.Save();
        });
        Assert.Contains("/linux/namespaces", line);
    }
}
