#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this):
# system packages, the sched_ext kernel (built once, then reused from the
# cache), formatting, lints, then every unit and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh
echo "ci: kernel: $(bash ci/build-kernel.sh)"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
