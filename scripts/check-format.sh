#!/usr/bin/env bash
# The committed .clang-format holds for every C file (ctest "format"; `make format` fixes it).
# A missing clang-format fails the check: scripts/deps.sh installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format not found (scripts/deps.sh installs it)" >&2; exit 1; }
files=(service/*.[ch] consent/*.[ch] stats/*.[ch] tests/*/*.[ch] bench/*.[ch])
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: not formatted (run make format): ${bad[*]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
