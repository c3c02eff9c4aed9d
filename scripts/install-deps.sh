#!/usr/bin/env bash
# Installs the Debian packages Husk's build, demo, tests and benchmarks need.
# Idempotent and quiet: apt-get runs only when something is missing, so a second call
# costs a few dpkg queries. Run as root (or with sudo available).
set -euo pipefail

# busybox-static: the rootfs of every test/demo bundle.  libseccomp: seccomp filters (libseccomp.a
# and glibc's libc.a from libc6-dev: bin/husk is linked statically).
# iptables + criu: checkpoint/restore.  runc + crun: side-by-side comparisons/benchmarks.
# hyperfine, time, strace: benchmarks and debugging.  jq: editing config.json in scripts.
PACKAGES=(busybox-static libseccomp2 libseccomp-dev libc6-dev iptables criu runc crun hyperfine time strace jq)
# The real clients of the e2e tests (tests/Husk.E2E/Clients): containerd (ctr and its runc shim),
# podman with conmon and uidmap; bsdutils' `script` gives the terminal tests a pty.
PACKAGES+=(containerd podman conmon uidmap bsdutils)
# Used by the end-to-end tests: ip netns (iproute2), ps (procps), useradd (passwd), nsenter/unshare (util-linux).
PACKAGES+=(iproute2 procps passwd util-linux)
# VM isolation (io.husk.isolation=vm): QEMU (microvm) and, in qemu-system-common, virtiofsd.
PACKAGES+=(qemu-system-x86 qemu-system-common)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

# Tools that are not packages we install but that everything else needs.
for tool in gcc dotnet; do
    command -v "$tool" >/dev/null 2>&1 || echo "install-deps: warning: '$tool' not found in PATH" >&2
done

HERE=$(cd "$(dirname "$0")" && pwd)
# The guest kernel for VM isolation, from the kernel package, into Husk's own directory. Without
# it only VM isolation is missing (husk check says so, its tests are skipped with that reason).
vm_assets() {
    "${SUDO[@]}" "$HERE/vm-assets.sh" || echo "install-deps: warning: no guest kernel for VM isolation" >&2
}
SUDO=()
if ((${#missing[@]} == 0)); then
    vm_assets
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-deps: missing packages (${missing[*]}) and not root; install them and retry" >&2
        exit 1
    fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >/dev/null
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
vm_assets
