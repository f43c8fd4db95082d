#!/usr/bin/env bash
# Installs every system dependency ktstr-vm needs from Debian packages.
# Idempotent: when everything is present it only checks and exits in seconds.
set -euo pipefail

PKGS=(
  # VM runner
  qemu-system-x86
  # kernel source and build toolchain; ccache makes a rebuild of the same
  # source from another directory (git+file://, bisect) cheap
  linux-source-6.12 build-essential flex bison bc libelf-dev libssl-dev dwarves
  xz-utils cpio kmod ccache git
  # a real source too old for sched_ext: the refusal test builds nothing from it
  linux-source-6.1
  # BPF schedulers from tools/sched_ext
  clang-19 llvm-19 zlib1g-dev pkg-config
  # guest shell and payload examples
  busybox-static stress-ng
  # soak scripts read result JSON
  jq
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: system packages present"
fi

