using Husk.Linux;
using Xunit;

namespace Husk.Tests.Init;

public class ProcessMemoryTests
{
    // Shortened smaps: a clean code mapping, a RELRO mapping written by the dynamic linker, a
    // writable data mapping, an anonymous heap and a read-only file mapping with no page resident.
    const string Smaps = """
        00400000-00405000 r--p 00000000 00:2e 1234                               /husk
        Size:                 20 kB
        Rss:                  20 kB
        Shared_Dirty:          0 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        VmFlags: rd mr mw me dw sd
        00405000-0084a000 r-xp 00005000 00:2e 1234                               /husk
        Rss:                3668 kB
        Shared_Dirty:          0 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        7f00000a0000-7f00000a4000 r--p 001d8000 08:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
        Rss:                  16 kB
        Shared_Dirty:          0 kB
        Private_Dirty:        16 kB
        Anonymous:            16 kB
        00a61000-00ca0000 rw-p 0065c000 00:2e 1234                               /husk
        Rss:                2300 kB
        Private_Dirty:       400 kB
        7f0000000000-7f0000151000 rw-p 00000000 00:00 0
        Rss:                1292 kB
        Private_Dirty:      1292 kB
        Anonymous:          1292 kB
        7f00000b0000-7f00000b2000 r--p 00000000 08:01 91                         /etc/ld.so.cache
        Rss:                   0 kB
        Private_Dirty:         0 kB
        Anonymous:             0 kB
        """;

    [Fact]
    public void Only_clean_read_only_file_mappings_are_dropped()
    {
        var dropped = ProcessMemory.CleanReadOnlyFileMappings(Smaps);
        Assert.Equal([(0x400000UL, 0x5000UL), (0x405000UL, 0x445000UL), (0x7f00000b0000UL, 0x2000UL)], dropped);
    }

    [Fact]
    public void This_process_keeps_working_after_its_pages_are_dropped()
    {
        ProcessMemory.DropCleanFilePages();
        Assert.Equal(4, string.Concat("a", "b", "cd").Length);
        Assert.NotEmpty(ProcessMemory.CleanReadOnlyFileMappings(File.ReadAllText("/proc/self/smaps")));
    }
}
