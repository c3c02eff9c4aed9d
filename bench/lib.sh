# Shared settings and helpers for bench/*.sh (sourced, not run).
# Everything can be overridden from the environment, e.g. RUNS=50 make bench.

BENCH_DIR=${BENCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
REPO=${REPO:-$(cd "$BENCH_DIR/.." && pwd)}
OUT=${BENCH_OUT:-$BENCH_DIR/out}           # raw samples, tools, bundle, profiles
STATE_BASE=${STATE_BASE:-/run/husk-bench}  # --root of each runtime: $STATE_BASE/<view>/<rt>

HUSK=${HUSK:-$REPO/bin/husk}
RUNC=${RUNC:-/usr/sbin/runc}
CRUN=${CRUN:-/usr/bin/crun}

RUNS=${RUNS:-25}                # samples per runtime: run, create/start/delete, exec
CONC=${CONC:-50}                # containers started at once in the concurrency scenario
CONC_ROUNDS=${CONC_ROUNDS:-7}   # samples per runtime of the concurrency scenario
MEM_RUNS=${MEM_RUNS:-7}         # samples per runtime of the memory scenarios

BT=$OUT/tools/benchtool
FLOOR=$OUT/tools/floor
SHIM=$OUT/tools/memlock_shim.so
BUNDLE=$OUT/bundle              # process.args = /bin/true
BUNDLE_SLEEP=$OUT/bundle-sleep  # same rootfs, process.args = sleep 1000000 (exec target)
BUNDLE_CLIENT=$OUT/bundle-client  # same rootfs and /bin/true, with what podman gives a container:
                                  # its default seccomp profile (bench/client-seccomp.json) and 4 binds
ROOTFS=$BUNDLE/rootfs

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# rt_cmd RT VIEW: sets the array CMD to runtime RT's command line prefix in VIEW.
rt_cmd() {
    local rt=$1 view=$2
    case $rt in
        husk) CMD=("$HUSK" --root "$STATE_BASE/$view/husk") ;;
        runc) CMD=("$RUNC" --root "$STATE_BASE/$view/runc") ;;
        crun) CMD=("$CRUN" --root "$STATE_BASE/$view/crun") ;;
        floor) CMD=("$FLOOR" "$ROOTFS") ;;
        *) die "unknown runtime $rt" ;;
    esac
}

# rt_exec RT CMD...: runs CMD (usually benchtool or the runtime) in RT's environment.
# crun gets a tiny LD_PRELOAD shim (tools/memlock_shim.c): this host's RLIMIT_MEMLOCK hard
# limit cannot be raised (CAP_SYS_RESOURCE is not in the bounding set) and crun 1.8.1 treats
# the failing setrlimit(RLIMIT_MEMLOCK, infinity) it does before loading its device-cgroup
# eBPF program as fatal; the shim turns that one EPERM into success (kernel 6.18 accounts
# BPF memory to the memory cgroup, not to RLIMIT_MEMLOCK, so the load then works).
# The environment is set on the process that starts the runtime, so no extra exec is timed.
rt_exec() {
    local rt=$1
    shift
    if [[ $rt == crun ]]; then
        LD_PRELOAD=$SHIM "$@"
    else
        "$@"
    fi
}
