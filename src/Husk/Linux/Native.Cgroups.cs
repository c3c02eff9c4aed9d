using System.Runtime.InteropServices;

namespace Husk.Linux;

// Directory calls the cgroup code needs with their errno (EBUSY, ENOTEMPTY, ...); mkdir is in Native.Core.cs.
// eventfd for cgroup v1 OOM notifications (cgroup.event_control).
public static unsafe partial class Native
{
    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rmdir(string path);

    public const int EFD_CLOEXEC = 0x80000;

    [LibraryImport(Libc, SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);
}
