#!/usr/bin/env bash
# Publishes web/ again into the running `make dev`'s web bucket (after editing the page), as
# `make deploy` publishes it to the stack's.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh
aws_env_for "${EMULATOR_PORT:-4566}"
oidc_env "${OIDC_PORT:-3001}" .dev
publish_page .dev/resources.json "{\"issuer\": \"${LOCAL_OIDC_ISSUER}\", \"client_id\": \"${LOCAL_OIDC_CLIENT_ID}\", \"local\": true}"
