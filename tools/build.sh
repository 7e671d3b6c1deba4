#!/usr/bin/env bash
# Builds every Lambda function's `bootstrap` for arm64 (Graviton), with cargo-lambda and Zig as
# the cross-linker, both pinned from PyPI in the project's .venv:
#   target/lambda/<binary>/bootstrap
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh
export PATH="$PWD/.venv/bin:$PATH"

rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' || rustup target add aarch64-unknown-linux-gnu
# shellcheck disable=SC2046 # one word per package flag
cargo lambda build --release --arm64 --locked $(function_packages)

for binary in "${FUNCTION_BINARIES[@]}"; do
    file="target/lambda/${binary}/bootstrap"
    [ -f "$file" ] || { echo "missing $file" >&2; exit 1; }
    # A Lambda on arm64 runs only an aarch64 ELF.
    head -c 20 "$file" | od -An -tx1 | tr -d ' \n' | grep -q '^7f454c46.*b700' || { echo "$file is not an aarch64 ELF" >&2; exit 1; }
    printf '  %-16s %6s KB\n' "$binary" "$(( $(stat -c %s "$file") / 1024 ))"
done
