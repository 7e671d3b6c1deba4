#!/usr/bin/env bash
# The deployment template's checks: cfn-lint (with the SAM transform) and checkov. Every check
# checkov skips is listed in infra/.checkov.yaml with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/cfn-lint infra/template.yaml
echo "cfn-lint: no findings"

if [ ! -x .venv-checks/bin/checkov ]; then
    python3 -m venv .venv-checks
    .venv-checks/bin/pip install --quiet --disable-pip-version-check 'checkov==3.3.30'
fi
.venv-checks/bin/checkov --config-file infra/.checkov.yaml --quiet --compact
