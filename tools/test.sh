#!/usr/bin/env bash
# Runs every test: the emulator's own tests, the page's publishing, unit tests, and integration
# tests against a private emulator and a private local OpenID provider on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

# The API description must be a valid OpenAPI 3.1 document (its responses are checked against
# real ones by the integration tests).
.venv/bin/openapi-spec-validator docs/openapi.yaml

# The emulator's own speed-ups (tools/moto/serve.py) must answer exactly as moto does, and its IAM
# decide as AWS does (tools/moto/iam.py).
# (They run moto in-process: an AWS_ENDPOINT_URL left in the environment would send them elsewhere.)
if ! emulator_tests="$(cd tools/moto && env -u AWS_ENDPOINT_URL ../../.venv/bin/python -m unittest test_sorted_reads test_iam test_transaction_hold 2>&1)"; then
    echo "$emulator_tests"
    exit 1
fi
emulator_passed="$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' <<<"$emulator_tests")"
echo "emulator tests (tools/moto): ${emulator_passed} passed"

# What `make deploy` uploads of the page, and that a second run uploads nothing.
if ! publish_tests="$(cd tools && ../.venv/bin/python -m unittest publish_web_test 2>&1)"; then
    echo "$publish_tests"
    exit 1
fi
publish_passed="$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' <<<"$publish_tests")"
echo "page publishing tests (tools/publish_web_test.py): ${publish_passed} passed"

port="$(free_port)"
mkdir -p target
trap 'stop_oidc; stop_emulator' EXIT
start_emulator "$port" target/emulator-test.log --iam
# Tokens are signed by the local OpenID provider's key and checked against its published keys.
start_oidc "$(free_port)" "http://127.0.0.1:1" target/test-oidc
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

# The API against its description, as an agent and as an admin (tools/schemathesis.sh, its own
# local system on other ports); only in a whole run, not when the arguments pick tests.
if [ "$status" -eq 0 ] && [ $# -eq 0 ]; then
    tools/schemathesis.sh || status=$?
fi

# One closing line for the whole run: cargo prints one per test binary, the last often empty.
awk -v p="$((emulator_passed + publish_passed))" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' target/test-output.log
exit "$status"
