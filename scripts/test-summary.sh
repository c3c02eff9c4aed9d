#!/usr/bin/env bash
# Usage: scripts/test-summary.sh FILE.trx...
# Sums the <Counters> of every TRX file and prints exactly one line:
#   tests: N passed, M failed[, K skipped]
# Exit status: 0 only when every file exists and is complete, no test failed and at least
# one test ran. Problems (missing file, aborted run) are reported on stderr before the line.
set -uo pipefail

passed=0 failed=0 skipped=0 problems=0

attr() { # attr NAME COUNTERS_ELEMENT -> value or 0
    local v
    v=$(sed -n "s/.*[[:space:]]$1=\"\\([0-9]*\\)\".*/\\1/p" <<<"$2")
    echo "${v:-0}"
}

for trx in "$@"; do
    if [[ ! -s "$trx" ]]; then
        echo "test-summary: $trx: missing (the test run did not build or did not start)" >&2
        problems=$((problems + 1))
        continue
    fi
    counters=$(tr '\n' ' ' <"$trx" | grep -o '<Counters [^>]*>' | head -n 1)
    if [[ -z "$counters" ]]; then
        echo "test-summary: $trx: no <Counters> (the test run was interrupted)" >&2
        problems=$((problems + 1))
        continue
    fi
    total=$(attr total "$counters")
    p=$(attr passed "$counters")
    f=$(( $(attr failed "$counters") + $(attr error "$counters") + $(attr timeout "$counters") + $(attr aborted "$counters") ))
    s=$(( total - p - f ))
    ((s < 0)) && s=0
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    outcome=$(tr '\n' ' ' <"$trx" | grep -o '<ResultSummary [^>]*>' | sed -n 's/.*outcome="\([^"]*\)".*/\1/p' | head -n 1)
    if [[ "$outcome" == "Aborted" || "$outcome" == "Error" ]] && ((f == 0)); then
        echo "test-summary: $trx: run outcome '$outcome' (test host crashed or was killed)" >&2
        problems=$((problems + 1))
    fi
done

line="tests: $passed passed, $failed failed"
((skipped > 0)) && line+=", $skipped skipped"
echo "$line"

if ((failed > 0 || problems > 0 || passed + failed == 0)); then
    exit 1
fi
exit 0
