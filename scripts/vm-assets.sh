#!/usr/bin/env bash
# Guest assets for VM isolation (io.husk.isolation=vm): a Debian cloud kernel and the few modules
# the guest loads (virtio over MMIO, the console ports, virtio-fs), extracted from the kernel
# package into one Husk directory. Nothing is installed into the host's /boot or /lib/modules.
# Idempotent: returns at once when the directory already holds the release it names.
#
# Layout of $HUSK_VM_DIR (default /var/lib/husk/vm), read by src/Husk/Vm/GuestAssets.cs:
#   vmlinuz            the guest kernel
#   release            its release string (uname -r in the guest)
#   modules/*.ko       the modules, and modules/order: their names in load order
set -euo pipefail

DIR=${HUSK_VM_DIR:-/var/lib/husk/vm}
# Load order matters: each module needs the ones before it.
# virtio_balloon: free page reporting gives the host back the guest memory the guest frees.
MODULES=(virtio_ring virtio virtio_mmio virtio_console virtio_balloon fuse virtiofs)

if [[ -s "$DIR/release" && -f "$DIR/vmlinuz" && "$(cat "$DIR/modules/order" 2>/dev/null)" == "$(printf '%s\n' "${MODULES[@]}")" ]]; then
    exit 0
fi

# The metapackage names the current kernel package (linux-image-<release>).
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [[ -z "$pkg" ]]; then
    apt-get update -qq >/dev/null
    pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[[ -n "$pkg" ]] || { echo "vm-assets: no linux-image-cloud-amd64 package in apt's lists" >&2; exit 1; }
release=${pkg#linux-image-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt's sandbox user cannot write into a mktemp directory owned by root.
chmod 755 "$work"
(cd "$work" && apt-get download -qq "$pkg" >/dev/null 2>&1) || { echo "vm-assets: apt-get download $pkg failed" >&2; exit 1; }
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/x"

mkdir -p "$DIR.new/modules"
cp "$work/x/boot/vmlinuz-$release" "$DIR.new/vmlinuz"
for m in "${MODULES[@]}"; do
    ko=$(find "$work/x/lib/modules/$release" -name "$m.ko" | head -1)
    [[ -n "$ko" ]] || { echo "vm-assets: $pkg has no module $m" >&2; exit 1; }
    cp "$ko" "$DIR.new/modules/"
done
printf '%s\n' "${MODULES[@]}" > "$DIR.new/modules/order"
echo "$release" > "$DIR.new/release"
rm -rf "$DIR"
mv "$DIR.new" "$DIR"
echo "vm-assets: guest kernel $release in $DIR"
