// Package stacktest gives integration tests their own topic on the real
// Kafka and their own database on the real ClickHouse that
// deploy/local/stack.sh starts, and removes them afterwards.
package stacktest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/kafkaadmin"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Brokers returns the Kafka brokers, failing the test when none answers.
// Integration tests are skipped with -short.
func Brokers(t testing.TB) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs Kafka and ClickHouse (make test starts them)")
	}
	brokers := strings.Split(env("FOOTFALL_KAFKA_BROKERS", "127.0.0.1:9092"), ",")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := kafkaadmin.Ping(ctx, brokers); err != nil {
		t.Fatalf("Kafka is not reachable (%v): start it with `deploy/local/stack.sh up` or run `make test`", err)
	}
	return brokers
}

// Name returns a name unique to this test run, usable as a topic, group or
// database name.
func Name(t testing.TB, prefix string) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return fmt.Sprintf("%s_%s_%d_%04x", prefix, clean, time.Now().Unix(), rand.Uint32()&0xffff)
}

// Topic creates a fresh topic with the given partitions, deleted when the
// test ends.
func Topic(t testing.TB, brokers []string, partitions int) string {
	t.Helper()
	topic := Name(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaadmin.EnsureTopic(ctx, brokers, topic, partitions, 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := kafkaadmin.DeleteTopic(ctx, brokers, topic); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return topic
}

// ClickHouse returns the config of a fresh database, dropped when the test
// ends, and a migrated Store on it.
func ClickHouse(t testing.TB) (chstore.Config, *chstore.Store) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs Kafka and ClickHouse (make test starts them)")
	}
	cfg := chstore.Config{
		Addr:     env("FOOTFALL_CLICKHOUSE_ADDR", "127.0.0.1:9000"),
		Database: Name(t, "test"),
		User:     "default",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := chstore.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("ClickHouse is not reachable (%v): start it with `deploy/local/stack.sh up` or run `make test`", err)
	}
	if err := chsql.Migrate(ctx, store.DB()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := store.DB().Driver().Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.Database); err != nil {
			t.Logf("cleanup: %v", err)
		}
		store.Close()
	})
	return cfg, store
}

// ReaderUser is the local stack's read-only ClickHouse user
// (deploy/local/clickhouse/users.xml: readonly = 1), as whom the dashboards
// read.
const ReaderUser = "footfall_reader"

// Reader opens store's database as the read-only user, closed when the
// test ends: what the dashboards' reports read through.
func Reader(t testing.TB, store *chstore.Store) *chsql.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := chsql.Config{
		Addr:     env("FOOTFALL_CLICKHOUSE_ADDR", "127.0.0.1:9000"),
		Database: store.DB().Database(),
		User:     env("FOOTFALL_CLICKHOUSE_READ_USER", ReaderUser),
		Password: os.Getenv("FOOTFALL_CLICKHOUSE_READ_PASSWORD"),
	}
	conn, err := chsql.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("ClickHouse as %s (%v): deploy/local/clickhouse/users.xml declares the user, and `deploy/local/stack.sh up` hands a running ClickHouse the file", cfg.User, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Count runs a query returning one UInt64.
func Count(t testing.TB, store *chstore.Store, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := store.DB().Driver().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// WaitCount polls query until it returns want, then checks it still does a
// moment later, so a count that overshoots is caught too.
func WaitCount(t testing.TB, store *chstore.Store, timeout time.Duration, want uint64, query string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got uint64
	for time.Now().Before(deadline) {
		if got = Count(t, store, query, args...); got >= want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != want {
		t.Fatalf("%s = %d after %v, want %d", query, got, timeout, want)
	}
	time.Sleep(1500 * time.Millisecond)
	if got = Count(t, store, query, args...); got != want {
		t.Fatalf("%s = %d a moment after reaching %d", query, got, want)
	}
}

// WaitAssigned waits until consumer group has the given number of members
// holding partitions, so that a test produces only once the group is set.
func WaitAssigned(t testing.TB, brokers []string, group string, members int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaadmin.WaitAssigned(ctx, brokers, group, members); err != nil {
		t.Fatal(err)
	}
}

// Hit is an event as a test writes it: site, type, visitor and any other
// fields, with props as key, value pairs.
type Hit struct {
	At      time.Time
	Fields  map[event.Field]string
	Revenue int64 // micros
	Props   []string
	// Ingest is the door the hit came in by, IngestBeacon (the snippet)
	// when zero. Its user id joins a person, and its consent counts, only
	// when that door proves them (event.ProofOf): IngestAPI, the shop's
	// backend, does; a browser only claims.
	Ingest event.Ingest
}

// Insert enriches hits and writes them through the processor's insert, so
// the materialized views see them as they see real traffic.
func Insert(t testing.TB, store *chstore.Store, hits ...Hit) {
	t.Helper()
	rows := Rows(hits...)
	if err := store.Insert(context.Background(), rows); err != nil {
		t.Fatalf("insert %d hits: %v", len(hits), err)
	}
}

// Rows are hits as the processor inserts them, enriched, with ids made in
// the order of hits (internal/event NewID), as a collector makes them when
// it receives them in that order: a test can insert them in another order
// or in several batches.
func Rows(hits ...Hit) []chstore.Row {
	en := enrich.New(10)
	rows := make([]chstore.Row, len(hits))
	for i, h := range hits {
		e := &rows[i].Event
		e.ID, e.TimeMs, e.Ingest = event.NewID(h.At.UnixMilli()), h.At.UnixMilli(), h.Ingest
		if e.Ingest == 0 {
			e.Ingest = event.IngestBeacon
		}
		e.F[event.UserAgent] = []byte("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0")
		for f, v := range h.Fields {
			e.F[f] = []byte(v)
		}
		e.Revenue = h.Revenue
		for j := 0; j+1 < len(h.Props); j += 2 {
			e.Props = append(e.Props, event.Prop{Key: []byte(h.Props[j]), Value: []byte(h.Props[j+1])})
		}
		en.Enrich(e, &rows[i].Enriched)
	}
	return rows
}

// Produce writes msgs to topic as a producer outside the programs would,
// waiting for all in-sync replicas. A broker may answer a new writer
// UnknownTopicOrPartition or LeaderNotAvailable for a while on a loaded
// machine (seen once in make test after the topic had taken a collector's
// events): those are tried again, for up to 30 s.
func Produce(t testing.TB, brokers []string, topic string, balancer kafka.Balancer, msgs ...kafka.Message) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: balancer, RequiredAcks: kafka.RequireAll}
		err := w.WriteMessages(context.Background(), msgs...)
		w.Close()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !notYet(err) {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		t.Logf("produce to %s: %v; trying again", topic, err)
		time.Sleep(500 * time.Millisecond)
	}
}

// notYet says whether a write failed only because the broker did not know
// the topic's partitions or their leader yet.
func notYet(err error) bool {
	var each kafka.WriteErrors
	if errors.As(err, &each) {
		for _, e := range each {
			if e != nil && !notYet(e) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, kafka.UnknownTopicOrPartition) || errors.Is(err, kafka.LeaderNotAvailable)
}
