#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this):
# system packages, the sched_ext kernel (built once, then reused from the
# cache), formatting, lints, then every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh --dev
echo "ci: kernel: $(bash ci/build-kernel.sh)"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Doc tests are left out (there are none), so the last result line is a
# real test binary's; the total goes on a line of its own at the end.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --no-fail-fast --lib --bins --tests 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
