#!/bin/sh
# Runs the libFuzzer harnesses of tests/fuzz (docs/fuzzing.md).
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [HARNESS...]
#
# Each harness (default: all) fuzzes for SECONDS, at most FUZZ_JOBS (default
# 2) at a time, starting from its committed seeds (tests/fuzz/corpus/NAME,
# never written to) plus what earlier runs found (BUILD_DIR/fuzz-corpus/
# NAME, where new inputs go).  Exits non-zero when any harness finds a
# crash, a leak, a broken promise or an input slower than 10 s; the input
# is saved under BUILD_DIR/fuzz-artifacts/ and the log says where.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_DIR SECONDS [HARNESS...]" >&2
	exit 2
fi
build=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
bin="$build/tests/fuzz"
jobs=${FUZZ_JOBS:-2}

case $seconds in
'' | *[!0-9]*) echo "$0: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac
case $jobs in
'' | *[!0-9]* | 0) echo "$0: FUZZ_JOBS must be a positive number, got '$jobs'" >&2; exit 2 ;;
esac
if [ $# -eq 0 ]; then
	set -- csv policy request request_file audit_record audit_export model wire psi join_wire
fi
for h in "$@"; do
	if [ ! -x "$bin/fuzz_$h" ] || [ ! -d "$here/corpus/$h" ]; then
		echo "$0: no harness '$h' (want $bin/fuzz_$h and $here/corpus/$h; build with 'make build-fuzz')" >&2
		exit 2
	fi
done

mkdir -p "$build/fuzz-corpus" "$build/fuzz-artifacts" "$build/fuzz-logs"
# Leaks are findings; a sanitizer report must end the run with an error.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

run_one() {
	h=$1
	mkdir -p "$build/fuzz-corpus/$h"
	if "$bin/fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/fuzz_$h-" \
	    "$build/fuzz-corpus/$h" "$here/corpus/$h" >"$build/fuzz-logs/$h.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz-logs/$h.log")
		cov=$(grep -o 'cov: [0-9]*' "$build/fuzz-logs/$h.log" | tail -n 1)
		echo "fuzz_$h: ok, ${runs:-?} inputs in ${seconds}s, $cov"
	else
		echo "fuzz_$h: FAILED (log: $build/fuzz-logs/$h.log)"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*broken promise|.*runtime error)' \
		    "$build/fuzz-logs/$h.log" | head -n 5 | sed 's/^/    /'
		grep -o 'Test unit written to .*' "$build/fuzz-logs/$h.log" | sort -u | sed 's/^/    /'
		echo "    reproduce: $bin/fuzz_$h FILE; keep it as $here/crashes/fuzz_$h-WHAT"
		return 1
	fi
}

# At most $jobs harnesses at a time; each writes one status line.
status="$build/fuzz-logs/status"
: >"$status"
running=0
for h in "$@"; do
	(run_one "$h" || echo "$h" >>"$status") &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

if [ -s "$status" ]; then
	echo "fuzzing found problems in: $(tr '\n' ' ' <"$status")" >&2
	exit 1
fi
echo "fuzzing: all $# harnesses ran ${seconds}s each without a finding"
