#!/usr/bin/env bash
# Usage: bench/steps.sh [HUSK_BINARY...]     (as root; RUNS=15)
# Where the time of one `run` of /bin/true goes, step by step, for each husk binary given (default
# bin/husk; e.g. a build of an older commit beside it) and crun, in the v2 view (a private mount
# namespace with a pure cgroup2 /sys/fs/cgroup, as bench/run.sh's). Each run is traced lightly
# (strace --seccomp-bpf, only execve/clone/unshare/pivot_root/exit_group stop the process), so the
# steps are ~2x slower than untraced: compare them with each other, not with bench/RESULTS.md.
# Prints the median of each step in ms:
#   start   runtime's execve -> the init's execve (husk: runtime start, spec, cgroup, state, spawn)
#   ns      init's execve -> unshare (ld.so, the nsexec constructor, the bootstrap)
#   rootfs  unshare -> pivot_root (mounts, /dev; husk: the managed init or the init plan)
#   exec    pivot_root -> execve /bin/true (masks, read-only paths, start, credentials)
#   program execve /bin/true -> its exit
#   end     its exit -> the runtime's exit (delete, runtime shutdown)
# crun has no init execve: its "start" ends at unshare, its "ns" is 0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $(id -u) -eq 0 ]] || die "run as root"
(($# > 0)) || set -- "$HUSK"
[[ -d $BUNDLE ]] || die "$BUNDLE missing: run make bench once"
RUNS=${RUNS:-15}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

inner() {
    umount -R /sys/fs/cgroup
    mount -t cgroup2 none /sys/fs/cgroup
    cd "$BUNDLE"
    for ((r = 1; r <= RUNS; r++)); do
        i=0
        for bin in "$@" crun; do
            i=$((i + 1))
            if [[ $bin == crun ]]; then
                cmd=(env LD_PRELOAD="$SHIM" "$CRUN" --root "$STATE_BASE/steps/crun")
            else
                cmd=("$bin" --root "$STATE_BASE/steps/husk$i")
            fi
            strace -f --seccomp-bpf -ttt -o "$out/trace" -e trace=execve,clone,clone3,unshare,pivot_root,exit_group \
                "${cmd[@]}" run "steps-$i-$r" </dev/null >/dev/null 2>&1 || true
            awk -v name="$bin" '
                NR == 1 { t0 = $2; main = $1 }
                { t = ($2 - t0) * 1000 }
                /execve\(/ && $1 != main && !spawn && $0 !~ /bin\/true/ { spawn = t }
                /unshare\(/ && !unshare { unshare = t }
                /pivot_root\(/ && !pivot { pivot = t }
                /execve\("\/bin\/true"/ && !exec { exec = t; cpid = $1 }
                /\+\+\+ exited/ && $1 == cpid && exec && !cexit { cexit = t }
                /\+\+\+ exited/ && $1 == main { end = t }
                END {
                    if (!spawn) spawn = unshare
                    printf "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", name, spawn, unshare - spawn, pivot - unshare, exec - pivot, cexit - exec, end - cexit
                }' "$out/trace" >>"$out/steps.tsv"
        done
    done
}
export -f inner
export BUNDLE SHIM CRUN STATE_BASE RUNS out
mkdir -p "$STATE_BASE/steps"
[[ -x $BT ]] || gcc -O2 -o "$BT" "$BENCH_DIR/tools/benchtool.c"
[[ -f $SHIM ]] || gcc -O2 -shared -fPIC -o "$SHIM" "$BENCH_DIR/tools/memlock_shim.c" -ldl
"$BT" reap -- unshare -m bash -c 'inner "$@"' inner "$@"

printf '%-40s %7s %7s %7s %7s %7s %7s %7s\n' runtime start ns rootfs exec program end total
awk -F'\t' '{ n[$1]++; for (c = 2; c <= 7; c++) v[$1, c, n[$1]] = $c; order[$1] = order[$1] ? order[$1] : ++k; names[k] = $1 }
    function median(name, c,   m, i, j, t, a) {
        m = n[name]; for (i = 1; i <= m; i++) a[i] = v[name, c, i]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    END { for (i = 1; i <= k; i++) { name = names[i]; total = 0; line = sprintf("%-40s", name)
            for (c = 2; c <= 7; c++) { x = median(name, c); total += x; line = line sprintf(" %7.2f", x) }
            print line sprintf(" %7.2f", total) } }' "$out/steps.tsv"
