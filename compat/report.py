#!/usr/bin/env python3
"""Writes compat/RESULTS.md from the TAP files compat/run.sh left in .build/compat/results.

Exit status: 0 when every test runc passes is passed by Husk too or listed in
compat/DEVIATIONS.md; 1 otherwise.

DEVIATIONS.md format (one deviating test per line, anything else is prose):
    - `FILE.bats` `TEST NAME` — why
or a markdown table row whose first two cells are the file and the test name:
    | FILE.bats | TEST NAME | why |
A test name of `*` stands for every test of that file.
"""
import argparse
import datetime
import os
import platform
import re
import socket
import subprocess
import sys

TEST_RE = re.compile(r'''^\s*@test\s+(?:"((?:[^"\\]|\\.)*)"|'([^']*)')\s*\{''')
TAP_RE = re.compile(r'^(ok|not ok) (\d+) (.*?)(?: # skip(?: \((.*)\))?)?$')
DEV_LIST_RE = re.compile(r'^\s*[-*]\s+`([^`]+\.bats)`\s+`([^`]+)`\s*(.*)$')
DEV_TABLE_RE = re.compile(r'^\s*\|\s*`?([^|`]+\.bats)`?\s*\|\s*`?([^|`]+?)`?\s*\|(.*)$')


def tests_of(path):
    names = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            m = TEST_RE.match(line)
            if m:
                name = m.group(1) if m.group(1) is not None else m.group(2)
                names.append(name.replace('\\"', '"'))
    return names


def results_of(base, names):
    """{index: (result, detail)} for one runtime and one bats file."""
    res = {}
    if os.path.exists(base + '.blocked'):
        why = open(base + '.blocked').read().strip()
        return {i: ('blocked', why) for i in range(len(names))}, None
    if os.path.exists(base + '.notrun'):
        why = open(base + '.notrun').read().strip()
        return {i: ('not run', why) for i in range(len(names))}, None
    if not os.path.exists(base + '.tap'):
        return {i: ('not run', 'no output') for i in range(len(names))}, None
    rc, secs = 0, None
    if os.path.exists(base + '.rc'):
        parts = open(base + '.rc').read().split()
        rc, secs = int(parts[0]), int(parts[1])
    notes = {}
    cur = None
    with open(base + '.tap', encoding='utf-8', errors='replace') as f:
        for line in f:
            m = TAP_RE.match(line.rstrip('\n'))
            if not m:
                if cur is not None and line.startswith('# '):
                    notes.setdefault(cur, []).append(line[2:].strip())
                continue
            cur = None
            i = int(m.group(2)) - 1
            if m.group(1) == 'not ok':
                res[i] = ('not ok', '')
                cur = i
            elif ' # skip' in line:
                res[i] = ('skip', m.group(4) or '')
            else:
                res[i] = ('ok', '')
    for i, ls in notes.items():
        res[i] = ('not ok', why_failed(ls))
    killed = rc in (124, 137)
    if killed and secs is not None:
        secs = f'{secs} (killed)'

    for i in range(len(names)):
        if i not in res:
            res[i] = ('timeout', '') if killed else ('not run', f'bats exited {rc} before it')
    return res, secs


def why_failed(lines):
    """The most telling line of a failed test's TAP comments: the runtime's error, else the
    assertion that failed."""
    err = [l for l in lines if 'level=error' in l or l.startswith('husk: ') or 'error:' in l.lower()]
    if err:
        l = err[-1]
        m = re.search(r'msg="(.*)"', l)
        l = m.group(1) if m else l
    else:
        fails = [l for l in lines if l.endswith('failed') or 'failed with status' in l]
        l = fails[0] if fails else (lines[0] if lines else '')
    l = l.replace('`', "'")
    return l if len(l) <= 200 else l[:197] + '...'


def deviations(path):
    devs = {}
    if not os.path.exists(path):
        return devs
    with open(path, encoding='utf-8') as f:
        for line in f:
            m = DEV_LIST_RE.match(line) or DEV_TABLE_RE.match(line)
            if m:
                devs[(m.group(1).strip(), m.group(2).strip())] = m.group(3).strip(' |—-:')
    return devs


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ''


def total_secs(d):
    return sum(int(str(v).split()[0]) for v in d.values() if v is not None)


def md(s):
    return s.replace('|', '\\|')


def main():
    ap = argparse.ArgumentParser()
    for a in ('itest', 'results', 'deviations', 'out', 'runc', 'husk', 'file-timeout', 'criu',
              'seconds', 'helpers', 'debian', 'files'):
        ap.add_argument('--' + a, default='')
    o = ap.parse_args()

    devs = deviations(o.deviations)
    files = o.files.split()
    rows = []          # (file, name, runc, husk, runc detail, husk detail)
    secs = {'runc': {}, 'husk': {}}
    for f in files:
        names = tests_of(os.path.join(o.itest, f))
        per = {}
        for rt in ('runc', 'husk'):
            per[rt], secs[rt][f] = results_of(os.path.join(o.results, rt, f[:-len('.bats')]), names)
        for i, n in enumerate(names):
            rows.append((f, n, per['runc'][i][0], per['husk'][i][0], per['runc'][i][1], per['husk'][i][1]))

    kinds = ['ok', 'not ok', 'skip', 'timeout', 'not run', 'blocked']
    totals = {rt: {k: 0 for k in kinds} for rt in ('runc', 'husk')}
    for r in rows:
        totals['runc'][r[2]] += 1
        totals['husk'][r[3]] += 1

    def listed(f, n):
        return (f, n) in devs or (f, '*') in devs

    regress = [r for r in rows if r[2] == 'ok' and r[3] in ('not ok', 'timeout', 'not run', 'blocked')]
    unlisted = [r for r in regress if not listed(r[0], r[1])]
    listed_fail = [r for r in regress if listed(r[0], r[1])]
    husk_skips = [r for r in rows if r[2] == 'ok' and r[3] == 'skip']
    husk_better = [r for r in rows if r[3] == 'ok' and r[2] != 'ok']

    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    cg = 'v2' if sh('stat -f -c %T /sys/fs/cgroup') == 'cgroup2fs' else (
        'hybrid' if os.path.isdir('/sys/fs/cgroup/unified') else 'v1')
    cpus = os.cpu_count()
    distro = sh('. /etc/os-release && echo "$PRETTY_NAME"')
    runc_ver = sh(f'{o.runc} --version | head -1')
    husk_ver = sh(f'{o.husk} --version | head -1')
    commit = sh(f'git -C {os.path.dirname(os.path.dirname(os.path.abspath(o.out)))} rev-parse --short HEAD')
    dirty = sh(f'git -C {os.path.dirname(os.path.dirname(os.path.abspath(o.out)))} status --porcelain -- src native')
    mins = int(o.seconds or 0) // 60

    L = []
    L.append('# runc 1.1.5 integration suite: runc and Husk side by side')
    L.append('')
    L.append('Written by `make compat` (`compat/run.sh`); do not edit by hand.')
    L.append('')
    L.append(f'- Date: {now}; `make compat` took {mins} min {int(o.seconds or 0) % 60} s '
             f'(runc files {total_secs(secs["runc"])} s, Husk files {total_secs(secs["husk"])} s)')
    L.append(f'- Machine: {socket.gethostname()}, {distro}, Linux {platform.release()} {platform.machine()}, '
             f'{cpus} CPUs, cgroups {cg}, as root')
    L.append(f'- Suite: Debian 12 source package runc 1.1.5+ds1-1+deb12u1, `tests/integration/*.bats`, '
             f'run file by file with bats {sh("bats --version").replace("Bats ", "")}, '
             f'each file under `timeout {o.file_timeout}`')
    L.append(f'- runc: `{o.runc}` ({runc_ver}); Husk: `bin/husk` ({husk_ver or "?"}, commit {commit or "?"}'
             f'{", with uncommitted changes" if dirty else ""})')
    L.append(f'- criu in PATH for both: `{o.criu}`')
    L.append(f'- Helpers built from the source with Debian\'s golang: '
             + ', '.join(f'{h.split("=")[0]} {"built" if h.split("=")[1] == "1" else "**not built**"}'
                         for h in o.helpers.split())
             + ' (1.1.5 has no fs-idmap, pidfd-kill, remap-rootfs)')
    L.append(f'- Images: busybox from busybox-static; debian: {o.debian}')
    L.append('')
    L.append('## Totals')
    L.append('')
    L.append('| runtime | ' + ' | '.join(kinds) + ' | tests |')
    L.append('|---|' + '---|' * (len(kinds) + 1))
    for rt, label in (('runc', 'runc'), ('husk', 'Husk')):
        L.append(f'| {label} | ' + ' | '.join(str(totals[rt][k]) for k in kinds) + f' | {len(rows)} |')
    L.append('')
    L.append(f'- Husk fails where runc passes: **{len(regress)}** '
             f'({len(listed_fail)} listed in `compat/DEVIATIONS.md`, **{len(unlisted)} not listed**)')
    L.append(f'- Husk skips where runc passes: {len(husk_skips)}')
    L.append(f'- Husk passes where runc does not: {len(husk_better)}')
    L.append('')

    def table(title, rs):
        L.append(f'## {title}')
        L.append('')
        if not rs:
            L.append('None.')
            L.append('')
            return
        L.append('| file | test | runc | Husk | Husk\'s error (from the TAP output) |')
        L.append('|---|---|---|---|---|')
        for r in rs:
            L.append(f'| {r[0]} | {md(r[1])} | {r[2]} | {r[3]} | {md(r[5])} |')
        L.append('')

    table('Husk fails, runc passes, not in DEVIATIONS.md', unlisted)
    table('Husk fails, runc passes, listed in DEVIATIONS.md', listed_fail)
    table('Husk skips, runc passes', husk_skips)

    L.append('## Every test')
    L.append('')
    L.append('Skip reasons are the suite\'s own (`requires ...`); "timeout": the file was killed before '
             'the test reported; "blocked": a helper or image it needs could not be made.')
    L.append('')
    L.append('| file | test | runc | Husk |')
    L.append('|---|---|---|---|')
    for r in rows:
        rd = f' ({md(r[4])})' if r[4] and r[2] in ('skip', 'blocked', 'not run') else ''
        hd = f' ({md(r[5])})' if r[5] and r[3] in ('skip', 'blocked', 'not run') and r[5] != r[4] else ''
        L.append(f'| {r[0]} | {md(r[1])} | {r[2]}{rd} | {r[3]}{hd} |')
    L.append('')
    L.append('## Seconds per file')
    L.append('')
    L.append('| file | runc | Husk |')
    L.append('|---|---|---|')
    for f in files:
        L.append(f'| {f} | {secs["runc"].get(f) if secs["runc"].get(f) is not None else "-"} | '
                 f'{secs["husk"].get(f) if secs["husk"].get(f) is not None else "-"} |')
    L.append('')
    with open(o.out, 'w') as out:
        out.write('\n'.join(L))

    for r in unlisted:
        print(f'compat: Husk {r[3]}, runc ok: {r[0]}: {r[1]}', file=sys.stderr)
    print(f'compat: runc {totals["runc"]["ok"]} ok, Husk {totals["husk"]["ok"]} ok of {len(rows)} tests; '
          f'Husk fails {len(regress)} that runc passes ({len(unlisted)} not in compat/DEVIATIONS.md); '
          f'see compat/RESULTS.md')
    return 1 if unlisted else 0


if __name__ == '__main__':
    sys.exit(main())
