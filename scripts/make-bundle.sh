#!/usr/bin/env bash
# Usage: scripts/make-bundle.sh DIR [ARG...]
# Builds an OCI bundle in DIR: DIR/rootfs holds a static busybox with its applet symlinks,
# the usual empty mount points and /etc/{passwd,group,hostname}; DIR/config.json is
# `husk spec` output with process.args set to ARG... (default: sh) and terminal false.
# The husk binary is $HUSK if set, else bin/husk of this repository.
set -euo pipefail

if (($# < 1)); then
    echo "usage: $0 DIR [ARG...]" >&2
    exit 2
fi
dir=$1
shift
(($# > 0)) || set -- sh

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
husk=${HUSK:-$repo/bin/husk}
busybox=${BUSYBOX:-/bin/busybox}

[[ -x "$husk" ]] || { echo "make-bundle: $husk not found; run 'make build' first" >&2; exit 1; }
[[ -x "$busybox" ]] || { echo "make-bundle: $busybox not found; install busybox-static" >&2; exit 1; }

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
rootfs=$dir/rootfs

rm -rf "$rootfs" "$dir/config.json"
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,run,var/tmp}
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
chmod 0700 "$rootfs/root"
cp "$busybox" "$rootfs/bin/busybox"
chmod 0755 "$rootfs/bin/busybox"
# The equivalent of `busybox --install -s`, done from the host so it works for any rootfs.
"$busybox" --list-full | while read -r applet; do
    [[ -e "$rootfs/$applet" || -L "$rootfs/$applet" ]] || ln -s /bin/busybox "$rootfs/$applet"
done

cat > "$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$rootfs/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
nobody:x:65534:
GROUP
echo husk > "$rootfs/etc/hostname"

(cd "$dir" && "$husk" spec)
[[ -f "$dir/config.json" ]] || { echo "make-bundle: '$husk spec' wrote no config.json" >&2; exit 1; }

tmp=$dir/config.json.tmp
if command -v jq >/dev/null 2>&1; then
    # One --arg per element: jq 1.6 would take a "-c" after --args as its own option.
    args_json='[]'
    for arg in "$@"; do
        args_json=$(jq -nc --argjson acc "$args_json" --arg a "$arg" '$acc + [$a]')
    done
    jq --argjson args "$args_json" '.process.args = $args | .process.terminal = false | .root.path = "rootfs"' \
        "$dir/config.json" > "$tmp"
elif command -v python3 >/dev/null 2>&1; then
    python3 - "$dir/config.json" "$@" > "$tmp" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.setdefault("process", {})["args"] = sys.argv[2:]
c["process"]["terminal"] = False
c.setdefault("root", {})["path"] = "rootfs"
json.dump(c, sys.stdout, indent=2)
PY
else
    echo "make-bundle: need jq or python3 to edit config.json (scripts/install-deps.sh installs jq)" >&2
    exit 1
fi
mv -f "$tmp" "$dir/config.json"
