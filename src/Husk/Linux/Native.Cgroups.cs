using System.Runtime.InteropServices;

namespace Husk.Linux;

// Directory calls the cgroup code needs with their errno (EBUSY, ENOTEMPTY, ...); mkdir is in Native.Core.cs.
public static unsafe partial class Native
{
    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int rmdir(string path);
}
