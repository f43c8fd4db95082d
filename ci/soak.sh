#!/usr/bin/env bash
# Soak test: run a healthy scheduler N times and count false alarms.
#
#   ci/soak.sh [N] [SCHEDULER|eevdf] [extra ktstr-vm run flags...]
#   ci/soak.sh 20 scx_qmap
#   ci/soak.sh 20 eevdf --cpus 4
#
# Every run of a healthy scheduler must pass; any other verdict is a false
# alarm (or a real flake in the kernel or harness) and is listed with its
# artifacts. Uses the busy load the fault tests use (8 workers on 2 vCPUs)
# unless the extra flags say otherwise. Exits 0 only with zero false alarms.
# Needs: a built ktstr-vm (KTSTR_VM, default target/debug/ktstr-vm), a
# cached kernel, jq.
set -euo pipefail

n="${1:-20}"
sched="${2:-scx_qmap}"
shift $(( $# < 2 ? $# : 2 ))

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${KTSTR_VM:-$root/target/debug/ktstr-vm}"
[[ -x "$bin" ]] || { echo "soak: $bin not found: cargo build -p ktstr-vm (or set KTSTR_VM)" >&2; exit 2; }
command -v jq >/dev/null || { echo "soak: jq is required" >&2; exit 2; }

sched_args=()
[[ "$sched" == eevdf ]] || sched_args=(--scheduler "$sched")
out="$(mktemp -d "${TMPDIR:-/tmp}/ktstr-soak.XXXXXX")"

start=$(date +%s)
set +e
"$bin" run --quiet --json --repeat "$n" --artifacts "$out" \
    --cpus 2 --workers 8 --duration 3s "${sched_args[@]}" "$@" >"$out/repeat.json"
code=$?
set -e
elapsed=$(( $(date +%s) - start ))

if ! jq -e .runs "$out/repeat.json" >/dev/null 2>&1; then
    echo "soak: ktstr-vm did not produce a repeat result (exit $code); see $out" >&2
    exit 2
fi
jq -r '.runs[] | select(.result.outcome != "pass")
       | "false alarm: run \(.run): \(.result.outcome): \([.result.findings[].class] | join(", ")): \(.result.findings[0].message // "") (\(.result.artifacts))"' \
    "$out/repeat.json"
alarms=$(jq '[.runs[] | select(.result.outcome != "pass")] | length' "$out/repeat.json")
retries=$(jq '.infra_retries' "$out/repeat.json")
walls=$(jq -r '[.runs[].result.wall_ms] | sort | "median \(.[length/2|floor]/1000)s, max \(.[-1]/1000)s"' "$out/repeat.json")
echo "soak: $sched: $alarms false alarm(s) in $n runs; wall per run: $walls; $elapsed s total; infra retries $retries; exit $code"
echo "soak: results in $out/repeat.json"
[[ "$alarms" == 0 && "$code" == 0 ]]
