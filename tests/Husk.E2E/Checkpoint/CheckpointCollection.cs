using Xunit;

namespace Husk.E2E.Checkpoint;

/// <summary>
/// The checkpoint tests run alone: CRIU's restore mounts every cgroup hierarchy in a yard of its
/// own and restores the container's cgroups, including its cgroup2 directory, which the pure-v2
/// view tests (CgroupV2ViewTests) share on a hybrid host; run side by side, a restored container
/// was seen stopped right after its restore (1 run in 8).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CheckpointCollection
{
    public const string Name = "Checkpoint";
}
