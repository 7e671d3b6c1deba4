#!/usr/bin/env bash
# The API against its description: Schemathesis (pinned in .venv) runs every operation of
# docs/openapi.yaml and its links (ask for an export, read it, download it) against the whole local
# system, once as an agent and once as an agency admin, and fails on any answer the document does
# not describe, any server error, and any input the API takes that the document forbids.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

dir=target/schemathesis
start_local_system "$dir" st-
api="http://127.0.0.1:${API_PORT}"
token() { RUST_LOG=error target/debug/devkit token "$dir/resources.json" "$1"; }
AGENT_TOKEN="$(token agent-summit-1)"
ADMIN_TOKEN="$(token admin-summit-0)"

# Seeded ids for the paths: a client at risk in the agent's book (inside the admin's tree) and the
# admin's agency.

json_field() { .venv/bin/python -c 'import json, sys; print(eval("json.load(sys.stdin)" + sys.argv[1]))' "$1"; }
export ST_AGENCY_ID=summit
export ST_FEDERAL_EXCHANGE_ID="$(curl -sf -H "Authorization: Bearer $AGENT_TOKEN" "$api/v1/at-risk" | json_field '["items"][0]["federal_exchange_id"]')"
failed=0
for who in agent admin; do
    var="${who^^}_TOKEN"
    echo "schemathesis as the $who:"
    .venv/bin/schemathesis --config-file tools/schemathesis/schemathesis.toml run docs/openapi.yaml \
        --url "$api" -H "Authorization: Bearer ${!var}" --checks all \
        --report junit --report-dir "$dir/$who" >"$dir/$who.log" 2>&1 && run_failed=0 || run_failed=1
    grep -E '^ *[0-9]+ generated' "$dir/$who.log" || true
    if [ "$run_failed" -ne 0 ]; then
        failed=1
        sed -n '/FAILURES/,/SUMMARY/p' "$dir/$who.log"
    fi
done
exit "$failed"
