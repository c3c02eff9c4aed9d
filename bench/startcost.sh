#!/usr/bin/env bash
# Usage: bench/startcost.sh HUSK... (as root)
# The deterministic side of a husk process's start, for binaries compared side by side (used for
# analysis.md update 5): interleaved N times (default 30), the median task-clock and page faults of
# `husk --version` and of `husk run` of /bin/true (the create process plus the container's init,
# which perf counts when it has exec'd /bin/true and exited); then three `create`s each: the waiting
# init's Rss, Private_Dirty (smaps_rollup) and page faults so far (minflt of /proc/PID/stat).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $(id -u) -eq 0 ]] || die "run as root"
(($# > 0)) || die "usage: bench/startcost.sh HUSK..."
N=${N:-30}
bins=()
for b in "$@"; do bins+=("$(realpath "$b")"); done
work=$(mktemp -d /tmp/husk-startcost-XXXXXX)
trap 'for b in "${bins[@]}"; do for id in $("$b" --root "$work/root-$(basename "$b")" list -q 2>/dev/null); do "$b" --root "$work/root-$(basename "$b")" delete -f "$id" >/dev/null 2>&1 || true; done; done; rm -rf "$work"' EXIT
HUSK=${bins[0]} "$REPO/scripts/make-bundle.sh" "$work/bundle" /bin/true >/dev/null
cd "$work/bundle"
for ((i = 0; i < N; i++)); do
    for b in "${bins[@]}"; do
        n=$(basename "$b")
        perf stat -x, -e task-clock,page-faults "$b" --version 2>&1 >/dev/null |
            awk -F, -v n="$n" '/task-clock/ {t = $1} /page-faults/ {p = $1} END {print n, "version", t, p}' >>"$work/tc"
        perf stat -x, -e task-clock,page-faults "$b" --root "$work/root-$n" run "r$i" </dev/null 2>&1 >/dev/null |
            awk -F, -v n="$n" '/task-clock/ {t = $1} /page-faults/ {p = $1} END {print n, "run", t, p}' >>"$work/tc"
    done
done
printf '%-12s %-8s %14s %12s\n' binary command "task-clock ms" "page faults"
for b in "${bins[@]}"; do
    n=$(basename "$b")
    for s in version run; do
        awk -v n="$n" -v s="$s" '$1 == n && $2 == s {print $3, $4}' "$work/tc" |
            awk -v n="$n" -v s="$s" '{t[NR] = $1; p[NR] = $2} END {asort(t); asort(p); m = int((NR + 1) / 2); printf "%-12s %-8s %14.2f %12d\n", n, s, t[m], p[m]}'
    done
done
printf '\n%-12s %s\n' binary "waiting init: Rss kB, Private_Dirty kB, minflt (three creates)"
for b in "${bins[@]}"; do
    n=$(basename "$b")
    line=""
    for r in 1 2 3; do
        "$b" --root "$work/root-$n" create "m$r" </dev/null >/dev/null
        pid=$("$b" --root "$work/root-$n" state "m$r" | jq -r .pid)
        sleep 0.15
        line+=" $(awk '/^Rss:/ {r = $2} /^Private_Dirty:/ {d = $2} END {printf "%s,%s", r, d}' "/proc/$pid/smaps_rollup"),$(awk '{print $10}' "/proc/$pid/stat")"
        "$b" --root "$work/root-$n" delete -f "m$r" >/dev/null
    done
    printf '%-12s%s\n' "$n" "$line"
done
