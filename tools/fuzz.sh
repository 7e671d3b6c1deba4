#!/usr/bin/env bash
# make fuzz: every property test of a parser of outside input (the `fuzz` modules next to each
# parser), FUZZ_CASES cases each (default 100,000). `make test` runs the same properties with a
# few thousand cases. A failure proptest finds is kept under the crate's `proptest-regressions/`
# and replayed first from then on: commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."

cases="${FUZZ_CASES:-100000}"
set +e
mkdir -p target
PROPTEST_CASES="$cases" cargo test --workspace --lib --locked -- fuzz:: 2>&1 | tee target/fuzz-output.log
status=${PIPESTATUS[0]}
set -e
properties="$(grep -c '^test .*fuzz::.* ok$' target/fuzz-output.log || true)"
failed="$(grep -c '^test .*fuzz::.* FAILED$' target/fuzz-output.log || true)"
echo "fuzz: ${properties} properties passed ${cases} cases each; ${failed} failed"
exit "$status"
