using Husk.Linux;
using Xunit;

namespace Husk.Tests.Init;

public class ProcessMemoryTests
{
    const string Maps = """
        00400000-00405000 r--p 00000000 00:2e 1234                               /husk
        00405000-0084a000 r-xp 00005000 00:2e 1234                               /husk
        00a61000-00ca0000 rw-p 0065c000 00:2e 1234                               /husk
        7f0000000000-7f0000151000 rw-p 00000000 00:00 0
        7f00000b0000-7f00000b2000 r--p 00000000 08:01 91                         /etc/ld.so.cache
        7ffd0000a000-7ffd0000c000 r-xp 00000000 00:00 0                          [vdso]
        """;

    [Fact]
    public void Read_only_file_mappings_are_the_candidates()
    {
        Assert.Equal([(0x400000UL, 0x5000UL), (0x405000UL, 0x445000UL), (0x7f00000b0000UL, 0x2000UL)],
            ProcessMemory.ReadOnlyFileMappings(Maps));
    }

    [Theory]
    [InlineData(0UL, false)]                                   // not present
    [InlineData((1UL << 63) | (1UL << 61) | 0x1234, false)]    // a page of the file
    [InlineData((1UL << 63) | 0x1234, true)]                   // present and anonymous: written (RELRO)
    [InlineData(1UL << 62, true)]                              // swapped: anonymous
    public void Pages_of_our_own_keep_a_mapping(ulong entry, bool own) => Assert.Equal(own, ProcessMemory.IsPrivatePage(entry));

    [Fact]
    public void This_process_keeps_working_after_its_pages_are_dropped()
    {
        ProcessMemory.DropCleanFilePages();
        Assert.Equal(4, string.Concat("a", "b", "cd").Length);
        Assert.NotEmpty(ProcessMemory.ReadOnlyFileMappings(File.ReadAllText("/proc/self/maps")));
    }
}
