using Husk.E2E.Isolation.Namespaces;
using Xunit;

namespace Husk.E2E.Security;

/// <summary>
/// linux.mountLabel (issue 14 item 8): where SELinux is enabled, the file systems Husk mounts for
/// the container carry the label (their context= mount option, as runc's label.FormatMountLabel),
/// so the container's processes, confined by their own label, can use their /dev/shm and tmpfs.
/// Before, a host with SELinux accepted the label and applied it nowhere: the tmpfs got the
/// default label. (Where SELinux is not enabled the label is refused at create: LsmTests.)
/// </summary>
[Collection(SecurityCollection.Name)]
public class MountLabelTests
{
    [Fact]
    public void The_mount_label_is_the_context_of_the_containers_file_systems()
    {
        HostFacts.Here.Require("selinux", "SELinux");
        const string label = "system_u:object_r:container_file_t:s0";
        using var s = new Sandbox("sh", "-c", "grep ' /dev/shm ' /proc/self/mountinfo");
        s.Linux["mountLabel"] = label;
        var r = s.Run().AssertSuccess();
        Assert.Matches("context=\"?" + System.Text.RegularExpressions.Regex.Escape(label), r.Stdout);   // mountinfo's super options
        s.AssertNothingLeaked();
    }
}
