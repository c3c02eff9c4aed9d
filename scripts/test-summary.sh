#!/usr/bin/env bash
# Usage: scripts/test-summary.sh FILE.trx...
# Sums the <Counters> of every TRX file and prints, last, exactly one line:
#   tests: N passed, M failed[, K skipped]
# Above it, when tests were skipped, each distinct skip reason once with how many tests it covers
# and, in brackets, the run (the TRX file's name) it was seen in; above that, each failed test with
# the first line of its message, so the tail of a CI log names what failed.
# Exit status: 0 only when every file exists and is complete, no test failed and at least
# one test ran. Problems (missing file, aborted run) are reported on stderr before the line.
set -uo pipefail

passed=0 failed=0 skipped=0 problems=0
reasons=() failures=()

# skip_reasons FILE.trx: the message of every NotExecuted result, one per line (XML entities decoded).
skip_reasons() {
    awk '
        /<UnitTestResult / { skipped = ($0 ~ /outcome="NotExecuted"/); next }
        skipped && /<Message>/ { inmsg = 1; msg = "" }
        inmsg {
            line = $0
            sub(/.*<Message>/, "", line)
            done = sub(/<\/Message>.*/, "", line)
            gsub(/^[ \t]+|[ \t]+$/, "", line)
            msg = msg (msg == "" ? "" : " ") line
            if (done) {
                gsub(/&quot;/, "\"", msg); gsub(/&apos;/, "\047", msg); gsub(/&lt;/, "<", msg); gsub(/&gt;/, ">", msg); gsub(/&amp;/, "\\&", msg)
                print msg; inmsg = 0; skipped = 0
            }
        }
        /<\/UnitTestResult>/ { if (skipped) print "(no reason given)"; skipped = 0 }
    ' "$1"
}

# failures FILE.trx: "name: first line of the message" for every Failed result.
failures() {
    awk '
        /<UnitTestResult / {
            failed = ($0 ~ /outcome="Failed"/); name = $0
            sub(/.*testName="/, "", name); sub(/".*/, "", name)
            next
        }
        failed && /<Message>/ {
            line = $0; sub(/.*<Message>/, "", line); sub(/<\/Message>.*/, "", line)
            gsub(/&quot;/, "\"", line); gsub(/&apos;/, "\047", line); gsub(/&lt;/, "<", line); gsub(/&gt;/, ">", line); gsub(/&amp;/, "\\&", line)
            gsub(/&quot;/, "\"", name); gsub(/&amp;/, "\\&", name)
            print name ": " substr(line, 1, 300); failed = 0
        }
        /<\/UnitTestResult>/ { if (failed) print name; failed = 0 }
    ' "$1"
}

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
    run=$(basename "$trx" .trx)
    if ((f > 0)); then
        while IFS= read -r failure; do failures+=("[$run] $failure"); done < <(failures "$trx")
    fi
    if ((s > 0)); then
        while IFS= read -r reason; do reasons+=("[$run] $reason"); done < <(skip_reasons "$trx")
    fi
    outcome=$(tr '\n' ' ' <"$trx" | grep -o '<ResultSummary [^>]*>' | sed -n 's/.*outcome="\([^"]*\)".*/\1/p' | head -n 1)
    if [[ "$outcome" == "Aborted" || "$outcome" == "Error" ]] && ((f == 0)); then
        echo "test-summary: $trx: run outcome '$outcome' (test host crashed or was killed)" >&2
        problems=$((problems + 1))
    fi
done

if ((${#failures[@]} > 0)); then
    echo "failed:"
    printf '  %s\n' "${failures[@]}"
fi
if ((${#reasons[@]} > 0)); then
    echo "skipped, by reason:"
    printf '%s\n' "${reasons[@]}" | sort | uniq -c | sort -rn | sed 's/^ *\([0-9]*\) /  \1 × /'
fi

line="tests: $passed passed, $failed failed"
((skipped > 0)) && line+=", $skipped skipped"
echo "$line"

if ((failed > 0 || problems > 0 || passed + failed == 0)); then
    exit 1
fi
exit 0
