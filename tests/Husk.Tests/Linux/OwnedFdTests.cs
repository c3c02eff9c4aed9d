using Husk.Linux;
using Xunit;
using static Husk.Linux.Native;

namespace Husk.Tests.Linux;

// RecordingKernel throws on the close of an fd that is not open: a second close shows up.
public class OwnedFdTests
{
    [Fact]
    public void Dispose_closes_once_and_Release_hands_the_fd_on()
    {
        var kernel = new RecordingKernel();
        var owned = new OwnedFd(kernel, kernel.Open("/a", O_RDONLY));
        int fd = owned.Fd;
        owned.Dispose();
        owned.Dispose();
        Assert.Throws<ObjectDisposedException>(() => owned.Fd);
        Assert.Throws<InvalidOperationException>(() => kernel.Close(fd));

        var released = new OwnedFd(kernel, kernel.Open("/b", O_RDONLY));
        fd = released.Release();
        released.Dispose();
        Assert.Equal(0, kernel.Close(fd));
    }

    [Fact]
    public void OwnedFds_closes_every_fd_once()
    {
        var kernel = new RecordingKernel();
        var fds = new OwnedFds<int> { [1] = new(kernel, kernel.Open("/a", O_RDONLY)), [4] = new(kernel, kernel.Open("/b", O_RDONLY)) };
        int a = fds[1].Fd, b = fds[4].Fd;
        fds.Dispose();
        fds.Dispose();
        Assert.Throws<InvalidOperationException>(() => kernel.Close(a));
        Assert.Throws<InvalidOperationException>(() => kernel.Close(b));
    }
}
