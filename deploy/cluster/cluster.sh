#!/usr/bin/env bash
# Starts and stops the cluster test's own servers, from empty data, on
# ports of their own (never the local stack's): one ZooKeeper (Kafka's own
# jars: QuorumPeerMain), 2 shards x 2 replicas of clickhouse-server 18.16
# and 3 combined KRaft Kafka nodes. Every process is started with setsid,
# its pid in $DIR/<node>.pid, and stopped by that pid only.
#
#   deploy/cluster/cluster.sh up | down | start NODE | stop NODE | wait NODE | status | env
#
# NODE: zk, ch1..ch4 (ch1, ch2 shard 1; ch3, ch4 shard 2), kafka1..kafka3.
# FOOTFALL_CLUSTER_DIR (.local/cluster) holds data, logs and pids;
# FOOTFALL_CLUSTER_PORT (19000) is the first of the ports used:
#   zk +100; ch<i> native +i, http +10+i, interserver +20+i;
#   kafka<i> broker +90+2i, controller +91+2i.
# The Kafka jars are those deploy/local/stack.sh fetched (make stack).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DIR="${FOOTFALL_CLUSTER_DIR:-$ROOT/.local/cluster}"
BASE="${FOOTFALL_CLUSTER_PORT:-19000}"
LIBS="${FOOTFALL_KAFKA_LIBS:-$ROOT/.local/kafka/libs}"
LOGS="$DIR/logs"
ZK_PORT=$((BASE + 100))
CH_NODES=(ch1 ch2 ch3 ch4)
KAFKA_NODES=(kafka1 kafka2 kafka3)

log() { printf 'cluster: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ch_port() { echo $((BASE + ${1#ch})); }
ch_http_port() { echo $((BASE + 10 + ${1#ch})); }
kafka_port() { echo $((BASE + 90 + 2 * ${1#kafka})); }
kafka_controller_port() { echo $((BASE + 91 + 2 * ${1#kafka})); }
running() { [[ -f "$DIR/$1.pid" ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

# zk_mode prints ZooKeeper's Mode: line (srvr): it answers ruok before it
# serves, and 18.16 crashes on ON CLUSTER DDL sent in that gap.
zk_mode() {
  local out
  out="$(exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && printf srvr >&3 && timeout 2 cat <&3)" 2>/dev/null || return 1
  grep '^Mode:' <<<"$out"
}

start_zk() {
  running zk && return
  mkdir -p "$DIR/zk/data" "$LOGS"
  cat >"$DIR/zk/zoo.cfg" <<CFG
tickTime=1000
dataDir=$DIR/zk/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=2000
maxSessionTimeout=30000
4lw.commands.whitelist=srvr,ruok
admin.enableServer=false
CFG
  setsid java -Xms64m -Xmx256m "-Dlog4j.configuration=file:$ROOT/deploy/local/kafka/log4j.properties" \
    -Dzookeeper.jmx.log4j.disable=true -cp "$LIBS/*" org.apache.zookeeper.server.quorum.QuorumPeerMain "$DIR/zk/zoo.cfg" \
    >"$LOGS/zk.out" 2>&1 </dev/null &
  echo $! >"$DIR/zk.pid"
}

start_ch() { # ch<i>
  local n="$1" i="${1#ch}"
  running "$n" && return
  local conf="$DIR/$n/conf" data="$DIR/$n/data"
  mkdir -p "$conf" "$data" "$LOGS"
  sed -e "s#@DATA@#$data#g" -e "s#@LOGS@#$LOGS#g" -e "s#@NAME@#$n#g" -e "s#@CONF@#$conf#g" \
    -e "s#@PORT@#$(ch_port "$n")#g" -e "s#@HTTP_PORT@#$(ch_http_port "$n")#g" -e "s#@INTER_PORT@#$((BASE + 20 + i))#g" \
    -e "s#@ZK_PORT@#$ZK_PORT#g" -e "s#@SHARD@#$(((i + 1) / 2))#g" -e "s#@REPLICA@#$n#g" \
    -e "s#@NODE1@#$(ch_port ch1)#g" -e "s#@NODE2@#$(ch_port ch2)#g" -e "s#@NODE3@#$(ch_port ch3)#g" -e "s#@NODE4@#$(ch_port ch4)#g" \
    "$HERE/clickhouse.xml" >"$conf/config.xml"
  cp "$HERE/users.xml" "$conf/users.xml"
  setsid clickhouse-server --config-file="$conf/config.xml" >"$LOGS/$n.out" 2>&1 </dev/null &
  echo $! >"$DIR/$n.pid"
}

kafka_voters() {
  local v=() n
  for n in "${KAFKA_NODES[@]}"; do v+=("${n#kafka}@127.0.0.1:$(kafka_controller_port "$n")"); done
  (IFS=,; echo "${v[*]}")
}

start_kafka() { # kafka<i>
  local n="$1" i="${1#kafka}"
  running "$n" && return
  local dir="$DIR/$n"
  mkdir -p "$dir/data" "$LOGS"
  # broker.session.timeout.ms 4000: a killed broker is fenced, and its
  # partitions led elsewhere, in about 4 s (the default 9 s stalled the
  # collectors for 25 s when the node was the controller).
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$(kafka_voters)
listeners=PLAINTEXT://127.0.0.1:$(kafka_port "$n"),CONTROLLER://127.0.0.1:$(kafka_controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(kafka_port "$n")
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=6
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
unclean.leader.election.enable=false
PROPS
  local java_opts=(-Xms128m -Xmx384m -XX:+UseG1GC "-Dlog4j.configuration=file:$ROOT/deploy/local/kafka/log4j.properties")
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    java -cp "$LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format -t "$(cat "$DIR/kafka.cluster-id")" \
      -c "$dir/server.properties" >"$LOGS/$n-format.log" 2>&1 || { cat "$LOGS/$n-format.log" >&2; return 1; }
  fi
  setsid java -cp "$LIBS/*" "${java_opts[@]}" kafka.Kafka "$dir/server.properties" >"$LOGS/$n.out" 2>&1 </dev/null &
  echo $! >"$DIR/$n.pid"
}

wait_node() { # node [seconds]
  local n="$1" secs="${2:-120}" i
  for ((i = 0; i < secs * 5; i++)); do
    case "$n" in
      zk) zk_mode >/dev/null && return 0 ;;
      # A node is ready when it reads ZooKeeper through system.zookeeper.
      ch*) clickhouse-client --port "$(ch_port "$n")" --query "SELECT count() FROM system.zookeeper WHERE path = '/'" >/dev/null 2>&1 && return 0 ;;
      kafka*) port_open "$(kafka_port "$n")" && return 0 ;;
    esac
    running "$n" || { log "$n exited; last log lines:"; tail -n 20 "$LOGS/$n.out" "$LOGS/$n.err.log" >&2 2>/dev/null; return 1; }
    sleep 0.2
  done
  log "$n not ready within $secs s"
  return 1
}

start_node() {
  case "$1" in
    zk) start_zk ;;
    ch[1-4]) start_ch "$1" ;;
    kafka[1-3]) start_kafka "$1" ;;
    *) log "no node $1"; return 2 ;;
  esac
}

stop_node() {
  local n="$1" pid i
  [[ -f "$DIR/$n.pid" ]] || return 0
  pid="$(cat "$DIR/$n.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/$n.pid"
}

case "${1:-}" in
  up)
    [[ -f "$LIBS/.complete" ]] || { log "no Kafka jars in $LIBS: run make stack first"; exit 1; }
    for n in zk "${CH_NODES[@]}" "${KAFKA_NODES[@]}"; do
      running "$n" && { log "$n already running (pid $(cat "$DIR/$n.pid")): run $0 down first"; exit 1; }
    done
    rm -rf "$DIR"
    mkdir -p "$LOGS"
    java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1 >"$DIR/kafka.cluster-id"
    start=$(date +%s%N)
    start_zk
    for n in "${KAFKA_NODES[@]}"; do start_kafka "$n"; done
    wait_node zk 60
    for n in "${CH_NODES[@]}"; do start_ch "$n"; done
    for n in "${CH_NODES[@]}" "${KAFKA_NODES[@]}"; do wait_node "$n" 120; done
    ms=$((($(date +%s%N) - start) / 1000000))
    log "up in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s: $("$0" env | tr '\n' ' ')"
    ;;
  down)
    for n in "${KAFKA_NODES[@]}" "${CH_NODES[@]}" zk; do stop_node "$n"; done
    ;;
  start)
    # A node that exits while starting is started again, at most twice, as
    # a service manager would (systemd's Restart=on-failure): ClickHouse
    # 18.16 has once exited on a restart after SIGKILL in CI, leaving no
    # reason we could read. Each attempt that failed says so and keeps its
    # logs (<node>.failed-<n>.*; err.log holds earlier runs' lines too);
    # the test counts the "restarted" lines and reports them.
    for attempt in 1 2 3; do
      start_node "$2" || exit $?
      wait_node "$2" "${3:-120}" && exit 0
      running "$2" && exit 1 # up but not ready in time: not a crash
      for f in out err.log; do
        [[ -f "$LOGS/$2.$f" ]] && { cp "$LOGS/$2.$f" "$LOGS/$2.failed-$attempt.$f" || true; }
      done
      [[ $attempt -lt 3 ]] && log "$2 restarted (attempt $((attempt + 1)) of 3)"
    done
    exit 1
    ;;
  stop)
    stop_node "$2"
    ;;
  wait)
    wait_node "$2" "${3:-120}"
    ;;
  status)
    for n in zk "${CH_NODES[@]}" "${KAFKA_NODES[@]}"; do
      running "$n" && echo "$n: up (pid $(cat "$DIR/$n.pid"))" || echo "$n: down"
    done
    ;;
  env)
    # What the test and the programs need, as NAME=value lines.
    ch=() kb=()
    for n in "${CH_NODES[@]}"; do ch+=("127.0.0.1:$(ch_port "$n")"); done
    for n in "${KAFKA_NODES[@]}"; do kb+=("127.0.0.1:$(kafka_port "$n")"); done
    echo "CLUSTER_DIR=$DIR"
    echo "CLICKHOUSE_ADDRS=$(IFS=,; echo "${ch[*]}")"
    echo "KAFKA_BROKERS=$(IFS=,; echo "${kb[*]}")"
    echo "ZOOKEEPER=127.0.0.1:$ZK_PORT"
    ;;
  *)
    echo "usage: $0 up|down|start NODE|stop NODE|wait NODE|status|env" >&2
    exit 2
    ;;
esac
