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

for suite in tests/ably-emulator tests/integration; do
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

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
