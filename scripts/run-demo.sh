#!/usr/bin/env bash
# The demo command: installs dependencies, builds, and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release mobiked mobikectl
exec scripts/demo.sh
