#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs the main job: install packages,
# build (or reuse) the sched_ext kernel and its example schedulers, then
# test scx_simple on it. Extra arguments go to `ktstr-vm run`.
#   ci/main.sh [--scheduler scx_flatcg] [--topology 2n4l2c2t] ...
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh
kernel=$(bash ci/build-kernel.sh)
cargo build --quiet -p ktstr-vm
if [[ $# -eq 0 ]]; then set -- --scheduler scx_simple; fi
exec target/debug/ktstr-vm --kernel "$kernel" "$@"
