#!/usr/bin/env bash
# Usage: bench/profile.sh        (run.sh runs it under `benchtool reap`, after measure.sh)
# Where does `husk run` spend its time? Writes to $OUT/profile/:
#   startup.tsv    bare process start (`--version`), untraced, interleaved, in microseconds
#   phases.tsv     phase boundaries of `run` from a light strace (--seccomp-bpf, only
#                  process/namespace/mount syscalls traced, so the rest runs at full speed)
#   *.strace-c     strace -f -c of one `run` (syscall counts; times there are inflated)
#   *.counts       counts from a full strace -f of one `run` (processes, files, probes)
#   *.perf         perf stat -r 10 of `run` (CPU time, page faults, context switches)
# crun is profiled in a private mount namespace with a pure cgroup2 view (it cannot run
# on this hybrid host); husk and runc on the host as it is.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

P=$OUT/profile
view=${1:-host}
mkdir -p "$P" "$STATE_BASE/prof-$view"/{husk,runc,crun}
cd "$BUNDLE"

if [[ $view == v2 ]]; then
    umount -R /sys/fs/cgroup
    mount -t cgroup2 none /sys/fs/cgroup
    runtimes=(crun)
else
    runtimes=(husk runc)
fi

cmd_of() {  # like rt_cmd, with the profile's own --root
    case $1 in
        husk) CMD=("$HUSK" --root "$STATE_BASE/prof-$view/husk") ;;
        runc) CMD=("$RUNC" --root "$STATE_BASE/prof-$view/runc") ;;
        crun) CMD=("$CRUN" --root "$STATE_BASE/prof-$view/crun") ;;
    esac
}

# 1. bare process start, untraced
if [[ $view == host ]]; then
    for ((r = 1; r <= RUNS; r++)); do
        for rt in husk runc crun true; do
            case $rt in
                true) argv=(/bin/true) ;;
                husk) argv=("$HUSK" --version) ;;
                runc) argv=("$RUNC" --version) ;;
                crun) argv=("$CRUN" --version) ;;
            esac
            read -r us _ rc < <("$BT" time -- "${argv[@]}")
            printf '%s\t%s\t%s\n' "$rt" "$us" "$rc" >>"$P/startup.tsv"
        done
    done
fi

# 2. phases of `run` from a light trace: for each run, the offsets (ms from the runtime's
#    execve) of: spawn of the init (2nd execve of the runtime binary), unshare, pivot_root,
#    execve of /bin/true, exit of the container process, exit of the runtime.
for rt in "${runtimes[@]}"; do
    cmd_of "$rt"
    for ((r = 1; r <= 7; r++)); do
        trace=$P/$rt.phases.$r
        rt_exec "$rt" strace -f --seccomp-bpf -ttt -o "$trace" \
            -e trace=execve,clone,clone3,unshare,setns,pivot_root,exit_group,mount,mkdir,rmdir \
            "${CMD[@]}" run "$rt-ph-$r" </dev/null >/dev/null 2>>"$P/errors.log" || true
        awk -v rt="$rt" -v r="$r" '
            NR == 1 { t0 = $2; main = $1 }
            { t = ($2 - t0) * 1000 }
            /execve\(/ && $1 != main && !spawn && /resumed|= 0|unfinished/ && $0 !~ /bin\/true/ { spawn = t }
            /unshare\(/ && !unshare { unshare = t }
            /pivot_root\(/ && !pivot { pivot = t }
            /mount\(/ { mounts++ }
            /mkdir\("\/sys\/fs\/cgroup/ { cgmk++ }
            /rmdir\("\/sys\/fs\/cgroup/ { cgrm++ }
            /execve\("\/bin\/true"/ && !exec { exec = t; cpid = $1 }
            /\+\+\+ exited/ && $1 == cpid && exec && !cexit { cexit = t }
            /\+\+\+ exited/ && $1 == main { end = t }
            END { printf "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\n", rt, r, spawn, unshare, pivot, exec, cexit, end, mounts, cgmk, cgrm }
        ' "$trace" >>"$P/phases.tsv"
    done
done

# 3. syscall counts, files opened, probes
for rt in "${runtimes[@]}"; do
    cmd_of "$rt"
    rt_exec "$rt" strace -f -c -o "$P/$rt.strace-c" "${CMD[@]}" run "$rt-c" </dev/null >/dev/null 2>>"$P/errors.log" || true
    rt_exec "$rt" strace -f -ttt -s 200 -o "$P/$rt.full" "${CMD[@]}" run "$rt-full" </dev/null >/dev/null 2>>"$P/errors.log" || true
    f=$P/$rt.full
    {
        echo "syscalls $(grep -vc -e '+++' -e '---' -e 'resumed>' "$f")"
        echo "processes $(awk '{print $1}' "$f" | sort -u | wc -l)"
        echo "threads_or_processes_created $(grep -cE '(clone|clone3|vfork|fork)\(.*= [0-9]+$|(clone|clone3|vfork)\(.*unfinished' "$f")"
        echo "execve $(grep -c 'execve(' "$f")"
        echo "openat $(grep -cE 'open(at|at2)?\(' "$f")"
        echo "openat_enoent $(grep -E 'open(at|at2)?\(' "$f" | grep -c ENOENT)"
        echo "lib_probe_opens $(grep -E 'open(at)?\(.*\.so' "$f" | grep -c ENOENT)"
        echo "mount_calls $(grep -cE '(^| )(mount|mount_setattr|open_tree|move_mount|fsmount)\(' "$f")"
        echo "reads_of_mountinfo $(grep -cE 'open(at)?\(.*mountinfo"' "$f")"
        echo "reads_of_proc_cgroup $(grep -cE 'open(at)?\(.*/proc/(self|[0-9]+)/cgroup"' "$f")"
        echo "state_json_writes $(grep -cE 'rename\(.*state\.json' "$f")"
        echo "config_json_opens $(grep -cE 'open(at)?\(.*config\.json"' "$f")"
        echo "cgroup_dirs_made $(grep -cE 'mkdir\("/sys/fs/cgroup.*= 0' "$f")"
        echo "files_opened_top:"
        grep -oE 'open(at|at2)?\([^"]*"[^"]*"' "$f" | grep -oE '"[^"]*"' |
            sed -E 's#/(glibc-hwcaps/x86-64-v[234]|tls/x86_64/x86_64|tls/x86_64|tls|x86_64/x86_64|x86_64)/#/*/#' |
            sort | uniq -c | sort -rn | head -15
    } >"$P/$rt.counts"
done

# 4. perf stat (follows children)
if perf stat -e task-clock true >/dev/null 2>&1; then
    for rt in "${runtimes[@]}"; do
        cmd_of "$rt"
        rt_exec "$rt" perf stat -r 10 -e task-clock,context-switches,cpu-migrations,page-faults -o "$P/$rt.perf" \
            "${CMD[@]}" run "$rt-perf" </dev/null >/dev/null 2>>"$P/errors.log" || true
    done
fi

for rt in "${runtimes[@]}"; do
    cmd_of "$rt"
    for id in $(rt_exec "$rt" "${CMD[@]}" list -q 2>/dev/null); do
        rt_exec "$rt" "${CMD[@]}" delete -f "$id" >/dev/null 2>&1 || true
    done
done
