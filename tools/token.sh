#!/usr/bin/env bash
# tools/token.sh AGENT_ID [--expires-in SECONDS]: prints a token for a person of the directory,
# signed by the key the local OpenID provider publishes, which the local API accepts as it would
# one the provider issued at sign-in (default lifetime one hour; a negative one is already
# expired). Run it while `make dev` runs; it prints the token and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh
if [ $# -lt 1 ]; then
    echo "usage: tools/token.sh AGENT_ID [--expires-in SECONDS]" >&2
    exit 2
fi
aws_env_for "${EMULATOR_PORT:-4566}"
oidc_env "${OIDC_PORT:-3001}" .dev
[ -x target/debug/devkit ] || cargo build --quiet --locked -p devkit
RUST_LOG="${RUST_LOG:-error}" exec target/debug/devkit token .dev/resources.json "$@"
