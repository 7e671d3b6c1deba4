#!/usr/bin/env bash
# The consistency checker against a running `make dev`: recomputes every list and total from the
# authoritative state and prints each difference; exits non-zero when there is any.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

EMULATOR_PORT="${EMULATOR_PORT:-4566}"
RESOURCES="${1:-.dev/resources.json}"
if ! port_in_use "$EMULATOR_PORT"; then
    echo "Nothing listens on ${EMULATOR_HOST}:${EMULATOR_PORT}: start 'make dev' first (or set EMULATOR_PORT)." >&2
    exit 1
fi
cargo build --quiet --locked -p devkit
aws_env_for "$EMULATOR_PORT"
target/debug/devkit verify "$RESOURCES"
