#!/usr/bin/env bash
# `make bench`: Husk vs runc vs crun vs the floor on one busybox bundle, interleaved.
# Writes raw samples to bench/out/ and the summary to bench/RESULTS.md.
#   RUNS=25 CONC=50 CONC_ROUNDS=7 MEM_RUNS=7 PROFILE=1 (defaults; see bench/lib.sh)
#   BENCH_VIEWS="host v2"  which cgroup views to measure (v2: private mount ns, pure cgroup2)
# Needs root, gcc, jq, /usr/bin/time, strace (scripts/install-deps.sh installs them); perf is optional.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "run as root"
"$REPO/scripts/install-deps.sh"
[[ -x $HUSK ]] || die "$HUSK not found (make build)"
for tool in gcc jq /usr/bin/time "$RUNC"; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

started=$(date +%s)
rm -rf "$OUT"
mkdir -p "$OUT/tools"

log "building the helpers and the floor"
gcc -O2 -Wall -Wextra -o "$BT" "$BENCH_DIR/tools/benchtool.c"
gcc -O2 -Wall -Wextra -o "$FLOOR" "$BENCH_DIR/floor/floor.c"
gcc -O2 -Wall -Wextra -shared -fPIC -o "$SHIM" "$BENCH_DIR/tools/memlock_shim.c" -ldl

log "making the bundle"
HUSK=$HUSK "$REPO/scripts/make-bundle.sh" "$BUNDLE" /bin/true >/dev/null
# crun 1.8.1 refuses any ociVersion without "1.0" in it ("unknown version specified");
# nothing in this config is newer than 1.0.2, so every runtime gets the same 1.0.2 config.
jq '.ociVersion = "1.0.2"' "$BUNDLE/config.json" >"$BUNDLE/config.json.tmp"
mv "$BUNDLE/config.json.tmp" "$BUNDLE/config.json"
mkdir -p "$BUNDLE_SLEEP"
jq --arg root "$ROOTFS" '.root.path = $root | .process.args = ["sleep", "1000000"]' \
    "$BUNDLE/config.json" >"$BUNDLE_SLEEP/config.json"
# bench/client-seccomp.json: podman's default profile (containers/common's seccomp.json, Apache-2.0)
# as podman hands it to the runtime for a container without added capabilities on x86_64.
mkdir -p "$BUNDLE_CLIENT" "$OUT/client-host/data"
for f in hosts hostname resolv.conf; do echo "# $f" >"$OUT/client-host/$f"; done
jq --arg root "$ROOTFS" --arg host "$OUT/client-host" --slurpfile seccomp "$BENCH_DIR/client-seccomp.json" '
    .root.path = $root | .linux.seccomp = $seccomp[0] |
    .mounts += [{destination: "/etc/hosts", type: "bind", source: "\($host)/hosts", options: ["rbind", "rprivate", "rw"]},
                {destination: "/etc/hostname", type: "bind", source: "\($host)/hostname", options: ["rbind", "rprivate", "rw"]},
                {destination: "/etc/resolv.conf", type: "bind", source: "\($host)/resolv.conf", options: ["rbind", "rprivate", "ro"]},
                {destination: "/data", type: "bind", source: "\($host)/data", options: ["rbind", "rprivate", "rw"]}]' \
    "$BUNDLE/config.json" >"$BUNDLE_CLIENT/config.json"

echo "$HUSK: $("$HUSK" --version 2>/dev/null | head -1), $(stat -c %s "$HUSK") bytes, built $(date -r "$HUSK" '+%F %T'), tree $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD -- src native 2>/dev/null || echo ' + uncommitted changes in src/ or native/')" >"$OUT/husk.txt"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$OUT/samples.tsv"
: >"$OUT/notes.tsv"
for view in ${BENCH_VIEWS:-host v2}; do
    log "view $view"
    case $view in
        host) "$BT" reap -- "$BENCH_DIR/measure.sh" host ;;
        v2) "$BT" reap -- unshare -m -- "$BENCH_DIR/measure.sh" v2 ;;
        *) die "unknown view $view" ;;
    esac
done

log "VM isolation"
"$BENCH_DIR/vm.sh" || log "vm.sh failed; continuing"

if [[ ${PROFILE:-1} == 1 ]]; then
    log "profiling husk run"
    "$BT" reap -- "$BENCH_DIR/profile.sh" host || log "profile.sh host failed; continuing"
    "$BT" reap -- unshare -m -- "$BENCH_DIR/profile.sh" v2 || log "profile.sh v2 failed; continuing"
fi

echo "$load_before → $(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/load.txt"
elapsed=$(($(date +%s) - started))
"$BENCH_DIR/report.sh" "$elapsed" >"$BENCH_DIR/RESULTS.md.tmp"
mv "$BENCH_DIR/RESULTS.md.tmp" "$BENCH_DIR/RESULTS.md"
rm -rf "${STATE_BASE:?}"
log "wrote bench/RESULTS.md (${elapsed}s)"
