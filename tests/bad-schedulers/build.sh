#!/usr/bin/env bash
# Builds schedulers that fail to load or misbehave, each a small edit of the
# kernel tree's own scx_simple, for the end-to-end tests of load-failure
# diagnosis (tests/e2e_load_failures.rs) and of what only the runner can
# catch (scx_gap, tests/e2e_misbehaving.rs). Real libbpf, real clang, real
# verifier: only the edit is ours.
#
#   tests/bad-schedulers/build.sh KERNEL_TREE VMLINUX OUT_DIR
#
# KERNEL_TREE  a kernel source tree with tools/sched_ext (read, never written)
# VMLINUX      the booted kernel's vmlinux (its BTF becomes vmlinux.h)
# OUT_DIR      where to build; the binaries land in OUT_DIR/bin/
#
# Needs clang (CLANG, default clang-19 then clang; ci/setup.sh installs
# clang-19), make, gcc, libelf-dev, zlib1g-dev. A second run with the same
# inputs does nothing. Takes 30 s to 2 min (it builds its own libbpf and
# bpftool from the tree, as tools/sched_ext does).
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 KERNEL_TREE VMLINUX OUT_DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tree=$(cd "$1" && pwd)
vmlinux=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
out=$3

[[ -f $tree/tools/sched_ext/scx_simple.bpf.c ]] ||
  { echo "$tree has no tools/sched_ext/scx_simple.bpf.c: not a kernel tree with sched_ext" >&2; exit 1; }
[[ -f $vmlinux ]] || { echo "vmlinux $vmlinux does not exist" >&2; exit 1; }
if [[ -z ${CLANG:-} ]]; then
  for c in clang-19 clang; do
    if command -v "$c" >/dev/null; then CLANG=$c; break; fi
  done
fi
[[ -n ${CLANG:-} ]] || { echo "no clang-19 or clang on PATH (ci/setup.sh installs clang-19)" >&2; exit 1; }

# The variants: name, then what it breaks. Each edit must change the file,
# so a tree whose scx_simple moved on fails here instead of building a
# scheduler that loads.
VARIANTS=(scx_bad_verifier scx_bad_oob scx_bad_kfunc scx_bad_ops scx_bad_btf scx_bad_map scx_gap)

mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

stamp=$( {
  cat "$here/build.sh" "$here"/*.inc.c
  echo "$tree $vmlinux $CLANG"
  stat -c '%s %Y' "$vmlinux"
  cat "$tree/tools/sched_ext/scx_simple.bpf.c" "$tree/tools/sched_ext/scx_simple.c"
} | sha256sum | cut -d' ' -f1)
if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" ]]; then
  for v in "${VARIANTS[@]}"; do [[ -x $out/bin/$v ]] || break; done
  [[ -x $out/bin/${VARIANTS[-1]} ]] && { echo "bad schedulers up to date in $out/bin"; exit 0; }
fi
rm -f "$out/.stamp"

# A private copy of what tools/sched_ext builds from, so nothing is written
# into the tree (it may sit in ktstr-vm's cache): the tools it compiles are
# copied, the kernel headers and scripts it only reads are linked.
work=$out/work
rm -rf "${work:?}"
mkdir -p "$work/tools/sched_ext"
for d in arch bpf build include lib scripts; do
  cp -a "$tree/tools/$d" "$work/tools/"
done
(cd "$tree/tools/sched_ext" && tar cf - --exclude=./build .) | (cd "$work/tools/sched_ext" && tar xf -)
for d in include kernel scripts; do
  ln -s "$tree/$d" "$work/$d"
done

scx=$work/tools/sched_ext
# edit NAME SED_SCRIPT: NAME.bpf.c from scx_simple.bpf.c through sed.
edit() {
  sed "$2" "$scx/scx_simple.bpf.c" >"$scx/$1.bpf.c"
  if cmp -s "$scx/scx_simple.bpf.c" "$scx/$1.bpf.c"; then
    echo "$1: the edit did not apply to this tree's scx_simple.bpf.c" >&2
    exit 1
  fi
}
# An unchecked map lookup: the verifier rejects the NULL dereference.
edit scx_bad_verifier 's/^\tif (cnt_p)$/\tif (1)/'
# A read past the end of a map value (the value is one u64).
edit scx_bad_oob 's/^\t\t(\*cnt_p)++;$/\t\tcnt_p[1]++;/'
# A kfunc 6.12 does not have (6.13 renamed scx_bpf_consume to it), called as
# a scheduler written for a newer kernel would.
edit scx_bad_kfunc 's/^\tscx_bpf_consume(SHARED_DSQ);$/\tscx_bpf_dsq_move_to_local(SHARED_DSQ);/
/^#include <scx\/common.bpf.h>$/a bool scx_bpf_dsq_move_to_local(u64 dsq_id) __ksym;'
# A struct_ops member 6.12's sched_ext_ops lacks (see ops_future.inc.c).
edit scx_bad_ops '/^SCX_OPS_DEFINE(simple_ops,$/,/);$/d'
cat "$here/ops_future.inc.c" >>"$scx/scx_bad_ops.bpf.c"
# A task_struct field this kernel's BTF lacks, as when a scheduler is built
# against another kernel's vmlinux.h: the CO-RE relocation cannot resolve.
edit scx_bad_btf 's/^\tp->scx.dsq_vtime = vtime_now;$/\tp->scx.dsq_vtime = vtime_now + ((struct task_struct___other *)p)->scx_budget;/
/^#include <scx\/common.bpf.h>$/a struct task_struct___other { u64 scx_budget; } __attribute__((preserve_access_index));'
# A map the kernel refuses to create (an array with no entries).
edit scx_bad_map 's/^\t__uint(max_entries, 2);\(.*\)$/\t__uint(max_entries, 0);\1/'
# One worker held off the CPU for 6 s (see gap_jail.inc.c): it loads, stays
# attached and never trips the watchdog.
edit scx_gap "/^#define SHARED_DSQ 0\$/r $here/gap_jail.inc.c
s/^\tif (is_idle) {\$/\tif (is_idle \&\& !jailed(p, bpf_ktime_get_ns())) {/
/^\tstat_inc(1);\t\/\* count global queueing \*\/\$/a \\\\tif (jailed(p, bpf_ktime_get_ns())) {\\n\\t\\tscx_bpf_dispatch(p, JAIL_DSQ, SCX_SLICE_DFL, enq_flags);\\n\\t\\treturn;\\n\\t}
s/^\tscx_bpf_consume(SHARED_DSQ);\$/\tif (bpf_ktime_get_ns() >= jail_until \&\& scx_bpf_consume(JAIL_DSQ))\n\t\treturn;\n\tscx_bpf_consume(SHARED_DSQ);/
s/^\treturn scx_bpf_create_dsq(SHARED_DSQ, -1);\$/\tif (scx_bpf_create_dsq(JAIL_DSQ, -1))\n\t\treturn -1;\n\treturn scx_bpf_create_dsq(SHARED_DSQ, -1);/"

for v in "${VARIANTS[@]}"; do
  sed "s/scx_simple/$v/g" "$scx/scx_simple.c" >"$scx/$v.c"
done

jobs=$(nproc 2>/dev/null || echo 2)
make -C "$scx" -j"$jobs" CLANG="$CLANG" VMLINUX_BTF="$vmlinux" \
  c-sched-targets="${VARIANTS[*]}" >"$out/build.log" 2>&1 ||
  { tail -30 "$out/build.log" >&2; echo "building the bad schedulers failed: $out/build.log" >&2; exit 1; }
for v in "${VARIANTS[@]}"; do
  [[ -x $scx/build/bin/$v ]] || { echo "$v was not built: $out/build.log" >&2; exit 1; }
done
rm -rf "${out:?}/bin"
cp -r "$scx/build/bin" "$out/bin"
echo "$stamp" >"$out/.stamp"
echo "bad schedulers built in $out/bin"
