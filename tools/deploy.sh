#!/usr/bin/env bash
# Deploys infra/template.yaml with the AWS SAM CLI (installed on first use into .venv-sam).
# The first run asks for every parameter (`sam deploy --guided`) and saves the answers in
# infra/samconfig.toml; later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-sam/bin/sam ]; then
    python3 -m venv .venv-sam
    .venv-sam/bin/pip install --quiet --disable-pip-version-check 'aws-sam-cli==1.170.0'
fi
export PATH="$PWD/.venv/bin:$PWD/.venv-sam/bin:$PATH"
cd infra
sam build --template template.yaml
if [ -f samconfig.toml ]; then
    sam deploy
else
    sam deploy --guided
fi
