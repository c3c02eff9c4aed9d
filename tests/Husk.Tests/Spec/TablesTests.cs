using Husk.Spec;
using Xunit;

namespace Husk.Tests.Spec;

public class TablesTests
{
    [Fact]
    public void Capabilities_Table()
    {
        Assert.Equal(41, Capabilities.All.Count);
        Assert.Equal(0, Capabilities.Number("CAP_CHOWN"));
        Assert.Equal(21, Capabilities.Number("CAP_SYS_ADMIN"));
        Assert.Equal(40, Capabilities.Number("CAP_CHECKPOINT_RESTORE"));
        Assert.Equal(-1, Capabilities.Number("CAP_NOPE"));
        Assert.Equal((1UL << 5) | (1UL << 10), Capabilities.Mask(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NOPE"]));
    }

    [Fact]
    public void MountOptions_DefaultDevMount()
    {
        var p = MountOptions.ParseOptions(["nosuid", "strictatime", "mode=755", "size=65536k"]);
        Assert.Equal(MountOptions.MS_NOSUID | MountOptions.MS_STRICTATIME, p.Flags);
        Assert.Equal("mode=755,size=65536k", p.Data);
        Assert.Empty(p.PropagationFlags);
    }

    [Fact]
    public void MountOptions_Bind_Propagation_Recursive()
    {
        var p = MountOptions.ParseOptions(["rbind", "ro", "rprivate", "rro", "rnoatime", "tmpcopyup", "rw"]);
        Assert.Equal(MountOptions.MS_BIND | MountOptions.MS_REC, p.Flags);
        Assert.Equal(MountOptions.MS_RDONLY, p.ClearedFlags);
        Assert.Equal([MountOptions.MS_PRIVATE | MountOptions.MS_REC], p.PropagationFlags);
        Assert.Equal(MountOptions.MOUNT_ATTR_RDONLY | MountOptions.MOUNT_ATTR_NOATIME, p.AttrSet);
        Assert.Equal(MountOptions.MOUNT_ATTR__ATIME, p.AttrClear);
        Assert.True(p.HasExtension("tmpcopyup"));
        Assert.Equal("", p.Data);
    }

    [Fact]
    public void MountOptions_EmptyOrNull()
    {
        var p = MountOptions.ParseOptions(null);
        Assert.Equal(0UL, p.Flags);
        Assert.Equal("", p.Data);
    }

    [Fact]
    public void MountOptions_TableHasTheBriefsNames()
    {
        foreach (var n in "ro rw suid nosuid dev nodev exec noexec sync async dirsync remount mand nomand atime noatime diratime nodiratime bind rbind relatime norelatime strictatime nostrictatime private rprivate shared rshared slave rslave unbindable runbindable tmpcopyup rro rrw rnosuid rnodev rnoexec ratime rnoatime".Split(' '))
            Assert.True(MountOptions.IsKnown(n), n);
        Assert.True(MountOptions.Table["rprivate"].Propagation);
        Assert.True(MountOptions.Table["rro"].Recursive);
    }
}
