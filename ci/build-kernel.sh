#!/bin/sh
# Builds the sched_ext kernel and its example schedulers into the ktstr-vm
# cache, or reuses the cached one (a cache hit takes under a second).
# Idempotent. Prints the bzImage path on stdout.
#   ci/build-kernel.sh [extra `ktstr-vm kernel build` flags, e.g. --source DIR]
# Cache location: $KTSTR_VM_CACHE_DIR, else ~/.cache/ktstr-vm.
set -eu
cd "$(dirname "$0")/.."
# Debug profile: the same build the test suite uses, so CI compiles once.
exec cargo run --quiet -p ktstr-vm -- kernel build "$@"
