#!/usr/bin/env bash
# Starts or stops the collector, processor and dashboards built in bin/,
# against the local stack, with logs and pid files under .local/.
#
#   deploy/local/run.sh start | stop
#
# Every program takes flags with FOOTFALL_* environment fallbacks (see the
# README), so exporting e.g. FOOTFALL_LISTEN=127.0.0.1:9080 before `make up`
# moves the collector.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE="${FOOTFALL_STATE_DIR:-$ROOT/.local}"
LOGS="$STATE/logs"
COLLECTOR="${FOOTFALL_LISTEN:-127.0.0.1:8080}"
DASHBOARDS="${FOOTFALL_DASHBOARDS_LISTEN:-127.0.0.1:8090}"
# Each program's ops listener: /metrics, /healthz, /readyz.
COLLECTOR_OPS="${FOOTFALL_COLLECTOR_OPS_LISTEN:-127.0.0.1:9102}"
PROCESSOR_OPS="${FOOTFALL_PROCESSOR_OPS_LISTEN:-127.0.0.1:9101}"
DASHBOARDS_OPS="${FOOTFALL_DASHBOARDS_OPS_LISTEN:-127.0.0.1:9103}"

log() { printf 'run: %s\n' "$*" >&2; }

stop_one() {
  local pidfile="$STATE/$1.pid"
  [[ -f "$pidfile" ]] || return 0
  local pid
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for ((i = 0; i < 300; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$1 did not stop in 30 s; killing it"
      kill -9 "$pid"
    else
      log "stopped $1"
    fi
  fi
  rm -f "$pidfile"
}

start_one() { # name args...
  local name="$1"
  shift
  setsid "$ROOT/bin/$name" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
}

wait_http() { # name url seconds
  for ((i = 0; i < $3 * 10; i++)); do
    if curl -fsS -o /dev/null "$2" 2>/dev/null; then return 0; fi
    kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null || break
    sleep 0.1
  done
  log "$1 is not answering at $2; last log lines:"
  tail -n 20 "$LOGS/$1.log" >&2
  return 1
}

# make_demo_site makes the demo site that make demo sends to, through the
# dashboards' API, unless it is there: nothing takes hits before a site is
# made (README, Sites). Its server API keys are made by make demo.
make_demo_site() {
  local code out="$LOGS/demo-site.json"
  code="$(curl -s -o "$out" -w '%{http_code}' -H "Authorization: Bearer $FOOTFALL_API_TOKEN" \
    -d '{"id":"demo","name":"Demo shop","domains":["shop.example"],"time_zone":"Europe/Paris","currency":"EUR"}' \
    "http://$DASHBOARDS/api/v1/sites")" || true
  case "$code" in
    201) log "made the demo site (shop.example, Europe/Paris, EUR)" ;;
    409) ;;
    *) log "could not make the demo site (HTTP $code): $(cat "$out" 2>/dev/null)"; return 1 ;;
  esac
}

case "${1:-start}" in
  start)
    mkdir -p "$LOGS"
    for p in dashboards collector processor; do stop_one "$p"; done
    # The processor first: it creates the topic and the schema.
    "$ROOT/bin/processor" migrate >>"$LOGS/processor.log" 2>&1 || { tail -n 20 "$LOGS/processor.log" >&2; exit 1; }
    # Newsletter links are signed with one secret that the collector and
    # the dashboards share; made once, kept in .local/link-secret.
    if [[ -z "${FOOTFALL_LINK_SECRET:-}" ]]; then
      [[ -s "$STATE/link-secret" ]] || (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$STATE/link-secret")
      FOOTFALL_LINK_SECRET="$(cat "$STATE/link-secret")"
      export FOOTFALL_LINK_SECRET
    fi
    # The tombstones of erased people are keyed with a secret that the
    # processor and the dashboards share; made once, kept in
    # .local/erasure-secret.
    if [[ -z "${FOOTFALL_ERASURE_SECRET:-}" ]]; then
      [[ -s "$STATE/erasure-secret" ]] || (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$STATE/erasure-secret")
      FOOTFALL_ERASURE_SECRET="$(cat "$STATE/erasure-secret")"
      export FOOTFALL_ERASURE_SECRET
    fi
    export FOOTFALL_COLLECTOR_URL="${FOOTFALL_COLLECTOR_URL:-http://$COLLECTOR}"
    start_one processor
    start_one collector -wal-dir "${FOOTFALL_WAL_DIR:-$STATE/collector-wal}"
    # The scripts' API token (an admin's, every site) is made once and kept
    # in .local/api-token; the first admin user's password likewise in
    # .local/admin-password, printed the first time only.
    if [[ -z "${FOOTFALL_API_TOKEN:-}" ]]; then
      [[ -s "$STATE/api-token" ]] || (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$STATE/api-token")
      FOOTFALL_API_TOKEN="$(cat "$STATE/api-token")"
      export FOOTFALL_API_TOKEN
    fi
    NEW_ADMIN=""
    if [[ -z "${FOOTFALL_ADMIN_PASSWORD:-}" ]]; then
      if [[ ! -s "$STATE/admin-password" ]]; then
        (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$STATE/admin-password")
        NEW_ADMIN=1
      fi
      FOOTFALL_ADMIN_PASSWORD="$(cat "$STATE/admin-password")"
      export FOOTFALL_ADMIN_PASSWORD
    fi
    logsize=$(stat -c %s "$LOGS/dashboards.log" 2>/dev/null || echo 0)
    start_one dashboards
    wait_http collector "http://$COLLECTOR_OPS/readyz" 30
    wait_http processor "http://$PROCESSOR_OPS/readyz" 30
    wait_http dashboards "http://$DASHBOARDS_OPS/readyz" 30
    # A database that had an admin before this state directory (another
    # clone's make up on the same ClickHouse) keeps that admin's password:
    # the one in .local/admin-password is then not it.
    login="log in as ${FOOTFALL_ADMIN_USER:-admin}${NEW_ADMIN:+, password $FOOTFALL_ADMIN_PASSWORD}; kept in $STATE/admin-password"
    if tail -c +$((logsize + 1)) "$LOGS/dashboards.log" | grep "an admin user exists already" >/dev/null; then
      login="this ClickHouse database has an admin already: log in with its password, not the one in $STATE/admin-password"
    fi
    make_demo_site
    cat <<MSG

  collector   http://$COLLECTOR   (pixel /p.gif, beacon /e, server API /api/v1/events, snippet /t.js)
  dashboards  http://$DASHBOARDS/?site=demo   ($login)
  API token   in $STATE/api-token   (an admin's; send it as Authorization: Bearer)
  metrics     http://$COLLECTOR_OPS/metrics  http://$PROCESSOR_OPS/metrics  http://$DASHBOARDS_OPS/metrics
  logs        $LOGS/

  make demo   sends sample traffic; make down stops everything.
MSG
    ;;
  stop)
    for p in dashboards collector processor; do stop_one "$p"; done
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
