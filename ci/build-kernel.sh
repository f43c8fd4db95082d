#!/bin/sh
# Builds the sched_ext kernel and its example schedulers into the ktstr-vm
# cache, in both variants the test suite uses (default, then debug), or
# reuses the cached ones (a cache hit takes under a second). Idempotent.
# Prints the default kernel's bzImage path, then the debug one's, on stdout.
#   ci/build-kernel.sh [extra `ktstr-vm kernel build` flags, e.g. --source DIR]
# Cache location: $KTSTR_VM_CACHE_DIR, else ~/.cache/ktstr-vm.
set -eu
cd "$(dirname "$0")/.."
# Debug profile: the same build the test suite uses, so CI compiles once.
cargo run --quiet -p ktstr-vm -- kernel build "$@"
cargo run --quiet -p ktstr-vm -- kernel build --variant debug "$@"
