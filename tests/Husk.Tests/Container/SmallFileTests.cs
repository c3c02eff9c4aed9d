using Husk.Linux;
using Xunit;

namespace Husk.Tests.Container;

public class SmallFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("husk-smallfile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_missing_file_or_directory_reads_as_null()
    {
        Assert.Null(SmallFile.ReadOrNull(Path.Combine(_dir, "none")));
        Assert.Null(SmallFile.ReadOrNull(Path.Combine(_dir, "none", "deeper")));
        File.WriteAllText(Path.Combine(_dir, "file"), "x");
        Assert.Null(SmallFile.ReadOrNull(Path.Combine(_dir, "file", "below-a-file")));
    }

    [Fact]
    public void Files_of_any_size_and_proc_files_read_whole()
    {
        var big = new byte[100_000];
        new Random(7).NextBytes(big);
        File.WriteAllBytes(Path.Combine(_dir, "big"), big);
        Assert.Equal(big, SmallFile.ReadOrNull(Path.Combine(_dir, "big"))!);
        Assert.Empty(SmallFile.ReadOrNull("/dev/null")!);
        Assert.Contains("/proc", SmallFile.ReadTextOrNull("/proc/self/mountinfo"));
    }

    [Fact]
    public void A_size_cap_truncates_and_a_fifo_does_not_block()
    {
        var path = Path.Combine(_dir, "ten");
        File.WriteAllText(path, "0123456789");
        Assert.Equal("01234", SmallFile.ReadTextOrNull(path, 5));
        var fifo = Path.Combine(_dir, "fifo");
        Assert.Equal(0, Native.mkfifo(fifo, 0x180));
        Assert.Equal("", SmallFile.ReadTextOrNull(fifo));
    }

    [Fact]
    public void Atomic_writes_replace_the_file_and_leave_no_temporary_file()
    {
        var path = Path.Combine(_dir, "state.json");
        SmallFile.WriteAtomically(path, "first, longer"u8);
        SmallFile.WriteAtomically(path, "second"u8);
        Assert.Equal("second", File.ReadAllText(path));
        Assert.Equal(["state.json"], Directory.GetFiles(_dir).Select(Path.GetFileName));
        var e = Assert.Throws<KernelException>(() => SmallFile.WriteAtomically(Path.Combine(_dir, "no-dir", "f"), "x"u8));
        Assert.Contains("no-dir", e.Message);
    }
}
