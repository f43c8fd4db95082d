#!/usr/bin/env bash
# Runs canned scenarios many times under healthy schedulers and counts
# false failures (a healthy scheduler must pass every run), and prints the
# worst measured value of each assertion next to its threshold.
#
# usage: ci/soak-scenarios.sh [RUNS] [SCHEDULER...]   (EEVDF is "eevdf")
# env:   SCENARIOS="steady cpuset_apply ..."  TOPOLOGY=1n2l2c1t  OUT=dir
set -euo pipefail
runs=${1:-20}
shift || true
scheds=("${@:-eevdf scx_simple}")
[ $# -eq 0 ] && scheds=(eevdf scx_simple)
scenarios=${SCENARIOS:-"steady cpuset_apply mixed_workloads oversubscribed"}
topology=${TOPOLOGY:-1n2l2c1t}
out=${OUT:-target/soak-scenarios}
bin=${KTSTR_VM:-target/debug/ktstr-vm}
[ -x "$bin" ] || cargo build -p ktstr-vm
args=()
for s in $scenarios; do args+=(--scenario "$s"); done
mkdir -p "$out"
for sched in "${scheds[@]}"; do
  sched_args=()
  [ "$sched" != eevdf ] && sched_args=(--scheduler "$sched")
  fails=0
  for i in $(seq 1 "$runs"); do
    dir="$out/$sched-$i"
    rm -rf "$dir"
    code=0
    "$bin" run -q --json --topology "$topology" "${sched_args[@]}" "${args[@]}" \
      --artifacts "$dir" > "$dir.json" 2> "$dir.stderr" || code=$?
    if [ "$code" -ne 0 ]; then
      fails=$((fails + 1))
      # Name the findings: a scheduler failure (e.g. scheduler-disabled) is
      # a real bug found, an assertion-failed one may be a false alarm.
      classes=$(jq -r '[.findings[].class] | unique | join(",")' "$dir.json" 2>/dev/null || echo "?")
      echo "$sched run $i: exit $code [$classes] (see $dir)"
    fi
  done
  echo "$sched: $fails of $runs runs failed ($(echo $scenarios | wc -w) scenarios per run)"
  python3 - "$out" "$sched" <<'PY'
import glob, json, sys
out, sched = sys.argv[1], sys.argv[2]
worst, limit, fails = {}, {}, {}
for f in sorted(glob.glob(f"{out}/{sched}-*.json")):
    try:
        r = json.load(open(f))
    except ValueError:
        continue
    for s in r.get("scenarios", []):
        for a in s["assertions"]:
            k, v = a["name"], a["measured"]
            if a["outcome"] == "fail":
                fails[k] = fails.get(k, 0) + 1
            if v is None:
                continue
            lower_is_worse = k == "not_starved"
            old = worst.get(k)
            worst[k] = v if old is None else (min(old, v) if lower_is_worse else max(old, v))
            limit[k] = a["threshold"]
for k in worst:
    print(f"  {k:<18} worst {worst[k]:>10.3f}  threshold {limit[k]}  failures {fails.get(k, 0)}")
PY
done
