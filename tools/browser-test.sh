#!/usr/bin/env bash
# The browser tests: the whole local system (emulator, resources, a small seed, the local OpenID
# provider, the page published into its bucket, the dev server) on free ports, and the page driven
# in headless Chromium by Playwright (web/tests/), signing in through the provider's own page.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

# Debian's Chromium (a test tool's own browser download cannot work here) and playwright-core.
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
npm_install web

cargo build --quiet --locked -p devkit
mkdir -p target/browser-test
port="$(free_port)"
start_emulator "$port" target/browser-test/emulator.log --iam
aws_env_for "$port"
export API_PORT="$(free_port)" MARKETPLACE_PORT="$(free_port)" SCAN_INTERVAL_SECONDS=3600
SERVE_PID=""
cleanup() {
    if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
    stop_oidc
    stop_emulator
}
trap cleanup EXIT

target/debug/devkit up target/browser-test/resources.json "bt-" >/dev/null
target/debug/devkit seed target/browser-test/resources.json target/browser-test/seeded.json 400 >/dev/null
# Who may sign in: the demo people, and one the directory does not know (an account made before
# the platform sent its agent).
.venv/bin/python -c 'import json, sys; seeded = json.load(open(sys.argv[1]))
seeded["users"].append({"agent_id": "visitor-1", "agency_id": "summit", "role": "agent", "name": "Vera Visitor", "email": "visitor-1@summit.example.com", "npn": "0"})
json.dump({"users": seeded["users"]}, open(sys.argv[2], "w"))' target/browser-test/seeded.json target/browser-test/people.json
start_oidc "$(free_port)" "http://${EMULATOR_HOST}:${API_PORT}" target/browser-test target/browser-test/people.json
publish_page target/browser-test/resources.json "{\"issuer\": \"${LOCAL_OIDC_ISSUER}\", \"client_id\": \"${LOCAL_OIDC_CLIENT_ID}\", \"local\": true}" >/dev/null
target/debug/devkit serve target/browser-test/resources.json target/browser-test/seeded.json >target/browser-test/serve.log 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:${API_PORT}/" >/dev/null && break
    sleep 0.1
done

# The seed, then what the tests did as people: every list and total must still agree with the
# authoritative state.
target/debug/devkit verify target/browser-test/resources.json >target/browser-test/verify-seeded.log || {
    cat target/browser-test/verify-seeded.log
    exit 1
}
# The tests mint a token for a person (an expired one, say) as tools/token.sh does.
APP_URL="http://127.0.0.1:${API_PORT}" TOKEN_COMMAND="target/debug/devkit token target/browser-test/resources.json" \
    node --test web/tests/
target/debug/devkit verify target/browser-test/resources.json
