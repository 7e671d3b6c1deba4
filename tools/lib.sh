# Shared by the tools/*.sh scripts: the functions, the local AWS emulator and its environment.
# Sourced, not run.

EMULATOR_HOST="${EMULATOR_HOST:-127.0.0.1}"

# The Lambda functions: the crates that build them, and the binaries (one per function).
FUNCTION_CRATES=(at-risk-query export-request export-builder sync-trigger event-ingest outbox-relay daily-digest)
FUNCTION_BINARIES=(at-risk-query export-request export-builder sync-trigger sync-scan event-ingest outbox-relay daily-digest)
# `-p crate` for each, for cargo.
function_packages() {
    printf -- '-p %s ' "${FUNCTION_CRATES[@]}"
}

# The standard AWS variables every process here reads; the functions know nothing else.
aws_env_for() {
    export AWS_ENDPOINT_URL="http://${EMULATOR_HOST}:$1"
    export AWS_REGION="${AWS_REGION:-us-east-1}"
    export AWS_DEFAULT_REGION="$AWS_REGION"
    export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
    export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
    # Bucket names are not host names on the emulator: address buckets by path.
    export S3_FORCE_PATH_STYLE=true
}

port_in_use() {
    (exec 3<>"/dev/tcp/${EMULATOR_HOST}/$1") 2>/dev/null
}

free_port() {
    .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for NAME PID URL LOGFILE: waits until the process PID answers at URL (10 s at most); when it
# died or never answered, says so with its log's end.
wait_for() {
    for _ in $(seq 1 100); do
        if curl -sf "$3" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$2" 2>/dev/null; then
            echo "the $1 did not start; its log ($4) says:" >&2
            tail -20 "$4" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "the $1 did not answer at $3 within 10 s" >&2
    return 1
}

# start_emulator PORT LOGFILE [--iam]: starts moto (tools/moto/serve.py) and waits until it
# answers. With --iam it enforces IAM as AWS does: the documented test/test keys may do anything,
# each function's principal only what its template policy allows (tools/moto/iam.py).
start_emulator() {
    .venv/bin/python tools/moto/serve.py -H "$EMULATOR_HOST" -p "$1" ${3:+"$3"} >"$2" 2>&1 &
    EMULATOR_PID=$!
    wait_for emulator "$EMULATOR_PID" "http://${EMULATOR_HOST}:$1/moto-api/data.json" "$2"
}

stop_emulator() {
    if [ -n "${EMULATOR_PID:-}" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
        kill "$EMULATOR_PID" 2>/dev/null || true
        wait "$EMULATOR_PID" 2>/dev/null || true
    fi
}

# npm_install DIR: DIR's node_modules from its package-lock.json (npm ci), once per lockfile.
npm_install() {
    local stamp
    stamp="$1/node_modules/.installed-$(sha1sum "$1/package-lock.json" | cut -c1-12)"
    [ -f "$stamp" ] && return 0
    (cd "$1" && npm ci --no-audit --no-fund --silent)
    touch "$stamp"
}

# oidc_env PORT STATE_DIR: where the local OpenID provider is, as the devkit and the tests read it.
oidc_env() {
    export LOCAL_OIDC_ISSUER="http://${EMULATOR_HOST}:$1"
    export LOCAL_OIDC_CLIENT_ID=aor-local
    export LOCAL_OIDC_KEY_FILE="$PWD/$2/oidc-key.json"
}

# start_oidc PORT PAGE_ORIGIN STATE_DIR [PEOPLE_FILE]: the local OpenID provider (tools/oidc), the
# stand-in for Cognito that the page signs in through; its log is STATE_DIR/oidc.log.
start_oidc() {
    npm_install tools/oidc
    oidc_env "$1" "$3"
    mkdir -p "$3"
    OIDC_HOST="$EMULATOR_HOST" OIDC_PORT="$1" OIDC_PAGE_ORIGIN="$2" OIDC_KEY_FILE="$LOCAL_OIDC_KEY_FILE" \
        OIDC_PEOPLE_FILE="${4:-}" OIDC_CLIENT_ID="$LOCAL_OIDC_CLIENT_ID" \
        node tools/oidc/provider.mjs >"$3/oidc.log" 2>&1 &
    OIDC_PID=$!
    wait_for "local OpenID provider" "$OIDC_PID" "${LOCAL_OIDC_ISSUER}/.well-known/openid-configuration" "$3/oidc.log"
}

stop_oidc() {
    if [ -n "${OIDC_PID:-}" ] && kill -0 "$OIDC_PID" 2>/dev/null; then
        kill "$OIDC_PID" 2>/dev/null || true
        wait "$OIDC_PID" 2>/dev/null || true
    fi
}

# publish_page RESOURCES_JSON CONFIG_JSON: the page's files and its /config.json into the local
# web bucket, by the script `make deploy` uses (tools/publish_web.py).
publish_page() {
    npm_install web
    .venv/bin/python tools/publish_web.py --resources "$1" --config "$2"
}

# start_local_system DIR PREFIX: the whole local system on free ports, as a person meets it: the
# emulator enforcing IAM, the resources (named PREFIX…), a small seed, the local OpenID provider
# (the demo people and one the directory does not know: an account made before the platform sent
# its agent), the page in its bucket and the dev server at http://127.0.0.1:$API_PORT. Its files
# and logs are in DIR; it stops when the calling script exits.
start_local_system() {
    local dir="$1"
    cargo build --quiet --locked -p devkit
    mkdir -p "$dir"
    local port
    port="$(free_port)"
    SERVE_PID=""
    trap stop_local_system EXIT
    start_emulator "$port" "$dir/emulator.log" --iam
    aws_env_for "$port"
    export API_PORT="$(free_port)" MARKETPLACE_PORT="$(free_port)" SCAN_INTERVAL_SECONDS=3600
    target/debug/devkit up "$dir/resources.json" "$2" >/dev/null
    target/debug/devkit seed "$dir/resources.json" "$dir/seeded.json" 400 >/dev/null
    .venv/bin/python -c 'import json, sys; seeded = json.load(open(sys.argv[1]))
seeded["users"].append({"agent_id": "visitor-1", "agency_id": "summit", "role": "agent", "name": "Vera Visitor", "email": "visitor-1@summit.example.com", "npn": "0"})
json.dump({"users": seeded["users"]}, open(sys.argv[2], "w"))' "$dir/seeded.json" "$dir/people.json"
    start_oidc "$(free_port)" "http://${EMULATOR_HOST}:${API_PORT}" "$dir" "$dir/people.json"
    publish_page "$dir/resources.json" "{\"issuer\": \"${LOCAL_OIDC_ISSUER}\", \"client_id\": \"${LOCAL_OIDC_CLIENT_ID}\", \"local\": true}" >/dev/null
    target/debug/devkit serve "$dir/resources.json" "$dir/seeded.json" >"$dir/serve.log" 2>&1 &
    SERVE_PID=$!
    wait_for "dev server" "$SERVE_PID" "http://127.0.0.1:${API_PORT}/" "$dir/serve.log"
}

stop_local_system() {
    if [ -n "${SERVE_PID:-}" ]; then kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
    stop_oidc
    stop_emulator
}
