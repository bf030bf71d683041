#!/usr/bin/env bash
# Install whichever Debian packages CareCommons needs are missing. As root it runs apt-get; otherwise it
# prints the exact command and stops.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libpq-dev postgresql postgresql-contrib libjansson-dev libgsl-dev
      libmicrohttpd-dev libssl-dev openssl check libcurl4-openssl-dev curl python3 python3-jsonschema
      python3-yaml clang-format)
if [ "${CC_BENCH_DEPS:-0}" = 1 ]; then pkgs+=(wrk gnuplot-nox); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "CareCommons needs these Debian packages. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
