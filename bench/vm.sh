#!/usr/bin/env bash
# VM isolation (io.husk.isolation=vm): for each of VM_RUNS runs of a busybox container in its own VM,
# the time from `husk run` to the workload's first line of output and to husk's exit, and the host
# memory one VM takes (VmRSS of the VM monitor + QEMU + virtiofsd, summed, while the workload waits).
# Says whether the VMs ran with KVM or emulated (TCG). Writes a markdown section to $OUT/vm.md.
#   VM_RUNS=5 (default)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runs=${VM_RUNS:-5}
vm_line=$("$HUSK" check --format json | jq -r '.[] | select(.name == "vm") | "\(.status): \(.detail)"')
if [[ $vm_line != ok:* ]]; then
    printf '### VM isolation\n\nNot measured: %s\n\n' "$vm_line" >"$OUT/vm.md"
    log "vm: not measured ($vm_line)"
    exit 0
fi
accel=$("$HUSK" check --format json | jq -r '.[] | select(.name == "kvm") | if .status == "ok" then "KVM" else "TCG (no usable /dev/kvm: emulated)" end')

vm_bundle=$OUT/vm-bundle
rm -rf "$vm_bundle"
mkdir -p "$vm_bundle"
# The bench's rootfs, a workload that prints one line and then waits on stdin (so memory can be read).
jq --arg root "$ROOTFS" '.root.path = $root | .root.readonly = true | .process.args = ["sh", "-c", "echo up; read x"]
    | .annotations["io.husk.isolation"] = "vm"' "$BUNDLE/config.json" >"$vm_bundle/config.json"

: >"$OUT/vm.tsv"
for i in $(seq 1 "$runs"); do
    id=bench-vm-$$-$i
    fifo=$OUT/vm-stdin
    rm -f "$fifo" "$OUT/vm-out"; mkfifo "$fifo"
    start=$(date +%s%N)
    "$HUSK" --root "$STATE_BASE/vm" run --bundle "$vm_bundle" "$id" <"$fifo" >"$OUT/vm-out" 2>"$OUT/vm-err" &
    husk_pid=$!
    exec 9>"$fifo"
    until [[ -s $OUT/vm-out ]]; do
        kill -0 "$husk_pid" 2>/dev/null || { cat "$OUT/vm-err" >&2; die "vm: husk run ended before the workload printed"; }
        sleep 0.005
    done
    first=$(date +%s%N)
    # The VM monitor (the container's pid in state), and QEMU and virtiofsd (their sockets are in <state>/<id>/vm/).
    monitor=$("$HUSK" --root "$STATE_BASE/vm" state "$id" | jq -r .pid)
    rss=0
    for pid in "$monitor" $(pgrep -f "/$id/vm/"); do
        rss=$(( rss + $(awk '/^VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || echo 0) ))
    done
    echo x >&9
    exec 9>&-
    wait "$husk_pid"
    done_at=$(date +%s%N)
    printf '%d\t%d\t%d\n' $(( (first - start) / 1000000 )) $(( (done_at - start) / 1000000 )) $(( rss / 1024 )) >>"$OUT/vm.tsv"
done

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
{
    echo "### VM isolation ($runs runs, $accel)"
    echo
    echo "| measure | median | min | max |"
    echo "|---|---|---|---|"
    for col in 1 2 3; do
        name=$(case $col in 1) echo "\`husk run\` to the workload's first output (ms)";; 2) echo "\`husk run\` to its exit (ms)";; 3) echo "host RSS per VM: monitor + QEMU + virtiofsd (MiB)";; esac)
        vals=$(cut -f$col "$OUT/vm.tsv")
        echo "| $name | $(median <<<"$vals") | $(sort -n <<<"$vals" | head -1) | $(sort -n <<<"$vals" | tail -1) |"
    done
    echo
} >"$OUT/vm.md"
log "vm: $(tr '\n' ' ' <"$OUT/vm.tsv")"
