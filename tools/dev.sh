#!/usr/bin/env bash
# The whole system on this machine: the emulator with the template's resources and demo data.
# Stops everything it started on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

EMULATOR_PORT="${EMULATOR_PORT:-4566}"
API_PORT="${API_PORT:-3000}"
MARKETPLACE_PORT="${MARKETPLACE_PORT:-4010}"
OIDC_PORT="${OIDC_PORT:-3001}"
SEED_APPLICATIONS="${SEED_APPLICATIONS:-3000}"
export EMULATOR_PORT API_PORT MARKETPLACE_PORT OIDC_PORT

for port in "$EMULATOR_PORT" "$API_PORT" "$MARKETPLACE_PORT" "$OIDC_PORT"; do
    if port_in_use "$port"; then
        echo "Something already listens on ${EMULATOR_HOST}:${port}: is another 'make dev' running?" >&2
        echo "Stop it (Ctrl-C in its terminal), or choose other ports (EMULATOR_PORT, API_PORT, MARKETPLACE_PORT, OIDC_PORT)." >&2
        exit 1
    fi
done

cargo build --quiet --locked -p devkit

mkdir -p .dev
start_emulator "$EMULATOR_PORT" .dev/emulator.log --iam
stop_all() {
    echo
    echo "Stopping..."
    if [ -n "${SERVE_PID:-}" ]; then
        kill "$SERVE_PID" 2>/dev/null || true
        wait "$SERVE_PID" 2>/dev/null || true
    fi
    stop_oidc
    stop_emulator
}
trap stop_all EXIT
trap 'exit 0' INT TERM
aws_env_for "$EMULATOR_PORT"

echo "Creating the resources of infra/template.yaml on the emulator:"
target/debug/devkit up .dev/resources.json aor-dev-
echo "Seeding demo data:"
target/debug/devkit seed .dev/resources.json .dev/seeded.json "$SEED_APPLICATIONS"
echo "Starting the local OpenID provider (the demo people may sign in):"
start_oidc "$OIDC_PORT" "http://${EMULATOR_HOST}:${API_PORT}" .dev .dev/seeded.json
echo "  issuer ${LOCAL_OIDC_ISSUER}"
echo "Publishing the page into the web bucket (as make deploy does):"
tools/page.sh

cat <<INFO

AOR at-risk reporting is running locally.
  AWS emulator (moto)   ${AWS_ENDPOINT_URL}   region ${AWS_REGION}, credentials test/test
                        everything it holds: ${AWS_ENDPOINT_URL}/moto-api/data.json
  resources             .dev/resources.json
  demo users            .dev/seeded.json  (agents 'agent-<agency>-1..3', admins 'admin-<agency>-0')
  OpenID provider       ${LOCAL_OIDC_ISSUER}  (log: .dev/oidc.log)
  emulator log          .dev/emulator.log
  metrics               .dev/metrics.log  (the EMF lines CloudWatch would take in; README "Operating it")

Open http://127.0.0.1:${API_PORT}/ in a browser and sign in (at the local OpenID provider) as a
demo person: agent 'agent-summit-1' (Summit Health Partners), admin 'admin-summit-0' (its admin).
After editing web/, publish it again: make page

Or use the API from another terminal:
  TOKEN=\$(tools/token.sh agent-summit-1)
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:${API_PORT}/v1/clients/<federal_exchange_id>/sync
  curl -s -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:${API_PORT}/v1/at-risk?limit=5
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" -H 'content-type: application/json' \\
       -d '{"scope":"agent"}' http://127.0.0.1:${API_PORT}/v1/exports
  curl -s http://127.0.0.1:${API_PORT}/dev/inbox          # the emails the system sent
  .venv/bin/python tools/publish_event.py events/platform/application-submitted.json
  make verify                                             # every list and total against the authoritative state

Press Ctrl-C to stop.
INFO
METRICS_LOG=.dev/metrics.log target/debug/devkit serve .dev/resources.json .dev/seeded.json &
SERVE_PID=$!
wait "$SERVE_PID"
