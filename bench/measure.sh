#!/usr/bin/env bash
# Usage: bench/measure.sh VIEW   (VIEW = host | v2)
# Runs every scenario for every runtime that works in VIEW, interleaved (husk, runc, crun,
# floor, husk, runc, ...), and appends one line per sample to $OUT/samples.tsv:
#     VIEW SCENARIO RUNTIME ROUND VALUE EXIT
# (VALUE: microseconds for times, kB for memory). Runtimes or scenarios that cannot run
# go to $OUT/notes.tsv as "VIEW SCENARIO RUNTIME REASON".
# v2: must be started inside a private mount namespace (run.sh does `unshare -m`); this
# script then replaces /sys/fs/cgroup there with a pure cgroup2 mount.
# Run it under `benchtool reap` so that detached container inits are reaped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

view=${1:?usage: measure.sh host|v2}
samples=$OUT/samples.tsv
notes=$OUT/notes.tsv

if [[ $view == v2 ]]; then
    [[ $(readlink /proc/self/ns/mnt) != $(readlink /proc/1/ns/mnt) ]] ||
        die "measure.sh v2 must run in a private mount namespace (unshare -m)"
    umount -R /sys/fs/cgroup
    mount -t cgroup2 none /sys/fs/cgroup
fi

note() { printf '%s\t%s\t%s\t%s\n' "$view" "$1" "$2" "$3" >>"$notes"; }
sample() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$view" "$1" "$2" "$3" "$4" "$5" >>"$samples"; }

# timed RT SCENARIO ROUND ARGS...: times one runtime command; records wall time (and for
# scenarios ending in _rss the maxrss instead).
timed() {
    local rt=$1 scen=$2 round=$3
    shift 3
    local us rss rc
    read -r us rss rc < <(rt_exec "$rt" "$BT" time -- "$@")
    sample "$scen" "$rt" "$round" "$us" "$rc"
    ((rc == 0)) || log "$view $scen $rt round $round: exit $rc"
    return 0
}

# cleanup_rt RT: force-deletes every container RT still knows in this view.
cleanup_rt() {
    local rt=$1 id
    [[ $rt == floor ]] && return 0
    rt_cmd "$rt" "$view"
    local ids
    ids=$(rt_exec "$rt" "${CMD[@]}" list -q 2>/dev/null || true)
    for id in $ids; do
        rt_exec "$rt" "${CMD[@]}" delete -f "$id" >/dev/null 2>&1 || true
    done
}

# wait_stopped RT ID: waits (untimed) until the container's process has exited.
wait_stopped() {
    local rt=$1 id=$2 i st
    rt_cmd "$rt" "$view"
    for ((i = 0; i < 500; i++)); do
        st=$(rt_exec "$rt" "${CMD[@]}" state "$id" 2>/dev/null | jq -r .status 2>/dev/null || true)
        [[ $st == stopped || -z $st ]] && return 0
        sleep 0.01
    done
    log "$view: $rt $id did not stop"
}

# ---- which runtimes work in this view -------------------------------------------------
rm -rf "${STATE_BASE:?}/$view"
mkdir -p "$STATE_BASE/$view"/{husk,runc,crun}
cd "$BUNDLE"
runtimes=()
for rt in husk runc crun; do
    rt_cmd "$rt" "$view"
    if err=$(rt_exec "$rt" "${CMD[@]}" run "probe-$rt" 2>&1 </dev/null); then
        runtimes+=("$rt")
    else
        reason=$(printf '%s' "$err" | grep -v '^\s*$' | tail -1)
        note all "$rt" "cannot run here: ${reason:-exit status $?}"
        log "$view: $rt cannot run: $reason"
        cleanup_rt "$rt"
    fi
done
log "$view: runtimes ${runtimes[*]}"
with_floor=("${runtimes[@]}" floor)

# ---- 1. run /bin/true (+ the floor) ---------------------------------------------------
log "$view: run /bin/true x$RUNS"
for ((r = 1; r <= RUNS; r++)); do
    for rt in "${with_floor[@]}"; do
        rt_cmd "$rt" "$view"
        if [[ $rt == floor ]]; then
            timed "$rt" run "$r" "${CMD[@]}"
        else
            timed "$rt" run "$r" "${CMD[@]}" run "$rt-run-$r"
        fi
    done
done

# ---- 1b. run /bin/true with a client's config (seccomp profile, binds) -----------------------
log "$view: run with a client's config x$RUNS"
for ((r = 1; r <= RUNS; r++)); do
    for rt in "${runtimes[@]}"; do
        rt_cmd "$rt" "$view"
        timed "$rt" client "$r" "${CMD[@]}" run --bundle "$BUNDLE_CLIENT" "$rt-client-$r"
    done
done

# ---- 2. create, start, delete separately ----------------------------------------------
log "$view: create + start + delete x$RUNS"
for ((r = 1; r <= RUNS; r++)); do
    for rt in "${runtimes[@]}"; do
        rt_cmd "$rt" "$view"
        id=$rt-csd-$r
        timed "$rt" create "$r" "${CMD[@]}" create "$id"
        timed "$rt" start "$r" "${CMD[@]}" start "$id"
        wait_stopped "$rt" "$id"
        timed "$rt" delete "$r" "${CMD[@]}" delete "$id"
    done
done

# ---- 3. exec /bin/true into a running container ---------------------------------------
log "$view: exec /bin/true x$RUNS"
exec_rts=()
for rt in "${runtimes[@]}"; do
    rt_cmd "$rt" "$view"
    id=$rt-exec
    if ! rt_exec "$rt" "${CMD[@]}" create --bundle "$BUNDLE_SLEEP" "$id" </dev/null >/dev/null 2>>"$OUT/containers.log" ||
        ! rt_exec "$rt" "${CMD[@]}" start "$id"; then
        note exec "$rt" "could not start the sleep container"
        continue
    fi
    if [[ $rt == husk ]] && ! "$HUSK" --help 2>&1 | grep -qE '^\s+exec\s'; then
        note exec "$rt" "n/a: this husk has no exec command"
        continue
    fi
    if ! err=$(rt_exec "$rt" "${CMD[@]}" exec "$id" /bin/true 2>&1 </dev/null); then
        note exec "$rt" "n/a: exec failed: $(printf '%s' "$err" | tail -1)"
        continue
    fi
    exec_rts+=("$rt")
done
for ((r = 1; r <= RUNS && ${#exec_rts[@]} > 0; r++)); do
    for rt in "${exec_rts[@]}"; do
        rt_cmd "$rt" "$view"
        timed "$rt" exec "$r" "${CMD[@]}" exec "$rt-exec" /bin/true
    done
done
for rt in "${runtimes[@]}"; do cleanup_rt "$rt"; done

# ---- 4. CONC containers at once ---------------------------------------------------------
log "$view: $CONC concurrent runs x$CONC_ROUNDS"
for ((r = 1; r <= CONC_ROUNDS; r++)); do
    for rt in "${with_floor[@]}"; do
        rt_cmd "$rt" "$view"
        if [[ $rt == floor ]]; then
            line=$(rt_exec "$rt" "$BT" conc "$CONC" -- "${CMD[@]}")
        else
            line=$(rt_exec "$rt" "$BT" conc "$CONC" -- "${CMD[@]}" run "$rt-c$r-{}")
        fi
        read -r us failed _ <<<"$line"
        sample conc "$rt" "$r" "$us" "$failed"
        ((failed == 0)) || { log "$view conc $rt round $r: $failed failed"; cleanup_rt "$rt"; }
    done
done

# ---- 5. memory ---------------------------------------------------------------------------
# a) the waiting init of a created container: Rss, Pss and Private (clean + dirty) from
#    /proc/<init pid>/smaps_rollup, its thread count from /proc/<pid>/status.
# b) peak RSS (GNU time's "Maximum resident set size", i.e. wait4's ru_maxrss: the largest
#    of the process and the descendants it reaped) of `create` (= the runtime process:
#    what it reaps is only its short-lived pre-runtime helper) and of `run` (the runtime
#    plus the container init it reaps, which is the pre-exec init's peak too).
log "$view: memory x$MEM_RUNS"
for ((r = 1; r <= MEM_RUNS; r++)); do
    for rt in "${runtimes[@]}"; do
        rt_cmd "$rt" "$view"
        id=$rt-mem-$r
        # (time's report goes to a file: the container init keeps the runtime's stdio open)
        rt_exec "$rt" /usr/bin/time -o "$OUT/time.out" -f '%M' "${CMD[@]}" create "$id" \
            </dev/null >/dev/null 2>>"$OUT/containers.log" || true
        sample create_maxrss "$rt" "$r" "$(tail -1 "$OUT/time.out")" 0
        pid=$(rt_exec "$rt" "${CMD[@]}" state "$id" | jq -r .pid)
        # Measured as it waits, not while it settles: a created container waits for `start`
        # (husk's init gives back its read-only pages when start does not follow at once).
        sleep 0.1
        if [[ -r /proc/$pid/smaps_rollup ]]; then
            sample init_rss "$rt" "$r" "$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup")" 0
            sample init_pss "$rt" "$r" "$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")" 0
            sample init_private "$rt" "$r" "$(awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' "/proc/$pid/smaps_rollup")" 0
            sample init_threads "$rt" "$r" "$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")" 0
            # Other processes the waiting container keeps (e.g. a runtime monitor): none
            # is expected for these three; record the count of children of the init.
            sample init_children "$rt" "$r" "$(cat /proc/"$pid"/task/*/children 2>/dev/null | wc -w)" 0
        fi
        rt_exec "$rt" "${CMD[@]}" delete -f "$id" >/dev/null 2>&1 || true
        rt_exec "$rt" /usr/bin/time -o "$OUT/time.out" -f '%M' "${CMD[@]}" run "$id-run" \
            </dev/null >/dev/null 2>>"$OUT/containers.log" || true
        sample run_maxrss "$rt" "$r" "$(tail -1 "$OUT/time.out")" 0
    done
    /usr/bin/time -o "$OUT/time.out" -f '%M' "$FLOOR" "$ROOTFS" </dev/null >/dev/null 2>>"$OUT/containers.log" || true
    sample run_maxrss floor "$r" "$(tail -1 "$OUT/time.out")" 0
done

for rt in "${runtimes[@]}"; do cleanup_rt "$rt"; done
log "$view: done"
