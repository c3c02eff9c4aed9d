#!/usr/bin/env bash
# Soak: N sequential `husk run`s of /bin/true in one --root, counting what could leak:
# mounts (host table: total, and below the bundle / --root), cgroup directories (under the
# husk parent in every hierarchy, and named after this run's ids), state directories, live
# processes rooted in the bundle or in a container cgroup, and zombie processes. Prints the
# numbers every INTERVAL runs and at the end; exits 1 when anything is left or grew.
#   N=2000 INTERVAL=250 bench/soak.sh            (not part of `make test`: a bench script)
# Needs root and bin/husk (make build). Other work on the host may add mounts, cgroups and
# zombies of its own: the "ours" columns count only this run's; "host" columns are context.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HUSK=${HUSK:-$REPO/bin/husk}
N=${N:-2000}
INTERVAL=${INTERVAL:-250}
PREFIX=soak-$$-

[[ $(id -u) -eq 0 ]] || { echo "soak: run as root" >&2; exit 1; }
[[ -x $HUSK ]] || { echo "soak: $HUSK not found (make build)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/husk-soak.XXXXXX)
ROOT=/run/husk-soak-$$
BUNDLE=$WORK/bundle
cleanup() {
    for d in "$ROOT"/*/; do [[ -d $d ]] && "$HUSK" --root "$ROOT" delete --force "$(basename "$d")" >/dev/null 2>&1 || true; done
    rm -rf "$ROOT" "$WORK"
}
trap cleanup EXIT

HUSK=$HUSK "$REPO/scripts/make-bundle.sh" "$BUNDLE" /bin/true >/dev/null
mkdir -p "$ROOT"

hierarchies() { awk '{for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) ~ /^cgroup2?$/) print $5; break }}' /proc/self/mountinfo | sort -u; }
HIERARCHIES=$(hierarchies)

count_mounts_total() { wc -l </proc/self/mountinfo; }
count_mounts_ours() { awk -v b="$WORK" -v r="$ROOT" 'index($5, b) == 1 || index($5, r) == 1' /proc/self/mountinfo | wc -l; }
count_cgroups_ours() {
    local n=0 h
    for h in $HIERARCHIES; do
        n=$((n + $(find "$h/husk" -maxdepth 1 -mindepth 1 -type d -name "${PREFIX}*" 2>/dev/null | wc -l)))
    done
    echo "$n"
}
count_cgroups_husk() {
    local n=0 h
    for h in $HIERARCHIES; do
        n=$((n + $(find "$h/husk" -maxdepth 1 -mindepth 1 -type d 2>/dev/null | wc -l)))
    done
    echo "$n"
}
count_state_dirs() { find "$ROOT" -mindepth 1 -maxdepth 1 | wc -l; }
# Processes (not zombies) whose root is the bundle's rootfs or whose cgroup names one of our ids.
count_procs_ours() {
    local n=0 p root state
    for p in /proc/[0-9]*; do
        state=$(awk '{sub(/.*\) /, ""); print $1; exit}' "$p/stat" 2>/dev/null) || continue
        [[ $state == Z || -z $state ]] && continue
        root=$(readlink "$p/root" 2>/dev/null) || continue
        if [[ $root == "$BUNDLE"* ]] || grep -q "/husk/${PREFIX}" "$p/cgroup" 2>/dev/null; then n=$((n + 1)); fi
    done
    echo "$n"
}
count_zombies() { cat /proc/[0-9]*/stat 2>/dev/null | awk '{sub(/.*\) /, ""); if ($1 == "Z") n++} END {print n + 0}'; }
# Zombies whose command is husk or one of the container's (busybox true): ours, not the host's.
count_zombies_ours() {
    local n=0 p
    for p in /proc/[0-9]*; do
        if awk '{sub(/.*\) /, ""); exit !($1 == "Z")}' "$p/stat" 2>/dev/null; then
            case $(cat "$p/comm" 2>/dev/null) in husk|true|busybox|exe) n=$((n + 1)) ;; esac
        fi
    done
    echo "$n"
}

report() { # label
    printf '%-8s %8s %10s %10s %10s %12s %10s %10s %10s %10s\n' "$1" "$2" \
        "$(count_mounts_ours)" "$(count_mounts_total)" "$(count_cgroups_ours)" "$(count_cgroups_husk)" \
        "$(count_state_dirs)" "$(count_procs_ours)" "$(count_zombies_ours)" "$(count_zombies)"
}

echo "husk soak: $N sequential 'husk run' of /bin/true ($("$HUSK" --version | head -1)), kernel $(uname -r)"
printf '%-8s %8s %10s %10s %10s %12s %10s %10s %10s %10s\n' "" runs "mounts:our" "mounts:all" "cgroups:our" "cgroups:husk/" \
    "statedirs" "procs:our" "zomb:our" "zomb:all"
report before 0
base_mounts=$(count_mounts_total)
base_zombies_ours=$(count_zombies_ours)
failed=0
start=$(date +%s.%N)
for ((i = 1; i <= N; i++)); do
    if ! "$HUSK" --root "$ROOT" run --bundle "$BUNDLE" "$PREFIX$i" >/dev/null 2>"$WORK/err"; then
        failed=$((failed + 1))
        ((failed <= 5)) && echo "run $i failed: $(head -c 300 "$WORK/err")"
    fi
    ((i % INTERVAL == 0)) && report run "$i"
done
end=$(date +%s.%N)
sleep 0.5
report after "$N"

mounts_ours=$(count_mounts_ours); cgroups_ours=$(count_cgroups_ours); states=$(count_state_dirs)
procs=$(count_procs_ours); zombies_ours=$(count_zombies_ours)
growth_zombies=$((zombies_ours - base_zombies_ours))
echo "elapsed: $(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.1f s, %.1f ms per run", e - s, (e - s) * 1000 / '"$N"'}'); failed runs: $failed"
echo "host mount table: $base_mounts before, $(count_mounts_total) after (other work on the host may change it)"
echo "leftovers after $N runs: mounts=$mounts_ours cgroups=$cgroups_ours state_dirs=$states processes=$procs zombies=$growth_zombies"
if ((failed + mounts_ours + cgroups_ours + states + procs + (growth_zombies > 0 ? growth_zombies : 0) > 0)); then
    echo "SOAK FAILED"
    exit 1
fi
echo "SOAK OK: zero leftovers"
