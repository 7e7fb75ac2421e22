#!/usr/bin/env bash
# `make check`, second half: ThreadSanitizer over the integration tests whose
# workers run several threads (shared connections, token mode, the process
# model). Every report fails the run, even one the tests themselves survive.
#
#   tests/run-tsan.sh [BUILD_DIR]     (default build-tsan, built by make check)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-tsan}
[ -x "$build/ably-token" ] || { echo "run-tsan: no $build/ably-token (make check builds it)" >&2; exit 2; }
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0
TSAN_OPTIONS="log_path=$logs/tsan" ABLY_TOKEN_BIN="$build/ably-token" \
    node --test tests/integration/keepconn.test.mjs tests/integration/token-mode.test.mjs \
    tests/integration/process.test.mjs > "$logs/out" 2>&1 || status=$?
passed=$(grep -c '^ok ' "$logs/out" || true)
failed=$(grep -c '^not ok ' "$logs/out" || true)
if [ "$status" -ne 0 ]; then
    grep -E '^not ok|error:' "$logs/out" >&2 || true
fi
if compgen -G "$logs/tsan.*" > /dev/null; then
    cat "$logs"/tsan.* >&2
    echo "run-tsan: ThreadSanitizer reported $(cat "$logs"/tsan.* | grep -c '^WARNING: ThreadSanitizer') problem(s)" >&2
    failed=$((failed + 1))
    status=1
fi
echo "ThreadSanitizer: $passed passed, $failed failed"
exit "$status"
