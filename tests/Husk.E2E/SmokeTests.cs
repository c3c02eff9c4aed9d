using Xunit;

namespace Husk.E2E;

public class SmokeTests
{
    [Fact]
    public void Version_exits_zero()
    {
        var r = HuskCli.Run("--version").AssertSuccess();
        Assert.False(string.IsNullOrWhiteSpace(r.Stdout), "husk --version printed nothing");
    }
}
