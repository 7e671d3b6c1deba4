#!/usr/bin/env bash
# make bench: builds native release binaries (the bench-native profile), starts a private
# emulator, and runs tools/bench, which prints the table of figures and targets and writes it to
# target/bench/results.md. Binary sizes are the arm64 ones of `make build` when it has run.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

# The functions apart from the bench, as Lambda builds them: the bench's store features (seeding,
# the tools feature) must not be linked into the binaries whose size and start it measures.
# shellcheck disable=SC2046 # one word per package flag
cargo build --locked --profile bench-native $(function_packages)
cargo build --locked --profile bench-native -p bench
# (The row writer also has a criterion bench with full statistics:
#  cargo bench -p export-builder --bench csv_rows. The table below measures the same writer.)

port="$(free_port)"
mkdir -p target/bench
start_emulator "$port" target/bench/emulator.log
trap stop_emulator EXIT
aws_env_for "$port"
FUNCTION_BINARIES="${FUNCTION_BINARIES[*]}" target/bench-native/bench "$@"
