#!/usr/bin/env bash
# Runs the libFuzzer executables that `make fuzz-build` made in .build-fuzz/release and prints, per
# target: seconds, executions, executions per second, coverage (libFuzzer's final cov: edges and
# ft: features), corpus units, peak RSS and findings (crash, timeout, out-of-memory and leak
# artifacts written by this run, in .build-fuzz/artifacts/TARGET/).
#
#   Fuzz/run.sh            FUZZ_SECONDS per target (default 60); new inputs kept in .build-fuzz/corpus/TARGET
#   Fuzz/run.sh --smoke    FUZZ_SECONDS (default 5) per target from a scratch corpus: every committed seed
#                          and regression input is replayed first, so a regression that crashes again fails
#   FUZZ_TARGET=NAME       one target only
#
# Every run: -timeout=1 (an input taking over a second is a finding), -rss_limit_mb=256, the
# committed corpora Tests/QRPayFuzzTests/{Corpus,Regressions}/TARGET read but never written, a
# dictionary from Fuzz/dicts when the target has one, and nice -n 10 (shared machines).
# Exit status: 0 when no target found anything, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."

# AddressSanitizer's own options under libFuzzer (README, "Suppressions"): leak detection off, since
# LeakSanitizer cannot see Swift references stored in enum payloads with tag bits (Data's storage,
# for one) and reports objects that long-lived caches (the trust store's certificates) still hold;
# a real leak still ends a run through -rss_limit_mb. A 32 MB quarantine instead of 256 MB keeps
# ASan's bookkeeping from eating the 256 MB budget the targets themselves must stay under.
asan=detect_leaks=0:quarantine_size_mb=32:abort_on_error=1:handle_abort=1

smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1
seconds=${FUZZ_SECONDS:-$([ $smoke = 1 ] && echo 5 || echo 60)}
bin=.build-fuzz/release
all=$(awk '/^let targets/{on=1} on{print} on&&/\]/{exit}' Fuzz/Package.swift | grep -o '"[a-z0-9-]*"' | tr -d '"')
targets=${FUZZ_TARGET:-$all}
stamp=$(date -u +%Y%m%dT%H%M%SZ)-$$
results=.build-fuzz/results-$stamp.tsv
mkdir -p .build-fuzz/logs
printf 'target\tseconds\texecutions\texec/s\tcov\tft\tcorpus\trss_mb\tfindings\n' > "$results"
printf '%-12s %7s %12s %8s %6s %7s %7s %6s  %s\n' target seconds executions exec/s cov ft corpus rss findings
failed=0
for t in $targets; do
    exe=$bin/fuzz-$t
    if [ ! -x "$exe" ]; then echo "fuzz: no executable $exe (make fuzz-build)"; failed=1; continue; fi
    art=.build-fuzz/artifacts/$t
    mkdir -p "$art"
    if [ $smoke = 1 ]; then
        work=$(mktemp -d "${TMPDIR:-/tmp}/qrpay-fuzz-smoke-$t.XXXXXX")
    else
        work=.build-fuzz/corpus/$t
        mkdir -p "$work"
    fi
    dirs=("$work")
    for d in Tests/QRPayFuzzTests/Corpus/$t Tests/QRPayFuzzTests/Regressions/$t; do [ -d "$d" ] && dirs+=("$d"); done
    dict=()
    [ -f "Fuzz/dicts/$t.dict" ] && dict=(-dict="Fuzz/dicts/$t.dict")
    before=$(ls "$art" | wc -l)
    log=.build-fuzz/logs/$t-$stamp.log
    start=$(date +%s)
    # (Swift's own crash backtracer off: libFuzzer and ASan report crashes, and it trips over ASan.)
    { ASAN_OPTIONS=${ASAN_OPTIONS:-$asan} SWIFT_BACKTRACE=enable=no nice -n 10 "$exe" -max_total_time="$seconds" \
        -timeout=1 -rss_limit_mb=256 -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" "${dirs[@]}" > "$log" 2>&1; } 2>/dev/null
    status=$?
    elapsed=$(( $(date +%s) - start ))
    [ $smoke = 1 ] && rm -rf "$work"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<< "$last")
    after=$(ls "$art" | wc -l)
    found=$(( after - before ))
    note=$found
    if [ $status -ne 0 ]; then
        failed=1
        [ $found -eq 0 ] && found=1
        note="$found (exit $status; see $log)"
    fi
    printf '%-12s %7s %12s %8s %6s %7s %7s %6s  %s\n' "$t" "$elapsed" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}" "$note"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$elapsed" "${execs:-}" "${rate:-}" "${cov:-}" "${ft:-}" "${corp:-}" "${rss:-}" "$found" >> "$results"
    if [ $status -ne 0 ]; then grep -E 'ERROR|Fatal error|invariant|SUMMARY|artifact|Test unit written' "$log" | head -8 | sed 's/^/    /'; fi
done
echo "fuzz: results in $results"
exit $failed
