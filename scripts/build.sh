#!/usr/bin/env bash
# Configures and builds one CMake preset (default: release) with Ninja.
#   scripts/build.sh [release|debug-asan|fuzz] [ninja targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
shift || true
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -- -j"$(nproc)" "$@"
