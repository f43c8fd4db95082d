#!/usr/bin/env bash
# What identifies a kernel's build before it is built, for the actions
# cache: the source identity (an exact release; a series resolved to its
# newest release; a git ref resolved to its commit with `git ls-remote`; a
# cache key as it is), the variant, and a hash of the Kconfig fragments and
# of the kernel builder's version. Prints GitHub output lines:
#
#   resolved=NAME  the kernel to build: a series becomes its newest release
#                  (6.13 -> 6.13.5), so a runner that keeps an older patch
#                  in its cache still builds the new one
#   cache=true|false   whether the actions cache should keep it (a bzImage
#                  path or a kernel tree is the repository's own: false)
#   key=KEY        the actions cache key (when cache=true)
#   slug=NAME      the kernel's name made safe for an artifact name
#
#   kernel-id.sh KERNEL KTSTR_VM_SOURCE_DIR
#
# The mirror is $KTSTR_VM_KERNEL_MIRROR (the directory holding v6.x/), as
# for ktstr-vm itself. Needs curl and jq only for a series.
#
# Stopgap until ktstr-vm prints this itself (wanted: `ktstr-vm kernel id
# KERNEL` printing the cache key its build would have, with no build): it
# re-implements ktstr-vm's naming rules (host/src/kernel/spec.rs), so the
# key is coarser (every fragment file counts for every variant).
set -euo pipefail

kernel=${1:?usage: kernel-id.sh KERNEL KTSTR_VM_SOURCE_DIR}
src=${2:?usage: kernel-id.sh KERNEL KTSTR_VM_SOURCE_DIR}

die() {
  echo "kernel-id: $*" >&2
  exit 1
}

# KERNEL[+VARIANT]: a suffix of lower-case letters is a variant
# (6.12.117+debug, git+URL#REF+debug); the `+` of `git+URL` is not.
base=$kernel
variant=default
suffix=""
if [[ $kernel =~ ^(.+)\+([a-z][a-z0-9_-]*)$ && ${BASH_REMATCH[1]} != git ]]; then
  base=${BASH_REMATCH[1]}
  variant=${BASH_REMATCH[2]}
  suffix=+$variant
fi

# The newest release of the series $1 (6.13 -> 6.13.5): releases.json
# first (kernel.org's lists maintained series), then the v6.x/ listing.
newest_release() {
  local series=$1 mirror releases pattern found
  mirror=${KTSTR_VM_KERNEL_MIRROR:-https://cdn.kernel.org/pub/linux/kernel}
  mirror=${mirror%/}
  if [[ -n ${KTSTR_VM_KERNEL_MIRROR:-} ]]; then
    releases=$mirror/releases.json
  else
    releases=https://www.kernel.org/releases.json
  fi
  pattern="^${series//./\\.}(\\.[0-9]+)?$"
  found=$(curl -fsSL --max-time 30 "$releases" 2>/dev/null |
    jq -r '.releases[].version' 2>/dev/null | grep -E "$pattern" | sort -V | tail -n 1 || true)
  if [[ -z $found ]]; then
    found=$(curl -fsSL --max-time 30 "$mirror/v${series%%.*}.x/" 2>/dev/null |
      grep -oE "linux-${series//./\\.}(\\.[0-9]+)?\\.tar\\.xz" |
      sed -e 's/^linux-//' -e 's/\.tar\.xz$//' | sort -V | tail -n 1 || true)
  fi
  [[ -n $found ]] || die "kernel $series: no release of that series in $releases or $mirror/v${series%%.*}.x/"
  echo "$found"
}

# The commit `git+URL#REF` names now, picked like ktstr-vm does: the ref
# as written, then a branch, then a tag (peeled to its commit).
git_commit() {
  local url=$1 ref=$2 listing name line
  if [[ $ref =~ ^[0-9a-fA-F]{40}$ ]]; then
    echo "${ref,,}"
    return
  fi
  # "$ref^{}" too: a pattern matches no peeled line by itself.
  listing=$(git ls-remote -- "$url" "$ref" "$ref^{}") || die "git+$url#$ref: git ls-remote failed"
  for name in "$ref" "refs/heads/$ref" "refs/tags/$ref"; do
    line=$(awk -v n="$name^{}" '$2 == n { print $1; exit }' <<<"$listing")
    [[ -n $line ]] || line=$(awk -v n="$name" '$2 == n { print $1; exit }' <<<"$listing")
    if [[ -n $line ]]; then
      echo "$line"
      return
    fi
  done
  die "git+$url#$ref: no branch or tag named $ref"
}

resolved=$kernel
cache=true
if [[ -e $kernel ]]; then
  # A bzImage or a tree (ktstr-vm tries a path first, too).
  base=path
fi
case $base in
  git+*)
    spec=${base#git+}
    [[ $spec == *#?* ]] || die "$kernel: a git kernel is written git+URL#REF"
    # ktstr-vm resolves the ref again when it builds: the name stays.
    identity=git-$(git_commit "${spec%#*}" "${spec##*#}")
    ;;
  *)
    if [[ $base =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
      identity=release-$base
    elif [[ $base =~ ^[0-9]+\.[0-9]+$ ]]; then
      release=$(newest_release "$base")
      identity=release-$release
      resolved=$release$suffix
    elif [[ $base == path ]]; then
      identity=""
      cache=false
    elif [[ $base =~ ^[0-9a-fA-F]+$ ]]; then
      identity=key-${base,,}
    else
      die "$kernel: not a kernel version (6.12.117, 6.13), git+URL#REF, cache key or existing path"
    fi
    ;;
esac

# Everything that changes a build besides its source and variant: the
# fragments and the builder's version (host/src/kernel/key.rs).
builder=$(grep -h 'BUILDER_VERSION: &str' "$src/host/src/kernel/key.rs") ||
  die "$src/host/src/kernel/key.rs: no BUILDER_VERSION (is $src a ktstr-vm checkout?)"
config=$(
  cd "$src"
  {
    find kernels -type f -print0 | sort -z | xargs -0 sha256sum
    echo "$builder"
  } | sha256sum | cut -c1-16
)
# shellcheck source=/dev/null
os=$(. /etc/os-release && echo "${ID:-linux}${VERSION_ID:-}")

echo "resolved=$resolved"
echo "cache=$cache"
if [[ $cache == true ]]; then
  # The example schedulers built with the kernel link the build host's
  # libraries: a key per distribution release and architecture.
  echo "key=ktstr-vm-kernel-$os-$(uname -m)-$identity-$variant-$config"
fi
echo "slug=$(tr -c 'A-Za-z0-9._+-' '-' <<<"$kernel" | cut -c1-80 | sed 's/-*$//')"
