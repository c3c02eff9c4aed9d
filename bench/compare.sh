#!/usr/bin/env bash
# Usage: bench/compare.sh BASELINE_HUSK [CANDIDATE_HUSK]
# Before/after check of a change: `run` /bin/true, create, and exec /bin/true with a baseline
# husk binary (e.g. one built from main before the change), the candidate (default bin/husk)
# and runc, interleaved sample by sample on the host as it is, RUNS each (default 25).
# Prints the median of each and the ratios candidate/baseline and each/runc; what to quote for
# "within N% of before" is the candidate/runc ratio beside the baseline/runc one of the same run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE=$(realpath "${1:?usage: bench/compare.sh BASELINE_HUSK [CANDIDATE_HUSK]}")
CAND=$(realpath "${2:-$HUSK}")
[[ $(id -u) -eq 0 ]] || die "run as root"
[[ -x $BASE && -x $CAND ]] || die "$BASE or $CAND is not an executable"

work=$(mktemp -d /tmp/husk-compare-XXXXXX)
trap 'for rt in base cand runc; do for id in $(cmd_of $rt list -q 2>/dev/null); do cmd_of $rt delete -f "$id" >/dev/null 2>&1 || true; done; done; rm -rf "$work"' EXIT
bt=$work/benchtool
gcc -O2 -Wall -Wextra -o "$bt" "$BENCH_DIR/tools/benchtool.c"
HUSK=$CAND "$REPO/scripts/make-bundle.sh" "$work/bundle" /bin/true >/dev/null
mkdir -p "$work/sleep"
jq --arg root "$work/bundle/rootfs" '.root.path = $root | .process.args = ["sleep", "1000000"]' \
    "$work/bundle/config.json" >"$work/sleep/config.json"

cmd_of() { # cmd_of RT ARGS...: runs runtime RT with its own --root
    local rt=$1; shift
    case $rt in
        base) "$BASE" --root "$work/root-base" "$@" ;;
        cand) "$CAND" --root "$work/root-cand" "$@" ;;
        runc) "$RUNC" --root "$work/root-runc" "$@" ;;
    esac
}
bin_of() { case $1 in base) echo "$BASE" ;; cand) echo "$CAND" ;; runc) echo "$RUNC" ;; esac; }
timed() { # timed SCENARIO RT ARGS...: one sample, microseconds, into samples.tsv
    local scen=$1 rt=$2; shift 2
    local us rss rc
    read -r us rss rc < <("$bt" time -- "$(bin_of "$rt")" --root "$work/root-$rt" "$@")
    ((rc == 0)) || log "$scen $rt: exit $rc"
    printf '%s\t%s\t%s\n' "$scen" "$rt" "$us" >>"$work/samples.tsv"
}

cd "$work/bundle"
for rt in base cand runc; do cmd_of $rt create --bundle "$work/sleep" "$rt-exec" </dev/null && cmd_of $rt start "$rt-exec"; done
log "run, create and exec x$RUNS: baseline, candidate and runc interleaved"
for ((r = 1; r <= RUNS; r++)); do
    for rt in base cand runc; do
        timed run $rt run "$rt-run-$r"
        timed create $rt create "$rt-c-$r"
        cmd_of $rt delete -f "$rt-c-$r" >/dev/null
        timed exec $rt exec "$rt-exec" /bin/true
    done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-8s %10s %10s %10s %12s %10s %10s\n' scenario "base ms" "cand ms" "runc ms" "cand/base" "base/runc" "cand/runc"
for scen in run create exec; do
    declare -A m=()
    for rt in base cand runc; do
        m[$rt]=$(awk -F'\t' -v s="$scen" -v r="$rt" '$1 == s && $2 == r { print $3 }' "$work/samples.tsv" | median)
    done
    awk -v s="$scen" -v b="${m[base]}" -v c="${m[cand]}" -v r="${m[runc]}" \
        'BEGIN { printf "%-8s %10.2f %10.2f %10.2f %12.3f %10.3f %10.3f\n", s, b / 1000, c / 1000, r / 1000, c / b, b / r, c / r }'
done
