// Package chaos is the fault-injection suite with a ledger: on the real
// Kafka and ClickHouse it sends hits at a bounded rate through a collector
// and processors it starts itself, injects one kind of fault at a time
// (collector SIGKILL, processor SIGKILL, its own Kafka broker stopped with
// SIGTERM or SIGKILL, ClickHouse cut at a TCP proxy, the collector
// restarted while Kafka is away), and then counts, hit by hit, what was
// sent, acknowledged, refused and stored, and whether anything was stored
// twice, in the raw events or in a rollup.
//
// It never touches the shared stack's processes: the broker it stops is
// its own (deploy/local/stack.sh kafka, on free ports, with its own data
// directory), ClickHouse is "stopped" by cutting the proxy between the
// processor and it, and every process it ends is one it started, by pid.
package chaos
