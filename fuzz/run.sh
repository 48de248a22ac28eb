#!/bin/sh
# run.sh -- runs each libFuzzer target of `make fuzz` for a bounded time on
# its seed corpus, and fails when any reports a crash, a leak, undefined
# behaviour, a timeout or a broken property.
#
#   run.sh BUILD-DIR FUZZ-SRC-DIR SECONDS TARGET...
#
# Inputs the fuzzer finds go to BUILD-DIR/corpus/TARGET (the seeds in
# FUZZ-SRC-DIR/corpus/TARGET are read, never written); a failing input is
# saved as BUILD-DIR/artifacts/TARGET-crash-* (or leak-, timeout-, oom-);
# each run's output is BUILD-DIR/logs/TARGET.log.
set -u
build=$1 src=$2 secs=$3
shift 3
mkdir -p "$build/corpus" "$build/artifacts" "$build/logs"
failed=""
for t in "$@"; do
	mkdir -p "$build/corpus/$t"
	dict=""
	[ -f "$src/$t.dict" ] && dict="-dict=$src/$t.dict"
	log=$build/logs/$t.log
	printf 'fuzz: %s for %s s ... ' "$t" "$secs"
	# shellcheck disable=SC2086 # $dict is one word or none
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		nice "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" $dict \
		"$build/corpus/$t" "$src/corpus/$t" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "ok (${runs:-?} runs)"
	else
		echo "FAILED (exit $rc; $log)"
		grep -E 'ERROR|runtime error|property failed|SUMMARY|Test unit written' "$log" | head -n 20
		failed="$failed $t"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed (inputs in $build/artifacts/)" >&2
	exit 1
fi
echo "fuzz: every target ran $secs s without a finding"
