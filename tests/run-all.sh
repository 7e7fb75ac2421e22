#!/usr/bin/env bash
# Run every suite against one build directory and end with the line CI
# reads: "N passed, N failed".
#   tests/run-all.sh [BUILD_DIR]     (default: build)
# Unit tests are the cmocka binaries in BUILD_DIR/tests; the node suites
# (emulator, integration) get the binary through ABLY_TOKEN_BIN.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
export ABLY_TOKEN_BIN="$PWD/$build/ably-token"
passed=0
failed=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

count_cmocka() {  # file -> "pass fail"
	local p f
	p=$(grep -oE '^\[  PASSED  \] [0-9]+' "$1" | grep -oE '[0-9]+$' | tail -1)
	f=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$1" | grep -oE '[0-9]+' | tail -1)
	echo "${p:-0} ${f:-0}"
}

echo "== unit tests ($build/tests)"
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	"$t" >"$log/$name.out" 2>&1
	rc=$?
	read -r p f < <(count_cmocka "$log/$name.out")
	# A crash (or a sanitizer abort) leaves no summary: count it.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$f" -eq 0 ]; then
		printf '  ok   %-22s %3d passed\n' "$name" "$p"
	else
		printf '  FAIL %-22s %3d passed, %d failed\n' "$name" "$p" "$f"
		sed 's/^/       | /' "$log/$name.out" | grep -vE '^\s+\| \[ +(RUN|OK) ' | tail -40
	fi
done

for suite in tests/ably-emulator tests/integration tests/e2e; do
	ls "$suite"/*.test.mjs >/dev/null 2>&1 || continue
	echo "== node --test $suite"
	node --test --test-reporter=spec --test-reporter-destination=stdout \
	    --test-reporter=tap --test-reporter-destination="$log/tap.out" \
	    "$suite"/*.test.mjs 2>&1 | sed 's/^/  /'
	p=$(grep -E '^# pass ' "$log/tap.out" | grep -oE '[0-9]+' | tail -1)
	f=$(grep -E '^# fail ' "$log/tap.out" | grep -oE '[0-9]+' | tail -1)
	c=$(grep -E '^# cancelled ' "$log/tap.out" | grep -oE '[0-9]+' | tail -1)
	if [ -z "$p" ]; then p=0; f=1; fi  # runner died before its summary
	f=$(( ${f:-0} + ${c:-0} ))
	passed=$((passed + p)); failed=$((failed + f))
done

# A short bounded run of every libFuzzer target (tests/fuzz/run.sh builds
# them with clang into build-fuzz/), one test each: passed when it ran
# FUZZ_TEST_SECONDS (default 10) seconds without a finding. 0 skips it.
fuzz_seconds=${FUZZ_TEST_SECONDS:-10}
if [ "$fuzz_seconds" != 0 ]; then
	echo "== fuzz (tests/fuzz, $fuzz_seconds s per target)"
	tests/fuzz/run.sh --seconds "$fuzz_seconds" >"$log/fuzz.out" 2>&1
	grep -v '^fuzz: ' "$log/fuzz.out" | sed 's/^/  /'
	p="" f=""
	read -r p f < <(sed -nE 's/^fuzz: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log/fuzz.out" | tail -1) || true
	if [ -z "$p" ]; then p=0; f=1; fi  # run.sh died before its summary
	passed=$((passed + p)); failed=$((failed + f))
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
