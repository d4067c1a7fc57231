#!/usr/bin/env bash
# Installs, starts and stops the local Kafka (one KRaft node from Maven
# Central jars) and ClickHouse (Debian's clickhouse-server), with all state
# under .local/ in the repository. Safe to run again: what is running stays,
# what was fetched is reused.
#
#   deploy/local/stack.sh up | down | status | tools | chdb | kafka
#
# Ports: FOOTFALL_KAFKA_PORT (9092), FOOTFALL_KAFKA_CONTROLLER_PORT (9093),
# FOOTFALL_CLICKHOUSE_PORT (9000), FOOTFALL_CLICKHOUSE_HTTP_PORT (8123).
# `kafka` starts a broker alone (no ClickHouse): the fault suite
# (tests/chaos) starts its own on other ports with its own FOOTFALL_STATE_DIR,
# reusing the jars already fetched (FOOTFALL_KAFKA_LIBS), and stops it by
# the pid in $FOOTFALL_STATE_DIR/kafka.pid.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
STATE="${FOOTFALL_STATE_DIR:-$ROOT/.local}"
KAFKA_PORT="${FOOTFALL_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${FOOTFALL_KAFKA_CONTROLLER_PORT:-9093}"
CH_PORT="${FOOTFALL_CLICKHOUSE_PORT:-9000}"
CH_HTTP_PORT="${FOOTFALL_CLICKHOUSE_HTTP_PORT:-8123}"
LOGS="$STATE/logs"
KAFKA_LIBS="${FOOTFALL_KAFKA_LIBS:-$STATE/kafka/libs}"

log() { printf 'stack: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # name port seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    port_open "$2" && return 0
    sleep 0.1
  done
  log "$1 did not open port $2 within $3 s; last log lines:"
  tail -n 30 "$LOGS/$1.out" >&2 || true
  return 1
}

apt_install() { # package...
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q "$@" >"$LOGS/apt.log" 2>&1; then
    apt-get update -q >>"$LOGS/apt.log" 2>&1
    apt-get install -y -q "$@" >>"$LOGS/apt.log" 2>&1 || { tail -n 20 "$LOGS/apt.log" >&2; return 1; }
  fi
}

install() {
  mkdir -p "$LOGS"
  local need=()
  command -v clickhouse-server >/dev/null || need+=(clickhouse-server clickhouse-client)
  command -v java >/dev/null || need+=(default-jre-headless)
  command -v mvn >/dev/null || need+=(maven)
  command -v curl >/dev/null || need+=(curl)
  if ((${#need[@]})); then
    log "installing ${need[*]} from Debian"
    apt_install "${need[@]}"
  fi
  local libs="$KAFKA_LIBS"
  if [[ ! -f "$libs/.complete" ]]; then
    log "fetching the Kafka broker jars from Maven Central"
    mkdir -p "$libs"
    mvn -q -B -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$libs" >"$LOGS/mvn.log" 2>&1 || { tail -n 30 "$LOGS/mvn.log" >&2; return 1; }
    touch "$libs/.complete"
  fi
}

# users.xml changes reach a running ClickHouse too: the server rereads
# the file within seconds, so a stack started before a user was added
# (footfall_reader, which the dashboards read as) gets it without a restart.
sync_users() {
  local conf="$STATE/clickhouse/conf"
  [[ -d "$conf" ]] || return 0
  cmp -s "$HERE/clickhouse/users.xml" "$conf/users.xml" && return 0
  cp "$HERE/clickhouse/users.xml" "$conf/users.xml"
  log "clickhouse users.xml updated; waiting for the server to reread it"
  for ((i = 0; i < 100; i++)); do
    clickhouse-client --port "$CH_PORT" --user footfall_reader --query "SELECT 1" >/dev/null 2>&1 && return
    sleep 0.1
  done
  log "clickhouse has not taken the new users.xml; restart it: $0 down && $0 up"
  return 1
}

start_clickhouse() {
  if port_open "$CH_PORT"; then
    log "clickhouse already listening on $CH_PORT"
    sync_users
    return
  fi
  local conf="$STATE/clickhouse/conf" data="$STATE/clickhouse/data"
  mkdir -p "$conf" "$data"
  sed -e "s#@DATA@#$data#g" -e "s#@LOGS@#$LOGS#g" -e "s#@PORT@#$CH_PORT#g" -e "s#@HTTP_PORT@#$CH_HTTP_PORT#g" -e "s#@CONF@#$conf#g" \
    "$HERE/clickhouse/config.xml" >"$conf/config.xml"
  cp "$HERE/clickhouse/users.xml" "$conf/users.xml"
  log "starting clickhouse on 127.0.0.1:$CH_PORT"
  # The pid comes from $!: this clickhouse-server does not write --pid-file.
  setsid clickhouse-server --config-file="$conf/config.xml" \
    >"$LOGS/clickhouse.out" 2>&1 </dev/null &
  echo $! >"$STATE/clickhouse.pid"
  wait_port clickhouse "$CH_PORT" 60
  for ((i = 0; i < 100; i++)); do
    clickhouse-client --port "$CH_PORT" --query "SELECT 1" >/dev/null 2>&1 && return
    sleep 0.1
  done
  log "clickhouse listens but does not answer queries"
  return 1
}

start_kafka() {
  if port_open "$KAFKA_PORT"; then
    log "kafka already listening on $KAFKA_PORT"
    return
  fi
  local dir="$STATE/kafka" cp="$KAFKA_LIBS/*"
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=6
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
log.retention.hours=168
PROPS
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC "-Dlog4j.configuration=file:$HERE/kafka/log4j.properties")
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    local id
    id="$(java -cp "$cp" "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    java -cp "$cp" "${java_opts[@]}" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" \
      >"$LOGS/kafka-format.log" 2>&1 || { cat "$LOGS/kafka-format.log" >&2; return 1; }
  fi
  log "starting kafka on 127.0.0.1:$KAFKA_PORT"
  setsid java -cp "$cp" "${java_opts[@]}" kafka.Kafka "$dir/server.properties" \
    >"$LOGS/kafka.out" 2>&1 </dev/null &
  echo $! >"$STATE/kafka.pid"
  wait_port kafka "$KAFKA_PORT" 90
}

# CHDB_VERSION pins chDB: 4.4.0 is ClickHouse 26.9's engine.
CHDB_VERSION="${FOOTFALL_CHDB_VERSION:-4.4.0}"

install_chdb() {
  mkdir -p "$LOGS"
  local venv="$STATE/chdb-venv"
  if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import chdb, sys; sys.exit(chdb.__version__ != '$CHDB_VERSION')" 2>/dev/null; then
    return
  fi
  command -v python3 >/dev/null || apt_install python3 python3-venv
  if ! python3 -m venv --clear "$venv" >"$LOGS/chdb.log" 2>&1; then
    apt_install python3-venv && python3 -m venv --clear "$venv" >>"$LOGS/chdb.log" 2>&1 || { tail -n 20 "$LOGS/chdb.log" >&2; return 1; }
  fi
  log "installing chdb==$CHDB_VERSION (ClickHouse's current engine) into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "chdb==$CHDB_VERSION" >>"$LOGS/chdb.log" 2>&1 || { tail -n 20 "$LOGS/chdb.log" >&2; return 1; }
}

stop_pid() { # name pidfile
  local pidfile="$2"
  [[ -f "$pidfile" ]] || return 0
  local pid
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $1 (pid $pid)"
    kill "$pid"
    for ((i = 0; i < 300; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pidfile"
}

case "${1:-up}" in
  up)
    install
    start_clickhouse
    start_kafka
    log "ready: kafka 127.0.0.1:$KAFKA_PORT, clickhouse 127.0.0.1:$CH_PORT (native)"
    ;;
  down)
    stop_pid kafka "$STATE/kafka.pid"
    stop_pid clickhouse "$STATE/clickhouse.pid"
    ;;
  tools)
    # Debian's Chromium for the snippet's real-browser tests, wrk for bench.
    mkdir -p "$LOGS"
    need=()
    command -v chromium >/dev/null || need+=(chromium)
    command -v wrk >/dev/null || need+=(wrk)
    if ((${#need[@]})); then
      log "installing ${need[*]} from Debian"
      apt_install "${need[@]}"
    fi
    ;;
  kafka)
    install
    start_kafka
    ;;
  chdb)
    # Current ClickHouse's engine in process (chDB), for the check that
    # every statement answers alike on 18.16 and on current ClickHouse.
    install_chdb
    ;;
  status)
    port_open "$KAFKA_PORT" && echo "kafka: up on $KAFKA_PORT" || echo "kafka: down"
    port_open "$CH_PORT" && echo "clickhouse: up on $CH_PORT" || echo "clickhouse: down"
    ;;
  *)
    echo "usage: $0 up|down|status|tools|chdb|kafka" >&2
    exit 2
    ;;
esac
