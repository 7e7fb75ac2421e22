#!/usr/bin/env bash
# Build the libFuzzer targets (make fuzz-build) and run each for a set time.
#
#   tests/fuzz/run.sh [--seconds N] [TARGET ...]     (default 60 s, every target)
#
# One line per target, "ok" or "FAIL", then the line tests/run-all.sh reads:
#   fuzz: N passed, N failed
# A target passes when it ran its time without a crash, leak, timeout or a
# violated property. The corpus grows in build-fuzz/corpus/TARGET (the seeds
# in tests/fuzz/corpus/TARGET and the findings in tests/fuzz/regressions/TARGET
# are read, never written); a crashing input is saved in build-fuzz/artifacts/.
# clang and libclang-rt-14-dev (the libFuzzer runtime) are installed with
# apt-get when missing, as root or through sudo.
set -u
cd "$(dirname "$0")/../.."

seconds=60
targets=()
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=${2:?}; shift 2 ;;
	-h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fuzz/run.sh: unknown option $1" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done

summary() { echo "fuzz: $1 passed, $2 failed"; [ "$2" -eq 0 ]; exit $?; }

# The libFuzzer runtime comes with Debian's libclang-rt-14-dev.
have_fuzzer() {
	command -v clang >/dev/null 2>&1 &&
	    [ -f "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ]
}
if ! have_fuzzer; then
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
	echo "fuzz: installing clang libclang-rt-14-dev (apt-get)"
	if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	        --no-install-recommends clang libclang-rt-14-dev >/dev/null 2>&1 ||
	    { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
	      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	        --no-install-recommends clang libclang-rt-14-dev >/dev/null 2>&1; }; } ||
	    ! have_fuzzer; then
		echo "  FAIL fuzz: no clang with the libFuzzer runtime (apt-get install clang libclang-rt-14-dev)"
		summary 0 1
	fi
fi

build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if ! make -s fuzz-build >"$build_log" 2>&1; then
	echo "  FAIL fuzz: building the targets failed"
	sed 's/^/       | /' "$build_log" | tail -30
	summary 0 1
fi

if [ ${#targets[@]} -eq 0 ]; then
	for f in build-fuzz/fuzz_*; do
		case "$f" in *.d) continue ;; esac
		[ -x "$f" ] && targets+=("${f#build-fuzz/fuzz_}")
	done
fi

passed=0
failed=0
for t in "${targets[@]}"; do
	bin=build-fuzz/fuzz_$t
	corpus=build-fuzz/corpus/$t
	mkdir -p "$corpus" build-fuzz/artifacts build-fuzz/logs
	dirs=("$corpus")
	for d in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do
		[ -d "$d" ] && dirs+=("$d")
	done
	log=build-fuzz/logs/$t.log
	# Leaks count (detect_leaks); a unit slower than 10 s is a finding too.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
	    -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	runs=$(grep -aoE '^stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
	cov=$(grep -aoE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
	size=$(find "$corpus" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		printf '  ok   fuzz_%-12s %3ss  %9s runs  cov %5s  corpus %5s\n' "$t" "$seconds" "${runs:-?}" "${cov:-?}" "$size"
	else
		failed=$((failed + 1))
		art=$(grep -aoE "Test unit written to \S+" "$log" | tail -1 | sed 's/Test unit written to //')
		printf '  FAIL fuzz_%-12s exit %s after %s runs; input: %s\n' "$t" "$rc" "${runs:-?}" "${art:-none saved}"
		# The verdict and the frames in our code (not libFuzzer's or libc's).
		grep -aE 'property violated|ERROR: |SUMMARY: |runtime error|#[0-9]+ 0x.*/(fcgi|tests/fuzz)/' "$log" |
		    grep -av 'in fuzzer::' | head -16 | sed -E 's/ \(BuildId: [0-9a-f]+\)//; s/^/       | /'
		echo "       | full log: $log; reproduce: $bin ${art:-<input>}"
		echo "       | keep it: cp ${art:-<input>} tests/fuzz/regressions/$t/ (replayed by test_fuzz_regress)"
	fi
done
summary "$passed" "$failed"
