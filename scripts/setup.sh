#!/usr/bin/env bash
# Idempotent set-up shared by `npm test`, `npm run demo` and `npm run bench`:
# Debian packages the later stages need, npm packages, and the TypeScript build.
# Quiet when everything is already present; loud (and failing) when an install fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: command or file that proves each one is installed.
declare -A need=(
  [clang]=/usr/bin/clang
  [llvm]=/usr/bin/llvm-objdump
  [libbpf-dev]=/usr/include/bpf/bpf_helpers.h
  [libbpf1]=/usr/lib/x86_64-linux-gnu/libbpf.so.1
  [bpftool]=/usr/sbin/bpftool
  [iptables]=/usr/sbin/iptables
  [nftables]=/usr/sbin/nft
  [iproute2]=/usr/sbin/ip
  [tcpdump]=/usr/bin/tcpdump
  [linux-libc-dev]=/usr/include/linux/bpf.h
  [ipset]=/usr/sbin/ipset
  [ethtool]=/usr/sbin/ethtool
  [python3]=/usr/bin/python3
)
missing=()
for pkg in "${!need[@]}"; do
  [ -e "${need[$pkg]}" ] || missing+=("$pkg")
done
# libbpf1 lives under the multiarch dir of the machine; accept any architecture.
if [[ " ${missing[*]} " == *" libbpf1 "* ]] && ls /usr/lib/*/libbpf.so.1 >/dev/null 2>&1; then
  missing=("${missing[@]/libbpf1}")
fi
if [ -n "${missing[*]// /}" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root or install them with apt-get" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends ${missing[*]} >/dev/null
fi

# npm packages: reinstall only when the lock file changed since the last install.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# TypeScript build: rebuild when any source is newer than the last build stamp.
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src grammar scripts bpf tsconfig.json package.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  npx tsc -p tsconfig.json
  touch "$stamp"
fi
