# shellcheck shell=bash
# Starting and stopping the local stack: dynalite, the tables, and `cargo lambda watch` with
# the functions pointed at them. Sourced by infra/dev and infra/test. Every process started
# here is recorded and stopped by stop_stack (by PID, as its own process group).

STARTED_PGIDS=()

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS: until anything answers HTTP at URL.
wait_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until curl -s -o /dev/null --max-time 2 "$url"; do
    if [ $SECONDS -ge "$deadline" ]; then
      log "nothing answered at $url within $2 s"
      return 1
    fi
    sleep 0.2
  done
}

# start_dynalite PORT [DATA_DIR]: in memory unless DATA_DIR is given.
start_dynalite() {
  local port=$1 data=${2:-} args=(--host 127.0.0.1 --port "$1" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0)
  [ -n "$data" ] && args+=(--path "$data")
  setsid node "$DYNALITE_CLI" "${args[@]}" >"$LOG_DIR/dynalite.log" 2>&1 &
  STARTED_PGIDS+=($!)
  wait_http "http://127.0.0.1:$port/" 20
  log "dynalite on 127.0.0.1:$port (pid $!)"
}

# stack_env DYNAMODB_PORT WATCH_PORT: what the functions and tools read.
stack_env() {
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  export AWS_EC2_METADATA_DISABLED=true
  export DYNAMODB_ENDPOINT=http://127.0.0.1:$1
  export LAMBDA_ENDPOINT=http://127.0.0.1:$2
  export PORTICO_CONFIG_TABLE=${PORTICO_CONFIG_TABLE:-portico-config}
  export PORTICO_COUNTERS_TABLE=${PORTICO_COUNTERS_TABLE:-portico-counters}
  export PORTICO_CONFIG_TTL=${PORTICO_CONFIG_TTL:-2}
}

# The functions `cargo lambda watch` runs, each built as watch builds it (`cargo run --bin X`
# resolves features per package), so the first request does not wait for a compile.
FUNCTIONS=(front admin echo)

build_functions() {
  for f in "${FUNCTIONS[@]}"; do
    cargo build --quiet --bin "$f"
  done
  cargo build --quiet --bin portico-local
}

create_tables() {
  "$PORTICO_ROOT/target/debug/portico-local" create-tables >&2
}

# start_watch PORT [WATCH_ARGS...]: function URLs at /lambda-url/<fn>/, the Invoke API at
# /2015-03-31/... (tests pass --ignore-changes: a file written mid-run must not restart the
# functions under them).
start_watch() {
  local port=$1
  shift
  # setsid makes it a process group of its own, with the functions it spawns: stop_stack
  # ends the whole group. Run from the workspace root (the callers cd there).
  setsid cargo lambda watch --quiet "$@" -A 127.0.0.1 -P "$port" >"$LOG_DIR/watch.log" 2>&1 &
  STARTED_PGIDS+=($!)
  wait_http "http://127.0.0.1:$port/" 120
  # Start each function once, so tests and the first curl meet warm instances.
  curl -s -o /dev/null --max-time 300 "http://127.0.0.1:$port/lambda-url/admin/apis"
  curl -s -o /dev/null --max-time 300 "http://127.0.0.1:$port/lambda-url/front/"
  curl -s -o /dev/null --max-time 300 -X POST "http://127.0.0.1:$port/2015-03-31/functions/echo/invocations" \
    -d '{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET","path":"/"}}}'
  log "cargo lambda watch on 127.0.0.1:$port"
}

stop_stack() {
  local pgid
  for pgid in "${STARTED_PGIDS[@]}"; do
    kill -TERM -- "-$pgid" 2>/dev/null || true
  done
  for pgid in "${STARTED_PGIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 -- "-$pgid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  STARTED_PGIDS=()
}

# start_admin_server PORT: the admin API as plain HTTP (portico-local), for fuzzing.
start_admin_server() {
  setsid "$PORTICO_ROOT/target/debug/portico-local" admin-server "$1" >"$LOG_DIR/admin-server.log" 2>&1 &
  STARTED_PGIDS+=($!)
  wait_http "http://127.0.0.1:$1/openapi.json" 20
}

# run_schemathesis BASE_URL MODE MAX_EXAMPLES: the admin API against its OpenAPI document.
# No 5xx, and every status, content type and body as documented. Runs in a scratch
# directory: its example database must not land in the watched tree.
run_schemathesis() {
  local base=$1 mode=$2 examples=$3 dir rc=0
  dir=$(mktemp -d "${TMPDIR:-/tmp}/portico-st.XXXXXX")
  LAST_SCHEMATHESIS_LOG=$dir/out.log
  (cd "$dir" && exec schemathesis run "$PORTICO_ROOT/docs/admin-openapi.json" --url "$base" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --mode "$mode" --max-examples "$examples" --workers 1 --request-timeout 30 \
    --generation-database none --generation-codec utf-8 --no-color >"$dir/out.log" 2>&1) || rc=$?
  sed -n '/SUMMARY/,$p' "$dir/out.log" | grep -E 'Tested|generated|passed|failures|Failures|ST[0-9]+|Errors|error' >&2 || true
  if [ $rc -ne 0 ]; then
    log "schemathesis ($mode) found problems; the full report:"
    cat "$dir/out.log" >&2
  fi
  return $rc
}

# check_quick_start: the README's first command, on free ports and a scratch data directory:
# it prints "ready", the example API answers, and SIGTERM stops everything it started.
check_quick_start() {
  local dir port dynamo_port url pid deadline
  dir=$(mktemp -d "${TMPDIR:-/tmp}/portico-dev.XXXXXX")
  port=$(free_port)
  dynamo_port=$(free_port)
  PORTICO_PORT=$port PORTICO_DYNAMODB_PORT=$dynamo_port PORTICO_DATA_DIR=$dir/data PORTICO_LOG_DIR=$dir/logs \
    setsid "$PORTICO_ROOT/infra/dev" >"$dir/dev.out" 2>&1 &
  pid=$!
  STARTED_PGIDS+=($pid)
  deadline=$((SECONDS + 300))
  until grep -q '^ready' "$dir/dev.out"; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$pid" 2>/dev/null; then
      log "infra/dev did not get ready:"; cat "$dir/dev.out" >&2; return 1
    fi
    sleep 0.5
  done
  url=$(grep -o "http://127.0.0.1:$port/lambda-url/front/[a-z0-9]*/dev/pets" "$dir/dev.out" | head -1)
  if ! curl -sf "$url" | grep -q '"type":"dog"'; then
    log "the example API did not answer at $url"; return 1
  fi
  log "infra/dev: ready, and $url answers"
  kill -TERM "$pid"
  deadline=$((SECONDS + 20))
  while kill -0 -- "-$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then log "infra/dev did not stop on SIGTERM"; return 1; fi
    sleep 0.2
  done
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" || curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$dynamo_port/"; then
    log "infra/dev left a server running after SIGTERM"; return 1
  fi
  log "infra/dev: stopped everything it started"
}
