using Husk.Spec;

namespace Husk.Container;

/// <summary>Maps linux.namespaces to what nsexec.c does: CLONE_NEW* flags to unshare and paths to join.</summary>
public sealed record NamespacePlan(uint CloneFlags, IReadOnlyList<(uint Flag, string Path)> Joins)
{
    public bool Creates(NamespaceKind kind) => (CloneFlags & NamespaceKinds.Of(kind).CloneFlag) != 0;
    public bool JoinsExisting(NamespaceKind kind) => Joins.Any(j => j.Flag == NamespaceKinds.Of(kind).CloneFlag);
    public bool HasUserNamespace => Creates(NamespaceKind.User) || JoinsExisting(NamespaceKind.User);

    public static NamespacePlan From(Spec.Spec spec)
    {
        uint flags = 0;
        var joins = new List<(uint, string)>();
        foreach (var ns in spec.Linux?.Namespaces ?? [])
        {
            uint flag = (NamespaceKinds.Find(ns.Type) ?? throw new HuskException($"/linux/namespaces: unknown namespace type \"{ns.Type}\"")).CloneFlag;
            if (string.IsNullOrEmpty(ns.Path)) flags |= flag;
            else joins.Add((flag, ns.Path));
        }
        return new NamespacePlan(flags, joins);
    }
}
