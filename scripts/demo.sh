#!/usr/bin/env bash
# `make demo`: builds a busybox bundle in a temporary directory and runs one container
# with bin/husk that prints its hostname, its pid and its mounts; then cleans up.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
husk=${HUSK:-$repo/bin/husk}

work=$(mktemp -d /tmp/husk-demo.XXXXXX)
root=$work/state            # --root: husk's state dir for this demo only
id=husk-demo-$$

cleanup() {
    "$husk" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$repo/scripts/make-bundle.sh" "$work/bundle" sh -c \
    'echo "hostname: $(hostname)"; echo "pid=$$"; echo "mounts:"; cat /proc/self/mountinfo'

echo "+ husk --root $root run --bundle $work/bundle $id"
rc=0
"$husk" --root "$root" run --bundle "$work/bundle" "$id" </dev/null || rc=$?
echo "container exited with status $rc"
exit "$rc"
