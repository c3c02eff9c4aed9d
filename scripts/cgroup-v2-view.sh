#!/usr/bin/env bash
# Usage: scripts/cgroup-v2-view.sh COMMAND [ARGS...]
# Runs COMMAND as on a pure cgroup v2 host: in a private mount namespace whose /sys/fs/cgroup is
# a fresh cgroup2 mount (umount -R of the host's tree, then mount -t cgroup2). The host itself is
# not changed. On a hybrid host the cgroup2 hierarchy there holds only the controllers no v1
# hierarchy has, so `husk check` run inside shows what such a host lacks. Needs root.
set -euo pipefail
(($# > 0)) || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
exec unshare -m --propagation private -- bash -c '
    set -e
    umount -R /sys/fs/cgroup
    mount -t cgroup2 none /sys/fs/cgroup
    exec "$@"' cgroup-v2-view "$@"
