#!/usr/bin/env bash
# Soak test: run a healthy scheduler N times back to back and count false
# alarms. Every run of a healthy scheduler must pass; any other verdict is a
# false alarm (or a real flake in the kernel or harness) and is listed with
# its artifacts.
#
#   ci/soak.sh [-n N] [-j J] [-s SCHEDULER|eevdf] [-k KERNEL] [-- extra flags]
#   ci/soak.sh                         # 50 runs of scx_simple, one at a time
#   ci/soak.sh -n 20 -s scx_qmap -j 2  # 20 runs, two at a time (ktstr-vm matrix)
#   ci/soak.sh -s eevdf -- --topology 1n2l2c1t --duration 5s
#
# Extra flags go to `ktstr-vm run` (-j 1) or `ktstr-vm matrix` (-j 2+):
# --topology/-t and --cpus are honoured (--cpus N becomes a flat topology
# for the matrix); without either, the busy load the fault tests use
# (2 vCPUs, 8 workers, 3 s) is the default. Reports passes, failures by
# class, and the distribution of run times. Exits 0 only with zero false
# alarms. Needs: a built ktstr-vm (KTSTR_VM, default target/debug/ktstr-vm),
# a cached kernel, jq.
set -euo pipefail

n=50 jobs=1 sched=scx_simple kernel=""
while getopts "n:j:s:k:h" opt; do
    case "$opt" in
        n) n=$OPTARG ;;
        j) jobs=$OPTARG ;;
        s) sched=$OPTARG ;;
        k) kernel=$OPTARG ;;
        *) sed -n '2,20p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[[ "${1:-}" == "--" ]] && shift
extra=("$@")

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${KTSTR_VM:-$root/target/debug/ktstr-vm}"
[[ -x "$bin" ]] || { echo "soak: $bin not found: cargo build -p ktstr-vm (or set KTSTR_VM)" >&2; exit 2; }
command -v jq >/dev/null || { echo "soak: jq is required" >&2; exit 2; }

# The topology the user gave, if any (so no default clashes with it).
topology="" cpus="" rest=()
for ((i = 0; i < ${#extra[@]}; i++)); do
    case "${extra[i]}" in
        -t|--topology) topology="${extra[i+1]}"; i=$((i + 1)) ;;
        --topology=*) topology="${extra[i]#*=}" ;;
        --cpus) cpus="${extra[i+1]}"; i=$((i + 1)) ;;
        --cpus=*) cpus="${extra[i]#*=}" ;;
        *) rest+=("${extra[i]}") ;;
    esac
done
defaults=()
if [[ -z "$topology" && -z "$cpus" ]]; then
    topology=1n1l2c1t
    defaults=(--workers 8 --duration 3s)
elif [[ -z "$topology" ]]; then
    topology="1n1l${cpus}c1t"
fi
out="$(mktemp -d "${TMPDIR:-/tmp}/ktstr-soak.XXXXXX")"
kernel_args=()
[[ -n "$kernel" ]] && kernel_args=(--kernel "$kernel")

start=$(date +%s)
set +e
if [[ "$jobs" -le 1 ]]; then
    sched_args=()
    [[ "$sched" == eevdf ]] || sched_args=(--scheduler "$sched")
    "$bin" run --quiet --json --repeat "$n" --artifacts "$out" --topology "$topology" \
        "${kernel_args[@]}" "${sched_args[@]}" "${defaults[@]}" "${rest[@]}" >"$out/soak.json"
    code=$?
    # One shape for both modes: {wall_ms, outcome, classes, artifacts} per run.
    runs='[.runs[] | {outcome: .result.outcome, wall_ms: .result.wall_ms,
            classes: [.result.findings[].class], message: (.result.findings[0].message // ""),
            artifacts: .result.artifacts}]'
else
    if [[ -z "$kernel" ]]; then
        kernel=$("$bin" kernel list --json | jq -r '.[0].key // empty')
        [[ -n "$kernel" ]] || { echo "soak: no cached kernel: ci/build-kernel.sh" >&2; exit 2; }
    fi
    "$bin" matrix --plan /dev/null --quiet --json --repeat "$n" -j "$jobs" --artifacts "$out" \
        --kernel "$kernel" --topology "$topology" --scheduler "$sched" \
        "${defaults[@]}" "${rest[@]}" >"$out/soak.json"
    code=$?
    runs='[.cells[] | {outcome: (.result.outcome // .status), wall_ms: (.result.wall_ms // 0),
            classes: [(.result.findings // [])[].class], message: (.reason // (.result.findings[0].message // "")),
            artifacts: .artifacts}]'
fi
set -e
elapsed=$(( $(date +%s) - start ))

if ! jq -e "$runs" "$out/soak.json" >"$out/runs.json" 2>/dev/null; then
    echo "soak: ktstr-vm did not produce a result (exit $code); see $out" >&2
    exit 2
fi
jq -r '.[] | select(.outcome != "pass")
       | "false alarm: \(.outcome): \(.classes | join(", ")): \(.message) (\(.artifacts))"' "$out/runs.json"
total=$(jq 'length' "$out/runs.json")
passes=$(jq '[.[] | select(.outcome == "pass")] | length' "$out/runs.json")
alarms=$((total - passes))
by_class=$(jq -r '[.[] | select(.outcome != "pass") | .classes[]] | group_by(.)
                  | map("\(.[0]) x\(length)") | join(", ")' "$out/runs.json")
times=$(jq -r '[.[].wall_ms] | sort | length as $n
               | "min \(.[0]/1000)s, median \(.[($n/2|floor)]/1000)s, p90 \(.[($n*9/10|floor)]/1000)s, max \(.[-1]/1000)s"' \
    "$out/runs.json")
echo "soak: $sched on $topology, -j $jobs: $passes of $total passed, $alarms false alarm(s)${by_class:+ ($by_class)}"
echo "soak: wall per run: $times; $elapsed s in all; exit $code"
echo "soak: results in $out/soak.json"
[[ "$alarms" == 0 && "$code" == 0 && "$total" == "$n" ]]
