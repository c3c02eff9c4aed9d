using System.Runtime.InteropServices;
using System.Text;

namespace Husk.Linux;

/// <summary>NUL-terminated UTF-8 strings and argv-style arrays in native memory, for execve and posix_spawn.</summary>
public sealed unsafe class CStrings : IDisposable
{
    readonly List<nint> _owned = [];

    public byte* Utf8(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        var p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        _owned.Add((nint)p);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    /// <summary>A NULL-terminated array of strings (argv, envp).</summary>
    public byte** Array(IReadOnlyList<string> items)
    {
        var arr = (byte**)NativeMemory.Alloc((nuint)(sizeof(nint) * (items.Count + 1)));
        _owned.Add((nint)arr);
        for (int i = 0; i < items.Count; i++) arr[i] = Utf8(items[i]);
        arr[items.Count] = null;
        return arr;
    }

    public void Dispose()
    {
        foreach (var p in _owned) NativeMemory.Free((void*)p);
        _owned.Clear();
    }
}
