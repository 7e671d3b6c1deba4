#!/usr/bin/env bash
# The whole system on this machine: the emulator with the template's resources and demo data.
# Stops everything it started on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

EMULATOR_PORT="${EMULATOR_PORT:-4566}"
SEED_APPLICATIONS="${SEED_APPLICATIONS:-3000}"

if port_in_use "$EMULATOR_PORT"; then
    echo "Something already listens on ${EMULATOR_HOST}:${EMULATOR_PORT}: is another 'make dev' running?" >&2
    echo "Stop it (Ctrl-C in its terminal), or choose another port with EMULATOR_PORT=..." >&2
    exit 1
fi

cargo build --quiet --locked -p devkit

mkdir -p .dev
start_emulator "$EMULATOR_PORT" .dev/emulator.log
trap 'echo; echo "Stopping..."; stop_emulator' EXIT
trap 'exit 130' INT TERM
aws_env_for "$EMULATOR_PORT"

echo "Creating the resources of infra/template.yaml on the emulator:"
target/debug/devkit up .dev/resources.json aor-dev-
echo "Seeding demo data:"
target/debug/devkit seed .dev/resources.json .dev/seeded.json "$SEED_APPLICATIONS"

cat <<INFO

AOR at-risk reporting is running locally.
  AWS emulator (moto)   ${AWS_ENDPOINT_URL}   region ${AWS_REGION}, credentials test/test
                        everything it holds: ${AWS_ENDPOINT_URL}/moto-api/data.json
  resources             .dev/resources.json
  demo users            .dev/seeded.json  (e.g. agent 'agent-summit-1', admin 'admin-summit-0')
  emulator log          .dev/emulator.log

Press Ctrl-C to stop.
INFO
wait "$EMULATOR_PID"
