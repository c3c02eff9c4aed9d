using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Husk.E2E.Clients;

/// <summary>
/// A busybox image built offline, with no registry: the rootfs of a test <see cref="Bundle"/>
/// as one uncompressed layer tar (<see cref="LayerTar"/>, what `podman import` takes), and an OCI
/// image layout archive around it (<see cref="OciArchive"/>: oci-layout, index.json, manifest,
/// config and layer blobs, what `ctr images import` takes) naming the image <see cref="Name"/>.
/// </summary>
public sealed class BusyboxImage : IDisposable
{
    public string Dir { get; }
    public string LayerTar => Path.Combine(Dir, "layer.tar");
    public string OciArchive => Path.Combine(Dir, "image-oci.tar");
    public string Name { get; }

    /// <summary>The image's default command (its config's Cmd).</summary>
    public string[] Cmd { get; }

    public BusyboxImage(string name, params string[] cmd)
    {
        Name = name;
        Cmd = cmd.Length > 0 ? cmd : ["sh"];
        Dir = Directory.CreateTempSubdirectory("husk-image-").FullName;
        try
        {
            using (var bundle = new Bundle())
                Tar(bundle.Rootfs, LayerTar);
            BuildOciLayout();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    void BuildOciLayout()
    {
        var layout = Path.Combine(Dir, "layout");
        var blobs = Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        string Blob(byte[] data)
        {
            var hex = Convert.ToHexStringLower(SHA256.HashData(data));
            File.WriteAllBytes(Path.Combine(blobs, hex), data);
            return "sha256:" + hex;
        }
        var layer = File.ReadAllBytes(LayerTar);
        var layerDigest = Blob(layer);
        var config = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new JsonObject
            {
                ["Env"] = new JsonArray("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                ["Cmd"] = new JsonArray(Cmd.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()),
            },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layerDigest) },
        }.ToJsonString());
        var configDigest = Blob(config);
        var manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new JsonObject { ["mediaType"] = "application/vnd.oci.image.config.v1+json", ["digest"] = configDigest, ["size"] = config.Length },
            ["layers"] = new JsonArray(new JsonObject { ["mediaType"] = "application/vnd.oci.image.layer.v1.tar", ["digest"] = layerDigest, ["size"] = layer.Length }),
        }.ToJsonString());
        var manifestDigest = Blob(manifest);
        File.WriteAllText(Path.Combine(layout, "index.json"), new JsonObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
                ["digest"] = manifestDigest,
                ["size"] = manifest.Length,
                ["platform"] = new JsonObject { ["architecture"] = "amd64", ["os"] = "linux" },
                ["annotations"] = new JsonObject
                {
                    ["io.containerd.image.name"] = Name,
                    ["org.opencontainers.image.ref.name"] = "latest",
                },
            }),
        }.ToJsonString());
        File.WriteAllText(Path.Combine(layout, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        Tar(layout, OciArchive);
    }

    static void Tar(string dir, string archive) =>
        ProcessRunner.Run("tar", ["--numeric-owner", "-C", dir, "-cf", archive, "."], new RunOptions()).AssertSuccess($"tar {dir}");

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (Exception) { }
    }
}
