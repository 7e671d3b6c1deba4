#!/usr/bin/env bash
# `make deploy` (after `make build`): the stack of infra/template.yaml with the AWS SAM CLI
# (installed on first use into .venv-sam), then the page and its /config.json into the stack's
# web bucket. The first run asks for every parameter (`sam deploy --guided`) and saves the answers
# in infra/samconfig.toml; later runs reuse them and apply only what changed: an empty change set
# is not an error, and the page's files go up (and the cache is invalidated) only where they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

if [ ! -x .venv-sam/bin/sam ]; then
    python3 -m venv .venv-sam
    .venv-sam/bin/pip install --quiet --disable-pip-version-check 'aws-sam-cli==1.170.0'
fi
export PATH="$PWD/.venv/bin:$PWD/.venv-sam/bin:$PATH"
# SAM builds Rust functions with cargo-lambda as a beta feature, which must be asked for.
export SAM_CLI_BETA_RUST_CARGO_LAMBDA=1

(
    cd infra
    sam build --template template.yaml
    if [ -f samconfig.toml ]; then
        sam deploy --no-fail-on-empty-changeset
    else
        sam deploy --guided
    fi
)

[ -f infra/samconfig.toml ] || {
    echo "infra/samconfig.toml was not saved: run 'make deploy' again and let it save the answers" >&2
    exit 1
}
read -r stack region < <(.venv/bin/python -c '
import tomllib
p = tomllib.load(open("infra/samconfig.toml", "rb"))["default"]["deploy"]["parameters"]
print(p["stack_name"], p.get("region", ""))')
npm_install web
echo "Publishing the page to stack ${stack}:"
.venv/bin/python tools/publish_web.py --stack "$stack" ${region:+--region "$region"}
aws_outputs() {
    .venv-sam/bin/python -c '
import sys, boto3
stack = boto3.client("cloudformation", region_name=sys.argv[2] or None).describe_stacks(StackName=sys.argv[1])["Stacks"][0]
for o in stack.get("Outputs", []):
    print(f"  {o[\"OutputKey\"]:<26} {o[\"OutputValue\"]}")' "$stack" "$region"
}
echo "The stack's outputs:"
aws_outputs
