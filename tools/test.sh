#!/usr/bin/env bash
# Runs every test: the emulator's own tests, unit tests, and integration tests against a private
# emulator on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

# The API description must be a valid OpenAPI 3.1 document (its responses are checked against
# real ones by the integration tests).
.venv/bin/openapi-spec-validator docs/openapi.yaml

# The emulator's own speed-ups (tools/moto/serve.py) must answer exactly as moto does.
if ! emulator_tests="$(cd tools/moto && ../../.venv/bin/python -m unittest test_sorted_reads 2>&1)"; then
    echo "$emulator_tests"
    exit 1
fi
emulator_passed="$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' <<<"$emulator_tests")"
echo "emulator tests (tools/moto): ${emulator_passed} passed"

port="$(free_port)"
mkdir -p target
start_emulator "$port" target/emulator-test.log
trap stop_emulator EXIT
aws_env_for "$port"

# The property tests of the parsers of outside input run a few thousand cases each here (`make
# fuzz` runs 100,000).
export PROPTEST_CASES="${PROPTEST_CASES:-2000}"
# Panics in tests print where, not a 30-frame backtrace.
export RUST_BACKTRACE="${RUST_BACKTRACE_TESTS:-0}"
set +e
cargo test --workspace --locked "$@" 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e

# One closing line for the whole run: cargo prints one per test binary, the last often empty.
awk -v p="$emulator_passed" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' target/test-output.log
exit "$status"
