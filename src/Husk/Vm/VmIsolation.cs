namespace Husk.Vm;

/// <summary>
/// Whether a container runs in its own VM. The runc shim and conmon pass only runc's arguments,
/// so the choice rides on the container (the annotation, as crun's run.oci.handler does) or on
/// the name husk was started by (`husk-vm`, for a runtime entry that can only name a binary).
/// </summary>
public static class VmIsolation
{
    public const string Annotation = "io.husk.isolation";
    public const string VmBinaryName = "husk-vm";

    /// <summary>
    /// The annotation's value, else the default of the name husk runs as. Unknown values are
    /// refused. (The guest's copy of the spec says "container": there it runs as on a host.)
    /// </summary>
    public static bool Selected(Spec.Spec spec, string argv0) =>
        spec.Annotations.TryGetValue(Annotation, out var value)
            ? value switch
            {
                "vm" => true,
                "container" => false,
                _ => throw new HuskException($"/annotations/{Annotation}: \"{value}\": use \"vm\" or \"container\""),
            }
            : Path.GetFileName(argv0) == VmBinaryName;

    public static bool Selected(Spec.Spec spec) => Selected(spec, Environment.GetCommandLineArgs()[0]);

    /// <summary>Whether a created container's recorded config.json says it runs in a VM.</summary>
    public static bool InVm(Spec.Spec recorded) => recorded.Annotations.GetValueOrDefault(Annotation) == "vm";

    /// <summary>
    /// Refuses <paramref name="command"/> on a container that runs in a VM and cannot have it yet
    /// (CRIU and cgroup updates would act on QEMU). Create records the annotation, however VM isolation was chosen.
    /// </summary>
    public static void RefuseIfInVm(Spec.Spec recorded, string id, string command)
    {
        if (InVm(recorded))
            throw new HuskException($"{command}: container \"{id}\" runs in its own VM, which has no {command} yet");
    }
}
