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

# start_emulator PORT LOGFILE: starts moto (tools/moto/serve.py) and waits until it answers.
start_emulator() {
    .venv/bin/python tools/moto/serve.py -H "$EMULATOR_HOST" -p "$1" >"$2" 2>&1 &
    EMULATOR_PID=$!
    for _ in $(seq 1 100); do
        if curl -sf "http://${EMULATOR_HOST}:$1/moto-api/data.json" >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
            echo "the emulator did not start; its log ($2) says:" >&2
            tail -20 "$2" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "the emulator did not answer on port $1 within 10 s" >&2
    return 1
}

stop_emulator() {
    if [ -n "${EMULATOR_PID:-}" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
        kill "$EMULATOR_PID" 2>/dev/null || true
        wait "$EMULATOR_PID" 2>/dev/null || true
    fi
}
