#!/usr/bin/env bash
# Usage: compat/run.sh            (make compat)
#
# Runs runc 1.1.5's own integration suite (tests/integration/*.bats of Debian 12's runc source
# package, 1.1.5+ds1-1+deb12u1) twice on this machine, as root: once with RUNC=/usr/sbin/runc
# and once with RUNC=bin/husk, file by file, each file under a timeout. Writes
# compat/RESULTS.md (every test, both results, totals) and exits non-zero when Husk fails a
# test that runc passes and compat/DEVIATIONS.md does not list it.
#
# Everything it fetches or builds is cached under .build/compat/ (never committed):
#   apt/        apt lists of a deb-src source for bookworm (the system's apt config is untouched)
#   src/runc/   the unpacked source package (Debian's patches applied)
#   gopath/     GOPATH whose github.com/opencontainers/runc is src/runc (Debian's golang-*-dev
#               packages under /usr/share/gocode give the dependencies: the +ds source has no vendor/)
#   images/     busybox rootfs (from busybox-static) and a debootstrapped minimal bookworm
#   results/    raw TAP output, one file per runtime and bats file
#
# Environment:
#   COMPAT_FILE_TIMEOUT  seconds per bats file and runtime (default 300); the tests of a file
#                        that had not reported when it was killed are "timeout"
#   COMPAT_BUDGET        seconds for all runs together (default: none); files not started
#                        within it are "not run" (a failure for Husk, as a timeout is)
#   COMPAT_FILES         space-separated bats files to run (default: all)
#   COMPAT_RUNC          the reference runtime (default /usr/sbin/runc)
#   COMPAT_CRIU          a criu to put first in PATH for both runtimes (default: ../shared/criu-compat/criu
#                        beside the repository when it exists, since Debian's criu 3.17 fails on
#                        kernels >= 6.13)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

cache=$repo/.build/compat
src=$cache/src/runc
itest=$src/tests/integration
results=$cache/results
file_timeout=${COMPAT_FILE_TIMEOUT:-300}
budget=${COMPAT_BUDGET:-0}
ref_runc=${COMPAT_RUNC:-/usr/sbin/runc}
husk=$repo/bin/husk
pkg_version=1.1.5+ds1-1+deb12u1
mirror=http://deb.debian.org/debian

log() { printf 'compat: %s\n' "$*" >&2; }
die() { printf 'compat: error: %s\n' "$*" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || die "the suite runs containers as root; run as root"
[[ -x "$husk" ]] || die "$husk not found; run 'make build' first"
start_all=$(date +%s)
mkdir -p "$cache"

# --- 1. packages ----------------------------------------------------------------------------
# golang + the Go dependencies of runc's helpers (golang-github-opencontainers-runc-dev depends on
# every library runc uses), bats, debootstrap for the debian image, busybox-static for the busybox
# image, gcc/libc6-dev (the suite compiles static test programs), jq (the suite edits config.json).
packages=(runc golang-go golang-github-opencontainers-runc-dev pkg-config libseccomp-dev bats
          debootstrap busybox-static gcc libc6-dev jq gawk dpkg-dev xz-utils python3 iproute2 util-linux bsdutils procps)
missing=()
for p in "${packages[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null || true
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi
[[ -x "$ref_runc" ]] || die "$ref_runc not found"

# --- 2. runc's source package ---------------------------------------------------------------
if [[ ! -f "$src/.compat-unpacked" ]]; then
    log "fetching Debian's runc $pkg_version source package"
    rm -rf "$cache/apt" "$cache/src"
    mkdir -p "$cache/apt/lists/partial" "$cache/src"
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" > "$cache/apt/src.sources"
    aptopts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$cache/apt"
             -o "Dir::State::Lists=$cache/apt/lists" -o APT::Sandbox::User=root)
    apt-get "${aptopts[@]}" update -qq >/dev/null || die "apt-get update of the deb-src list failed (no network?)"
    (cd "$cache/src" && apt-get "${aptopts[@]}" source -qq --download-only "runc=$pkg_version" >/dev/null) \
        || die "apt-get source runc=$pkg_version failed"
    # apt-get checked the files against the signed Sources index; dpkg-source's gpgv has no key
    # for the uploader's signature and says so, harmlessly (kept in the log).
    (cd "$cache/src" && dpkg-source -x "runc_${pkg_version}.dsc" runc > "$cache/dpkg-source.log" 2>&1) \
        || die "dpkg-source -x failed (see .build/compat/dpkg-source.log)"
    touch "$src/.compat-unpacked"
fi
[[ -d "$itest" ]] || die "$itest missing"

# --- 3. the suite's helper programs ---------------------------------------------------------
# helpers.bash expects contrib/cmd/{recvtty,sd-helper,seccompagent}/<name> (1.1.5 has no tests/cmd;
# fs-idmap, pidfd-kill and remap-rootfs came with 1.2). Built in GOPATH mode as Debian builds runc.
mkdir -p "$cache/gopath/src/github.com/opencontainers"
ln -sfn "$src" "$cache/gopath/src/github.com/opencontainers/runc"
declare -A helper_ok=()
for h in recvtty sd-helper seccompagent; do
    bin=$src/contrib/cmd/$h/$h
    tags=""
    [[ $h == seccompagent ]] && tags=seccomp      # without the tag it builds a stub that does nothing
    if [[ ! -x "$bin" ]]; then
        log "building $h"
        if ! (cd "$cache/gopath/src/github.com/opencontainers/runc" &&
              GOPATH=$cache/gopath:/usr/share/gocode GO111MODULE=off GOFLAGS=-buildvcs=false \
              GOCACHE=$cache/gocache nice go build -tags "$tags" -o "$bin" "./contrib/cmd/$h") \
              > "$cache/build-$h.log" 2>&1; then
            log "could not build $h (see .build/compat/build-$h.log)"
            rm -f "$bin"
        fi
    fi
    [[ -x "$bin" ]] && helper_ok[$h]=1
done

# --- 4. images ------------------------------------------------------------------------------
# get-images.sh downloads nothing when $TESTDATA/{busybox,debian}-amd64.tar.xz exist, so both are
# made here: busybox from Debian's busybox-static, debian (bookworm, minbase) with debootstrap.
arch=$(go env GOARCH)
mkdir -p "$cache/images"
bb_img=$cache/images/busybox.tar.xz
if [[ ! -s "$bb_img" ]]; then
    log "making the busybox image from busybox-static"
    r=$cache/images/busybox-rootfs
    rm -rf "$r"; mkdir -p "$r"/{bin,dev,etc,home,proc,root,sys,tmp,usr/bin,usr/sbin,sbin,var/spool/mail,var/www}
    chmod 1777 "$r/tmp"; chmod 0700 "$r/root"
    cp /bin/busybox "$r/bin/busybox"
    # As in the docker-library busybox image: every applet in /bin, as a hard link to busybox.
    for a in $(/bin/busybox --list); do
        [[ -e "$r/bin/$a" ]] || ln "$r/bin/busybox" "$r/bin/$a"
    done
    cat > "$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
    cat > "$r/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:8:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
EOF
    tar --numeric-owner --owner=0 --group=0 -C "$r" -cf - . | xz -1 -T2 > "$bb_img.tmp" && mv -f "$bb_img.tmp" "$bb_img"
    rm -rf "$r"
fi
deb_img=$cache/images/debian-bookworm.tar.xz
deb_note=""
if [[ ! -s "$deb_img" && ! -f "$cache/images/debootstrap.failed" ]]; then
    log "making the debian image with debootstrap (bookworm, minbase; a few minutes)"
    r=$cache/images/debian-rootfs
    rm -rf "$r"
    if nice debootstrap --variant=minbase bookworm "$r" "$mirror" > "$cache/images/debootstrap.log" 2>&1; then
        rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
        tar --numeric-owner -C "$r" -cf - . | xz -1 -T2 > "$deb_img.tmp" && mv -f "$deb_img.tmp" "$deb_img"
    else
        log "debootstrap failed (see .build/compat/images/debootstrap.log); tests needing the debian image are not run"
        touch "$cache/images/debootstrap.failed"
    fi
    rm -rf "$r"
fi
ln -f "$bb_img" "$itest/testdata/busybox-$arch.tar.xz" 2>/dev/null || cp -f "$bb_img" "$itest/testdata/busybox-$arch.tar.xz"
rm -f "$itest/testdata/debian-$arch.tar.xz"
if [[ -s "$deb_img" ]]; then
    ln -f "$deb_img" "$itest/testdata/debian-$arch.tar.xz" 2>/dev/null || cp -f "$deb_img" "$itest/testdata/debian-$arch.tar.xz"
else
    # An empty file keeps get-images.sh from downloading; the files needing it are not run.
    : > "$itest/testdata/debian-$arch.tar.xz"
    deb_note="debootstrap failed: no debian image"
fi

# --- 5. run the suite, file by file, with each runtime ----------------------------------------
# Why a file cannot run here (a helper or image is missing): reported, not hidden.
declare -A file_blocked=()
[[ -n "${helper_ok[recvtty]:-}" ]] || for f in "$itest"/*.bats; do file_blocked[$(basename "$f")]="recvtty could not be built"; done
[[ -n "${helper_ok[seccompagent]:-}" ]] || { file_blocked[seccomp-notify.bats]="seccompagent could not be built"; file_blocked[seccomp-notify-compat.bats]="seccompagent could not be built"; }
for f in "$itest"/*.bats; do
    if [[ -n "$deb_note" ]] && grep -q 'setup_debian\|DEBIAN_IMAGE' "$f"; then file_blocked[$(basename "$f")]=$deb_note; fi
done

# Tests that hang with the reference runtime itself on this kind of host are skipped for both
# runtimes, with the reason (a hung test keeps its whole file from finishing: bats waits for the
# test's background processes even after BATS_TEST_TIMEOUT). The skip is written into the test's
# first line in the cached copy of the suite, once.
declare -A test_skip=(
    ["checkpoint.bats|checkpoint --lazy-pages and restore"]="hangs here with runc too: the lazy page server never completes the transfer with this host's CRIU (runc's checkpoint.bats was killed after 300 s in this test)"
)
for key in "${!test_skip[@]}"; do
    f=$itest/${key%%|*} name=${key#*|}
    grep -qF "@test \"$name\" {" "$f" || { log "test_skip: no test \"$name\" in $(basename "$f")"; continue; }
    grep -qF "skip \"compat: ${test_skip[$key]}\"" "$f" ||
        NAME=$name REASON="compat: ${test_skip[$key]}" perl -0pi -e 's/(\@test "\Q$ENV{NAME}\E" \{\n)/$1\tskip "$ENV{REASON}"\n/' "$f"
done

if [[ -n "${COMPAT_FILES:-}" ]]; then files=($COMPAT_FILES); else files=(); for f in "$itest"/*.bats; do files+=("$(basename "$f")"); done; fi

# The same criu for both runtimes (Debian's 3.17 cannot dump on kernels >= 6.13).
criu=${COMPAT_CRIU:-$(dirname "$repo")/shared/criu-compat/criu}
pathdir=$cache/path
rm -rf "$pathdir"; mkdir -p "$pathdir"
if [[ -x "$criu" ]]; then ln -s "$criu" "$pathdir/criu"; else criu=$(command -v criu || echo none); fi

rm -rf "$results"; mkdir -p "$results"
run_deadline=0
((budget > 0)) && run_deadline=$(($(date +%s) + budget))

cleanup_leftovers() {   # containers a killed bats file left behind, under its own --root dirs
    local rt=$1 tmp=$2 st ct
    for st in "$tmp"/*/runc.*/state; do
        [[ -d "$st" ]] || continue
        for ct in $("$rt" --root "$st" list -q 2>/dev/null); do
            "$rt" --root "$st" delete -f "$ct" >/dev/null 2>&1 || true
        done
    done
}

cleanup_cgroups() {    # what a killed file left of the suite's cgroups (helpers.bash: runc-cgroups-integration-test)
    local d p f
    for d in /sys/fs/cgroup/*/runc-cgroups-integration-test /sys/fs/cgroup/runc-cgroups-integration-test; do
        [[ -d "$d" ]] || continue
        while read -r f; do
            case $f in
                */freezer.state) echo THAWED > "$f" ;;
                */cgroup.freeze) echo 0 > "$f" ;;
            esac
        done < <(find "$d" -name freezer.state -o -name cgroup.freeze 2>/dev/null)
        for p in $(cat $(find "$d" -name cgroup.procs 2>/dev/null) 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    sleep 0.2
    for d in /sys/fs/cgroup/*/runc-cgroups-integration-test /sys/fs/cgroup/runc-cgroups-integration-test; do
        [[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    return 0
}
cleanup_cgroups   # what an earlier, killed run left

# checkpoint.bats ("container specific CRIU config") writes /etc/criu/default.conf and a killed
# file leaves it: CRIU would read it in every later run. Removed after each file unless it was there before.
criu_conf_was_there=0
[[ -e /etc/criu/default.conf ]] && criu_conf_was_there=1

for rtname in runc husk; do
    if [[ $rtname == runc ]]; then rt=$ref_runc; else rt=$husk; fi
    mkdir -p "$results/$rtname"
    t0=$(date +%s)
    for f in "${files[@]}"; do
        out=$results/$rtname/${f%.bats}
        if [[ -n "${file_blocked[$f]:-}" ]]; then
            echo "${file_blocked[$f]}" > "$out.blocked"; continue
        fi
        if ((run_deadline > 0)) && (($(date +%s) >= run_deadline)); then
            echo "COMPAT_BUDGET of ${budget}s spent" > "$out.notrun"; continue
        fi
        # A short TMPDIR: the suite puts unix sockets (console, seccomp agent) under it.
        # Traversable by all, as /tmp is: userns.bats mounts the rootfs as a mapped user.
        tmp=$(mktemp -d /tmp/hc.XXXXXX); chmod 0755 "$tmp"
        s=$(date +%s)
        # Under a pty (script), as runc's CI runs the suite: `runc spec` sets terminal=true and
        # runc opens /dev/tty for such containers. `timeout --foreground`: a timeout in its own
        # process group would be a background job of that terminal and be stopped (SIGTTOU) at
        # the first tcsetattr. What outlives a killed file is killed by session id below; the
        # outer timeout is in case script itself hangs.
        (cd "$itest" && exec env TMPDIR="$tmp" PATH="$pathdir:$PATH" RUNC="$rt" \
            F="$f" OUT="$out" T="$file_timeout" timeout -k 10 $((file_timeout + 60)) \
            script -q -e -c 'echo $$ > "$OUT.sid"; timeout --foreground -k 20 "$T" bats --tap "$F" > "$OUT.tap" 2> "$OUT.stderr"' /dev/null) \
            > /dev/null 2>&1 < /dev/null
        rc=$?
        e=$(date +%s)
        echo "$rc $((e - s))" > "$out.rc"
        if ((rc == 124 || rc == 137)); then
            log "$rtname $f: killed after ${file_timeout}s"
        fi
        if [[ -s "$out.sid" ]]; then
            for p in $(ps -s "$(cat "$out.sid")" -o pid= 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        fi
        cleanup_leftovers "$rt" "$tmp"
        cleanup_cgroups
        ((criu_conf_was_there)) || rm -f /etc/criu/default.conf
        # Never delete through a mount a test left behind on the host.
        awk -v t="$tmp/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null; done
        rm -rf --one-file-system "$tmp" 2>/dev/null
        printf 'compat: %-5s %-28s %4ss  %s\n' "$rtname" "$f" "$((e - s))" \
            "$(grep -v ' # skip' "$out.tap" | grep -c '^ok') ok, $(grep -c '^not ok' "$out.tap") not ok, $(grep -c '^ok .* # skip' "$out.tap") skip" >&2
    done
    echo $(( $(date +%s) - t0 )) > "$results/$rtname.seconds"
done

# --- 6. report ------------------------------------------------------------------------------
end_all=$(date +%s)
python3 "$repo/compat/report.py" \
    --itest "$itest" --results "$results" --deviations "$repo/compat/DEVIATIONS.md" \
    --out "$repo/compat/RESULTS.md" --runc "$ref_runc" --husk "$husk" --file-timeout "$file_timeout" \
    --criu "$criu" --seconds "$((end_all - start_all))" \
    --helpers "recvtty=${helper_ok[recvtty]:-0} sd-helper=${helper_ok[sd-helper]:-0} seccompagent=${helper_ok[seccompagent]:-0}" \
    --debian "${deb_note:-bookworm minbase (debootstrap)}" \
    --files "${files[*]}"
