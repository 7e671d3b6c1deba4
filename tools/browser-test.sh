#!/usr/bin/env bash
# The browser tests: the whole local system (tools/lib.sh start_local_system) on free ports, and the
# page driven in headless Chromium by Playwright (web/tests/), signing in through the provider's own
# page.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/lib.sh

# Debian's Chromium (a test tool's own browser download cannot work here) and playwright-core.
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
npm_install web

# Open enrollment all year (but January 1): the page meets the coming plan year beside the current
# one whatever the day the tests run (shared/domain/src/plan_years.rs).
export OPEN_ENROLLMENT_OPENS=01-02 OPEN_ENROLLMENT_CLOSES=01-01

start_local_system target/browser-test bt-

# The seed, then what the tests did as people: every list and total must still agree with the
# authoritative state.
target/debug/devkit verify target/browser-test/resources.json >target/browser-test/verify-seeded.log || {
    cat target/browser-test/verify-seeded.log
    exit 1
}
# The tests mint a token for a person (an expired one, say) as tools/token.sh does. The runner
# ends once the last test is done even if a connection is still open (an HTTP keep-alive, a body
# left unread): the tests are over, and CI must not wait on a socket.
APP_URL="http://127.0.0.1:${API_PORT}" TOKEN_COMMAND="target/debug/devkit token target/browser-test/resources.json" \
    RESOURCES_FILE=target/browser-test/resources.json SEEDED_FILE=target/browser-test/seeded.json \
    node --test --test-force-exit web/tests/
target/debug/devkit verify target/browser-test/resources.json
