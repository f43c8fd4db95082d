#!/usr/bin/env bash
# Bounded fuzzing of the parsers that read untrusted or hand-written input:
# the guest's message stream, topology specs, scenario files.
#
#   ci/fuzz.sh [SECONDS per target, default 60] [TARGET...]
#
# Uses the nightly toolchain (installed beside stable) and cargo-fuzz
# (installed here on first use). The corpus lives in ci/fuzz/corpus/ and
# grows as the fuzzer finds new inputs; crashes land in
# ci/fuzz/artifacts/TARGET/ and fail the script. Prints executions per
# target from libFuzzer's final stats.
set -euo pipefail
cd "$(dirname "$0")/fuzz"

secs="${1:-60}"
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(decoder topology scenario)

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="$(mktemp)"
    echo "fuzz: $t for ${secs}s"
    if cargo +nightly fuzz run --fuzz-dir . "$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
        >"$log" 2>&1; then
        execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
        echo "fuzz: $t: ${execs:-?} executions, no crash"
    else
        echo "fuzz: $t: CRASH or build failure; last lines:" >&2
        tail -40 "$log" >&2
        status=1
    fi
    rm -f "$log"
done
exit "$status"
