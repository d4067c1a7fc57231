package consume

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

func TestSeenIDs(t *testing.T) {
	t0 := time.Now().UnixMilli()
	s := newSeenIDs(3, t0)
	ids := make([][16]byte, 5)
	for i := range ids {
		ids[i] = event.NewID(t0 - 60_000 + int64(i))
	}
	for i := range 3 {
		if s.add(ids[i], t0+int64(i)) {
			t.Fatalf("id %d remembered before it was added", i)
		}
	}
	if !s.add(ids[1], t0+10) || s.since != t0 {
		t.Fatalf("a copy within the memory is not remembered (since %d)", s.since-t0)
	}
	s.add(ids[3], t0+11) // pushes ids[0] out
	if s.since != t0+1 {
		t.Errorf("memory starts at +%d ms, want +1 (when ids[1] was read)", s.since-t0)
	}
	if s.add(ids[0], t0+12) {
		t.Errorf("a forgotten id still remembered")
	}
	// Ids made before the memory starts (plus the clock skew) are looked
	// up; ids made later are new if not remembered.
	if !s.unsure(ids[4]) {
		t.Errorf("an id made before the memory started is not looked up")
	}
	if s.unsure(event.NewID(s.since + clockSkew.Milliseconds() + 1)) {
		t.Errorf("an id made after the memory started is looked up")
	}
	if !s.unsure([16]byte{6: 0x40}) {
		t.Errorf("a UUIDv4 is not looked up")
	}
	s.reset(t0 + 100_000)
	if s.add(ids[3], t0+100_001) || !s.unsure(ids[3]) {
		t.Errorf("reset kept the memory")
	}
}

// copyOf is one pageview of site, made once: every call with the same i
// returns the same bytes, as a retried or replayed record carries.
type copies struct {
	site string
	enc  [][]byte
}

func newCopies(site string, n int) *copies { return newCopiesAt(site, n, time.Now()) }

// newCopiesAt makes the events as a collector whose clock reads now.
func newCopiesAt(site string, n int, now time.Time) *copies {
	c := &copies{site: site}
	for i := range n {
		at := now.Add(time.Duration(i-n) * time.Millisecond)
		e := event.Event{ID: event.NewID(at.UnixMilli()), TimeMs: at.UnixMilli(), Ingest: event.IngestBeacon}
		e.F[event.Site] = []byte(site)
		e.F[event.Type] = []byte("pageview")
		e.F[event.VisitorID] = []byte(visitor(i))
		e.F[event.SessionID] = []byte("s-" + visitor(i))
		e.F[event.URL] = []byte(fmt.Sprintf("https://shop.example/p/%d", i))
		e.F[event.UserAgent] = []byte(ua)
		c.enc = append(c.enc, event.Append(nil, &e))
	}
	return c
}

func visitor(i int) string { return fmt.Sprintf("v%d", i%37) }

// records are events from..to as records of one event each, or packed
// perPack to a record as the collector packs a batch (grouped by
// partition: the key of an event's visitor decides it).
func (c *copies) records(from, to, perPack int) []kafka.Message {
	var msgs []kafka.Message
	if perPack <= 1 {
		for i := from; i < to; i++ {
			msgs = append(msgs, kafka.Message{Key: []byte(visitor(i)), Value: c.enc[i]})
		}
		return msgs
	}
	// One pack per visitor's events in the range, at most perPack each.
	byVisitor := map[string][]int{}
	var order []string
	for i := from; i < to; i++ {
		v := visitor(i)
		if byVisitor[v] == nil {
			order = append(order, v)
		}
		byVisitor[v] = append(byVisitor[v], i)
	}
	for _, v := range order {
		idx := byVisitor[v]
		for k := 0; k < len(idx); k += perPack {
			pack := event.StartPack(nil)
			for _, i := range idx[k:min(k+perPack, len(idx))] {
				pack = event.AppendPacked(pack, c.enc[i])
			}
			msgs = append(msgs, kafka.Message{Key: []byte(v), Value: pack})
		}
	}
	return msgs
}

// rollups are the counts that must all equal the events stored once: raw
// rows, distinct ids, and the page views (or events) of each rollup the
// materialized views keep.
var rollups = []string{
	"SELECT count() FROM events WHERE site_id = ?",
	"SELECT uniqExact(event_id) FROM events WHERE site_id = ?",
	"SELECT countMerge(events) FROM events_hourly WHERE site_id = ?",
	"SELECT countIfMerge(pageviews) FROM events_hourly WHERE site_id = ?",
	"SELECT countMerge(pageviews) FROM pages_daily WHERE site_id = ?",
	"SELECT countIfMerge(pageviews) FROM sources_daily WHERE site_id = ?",
	"SELECT countIfMerge(pageviews) FROM session_parts WHERE site_id = ?",
	"SELECT countIfMerge(pageviews) FROM visitor_profiles WHERE site_id = ?",
}

// checkOnce fails unless every rollup of site counts n.
func checkOnce(t *testing.T, store *chstore.Store, site string, n uint64) {
	t.Helper()
	for _, q := range rollups {
		if got := stacktest.Count(t, store, q, site); got != n {
			t.Errorf("%s: %d, want %d", q, got, n)
		}
	}
}

// writeAcked writes msgs once every replica has them, so that the group's
// lag counts them as soon as it returns.
func writeAcked(t *testing.T, brokers []string, topic string, msgs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond,
		BatchSize: 1000, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// waitCaughtUp waits until the group has committed everything in topic.
func waitCaughtUp(t *testing.T, brokers []string, topic, group string) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		lag, err := groupLag(context.Background(), client, brokers, topic, group)
		if err == nil && lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s still %d behind on %s (%v)", group, lag, topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// member runs a consumer until the returned stop is called.
func member(t *testing.T, cfg Config, store *chstore.Store) (*Consumer, func()) {
	t.Helper()
	c := New(cfg, store)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

type dropped struct{ memory, stored float64 }

func droppedNow() dropped {
	return dropped{testutil.ToFloat64(duplicatesRemembered), testutil.ToFloat64(duplicatesStored)}
}

func (d dropped) since(before dropped) dropped {
	return dropped{d.memory - before.memory, d.stored - before.stored}
}

// TestDuplicatesStoredOnce: the same event produced twice (two Kafka
// records, the same event id), as a producer's retry or a collector's
// replayed log makes it, is one row in events and one in every rollup:
// in the same batch, in later batches, beyond the memory of ids, after a
// restart, after a rebalance, packed or not, and when an insert's answer
// is lost.
func TestDuplicatesStoredOnce(t *testing.T) {
	const n = 400
	setup := func(t *testing.T, partitions int) ([]string, string, string, *chstore.Store, *copies) {
		brokers := stacktest.Brokers(t)
		topic := stacktest.Topic(t, brokers, partitions)
		_, store := stacktest.ClickHouse(t)
		return brokers, topic, stacktest.Name(t, "g"), store, newCopies("dup", n)
	}
	cfg := func(brokers []string, topic, group string) Config {
		return Config{Brokers: brokers, Topic: topic, Group: group, FlushInterval: 100 * time.Millisecond}
	}

	t.Run("same batch", func(t *testing.T) {
		brokers, topic, group, store, ev := setup(t, 3)
		// Each event then its copy, single and packed, all written before
		// the consumer starts: one fetch, one batch.
		msgs := ev.records(0, n, 1)
		msgs = append(msgs, ev.records(0, n, 1)...)
		msgs = append(msgs, ev.records(0, n, 7)...)
		writeAcked(t, brokers, topic, msgs)
		before := droppedNow()
		c := cfg(brokers, topic, group)
		c.BatchSize = 10 * n
		c.FlushInterval = 2 * time.Second
		_, stop := member(t, c, store)
		waitCaughtUp(t, brokers, topic, group)
		stop()
		checkOnce(t, store, "dup", n)
		if d := droppedNow().since(before); d.memory != 2*n || d.stored != 0 {
			t.Errorf("dropped %+v, want %d from memory", d, 2*n)
		}
	})

	t.Run("later batches", func(t *testing.T) {
		brokers, topic, group, store, ev := setup(t, 3)
		_, stop := member(t, cfg(brokers, topic, group), store)
		writeAcked(t, brokers, topic, ev.records(0, n, 1))
		waitCaughtUp(t, brokers, topic, group)
		before := droppedNow()
		writeAcked(t, brokers, topic, ev.records(0, n, 5)) // the retry, packed
		writeAcked(t, brokers, topic, ev.records(0, n, 1)) // and a replay
		waitCaughtUp(t, brokers, topic, group)
		stop()
		checkOnce(t, store, "dup", n)
		if d := droppedNow().since(before); d.memory != 2*n {
			t.Errorf("dropped %+v, want %d from memory", d, 2*n)
		}
	})

	t.Run("beyond the memory", func(t *testing.T) {
		brokers, topic, group, store, ev := setup(t, 1)
		c := cfg(brokers, topic, group)
		c.DedupIDs = 50 // the copies come after 350 newer ids
		_, stop := member(t, c, store)
		writeAcked(t, brokers, topic, ev.records(0, n, 1))
		waitCaughtUp(t, brokers, topic, group)
		before := droppedNow()
		writeAcked(t, brokers, topic, ev.records(0, n/2, 1))
		waitCaughtUp(t, brokers, topic, group)
		stop()
		checkOnce(t, store, "dup", n)
		if d := droppedNow().since(before); d.memory+d.stored != n/2 || d.stored == 0 {
			t.Errorf("dropped %+v, want %d, some found in clickhouse", d, n/2)
		}
	})

	t.Run("after a restart", func(t *testing.T) {
		brokers, topic, group, store, ev := setup(t, 3)
		_, stop := member(t, cfg(brokers, topic, group), store)
		writeAcked(t, brokers, topic, ev.records(0, n, 1))
		waitCaughtUp(t, brokers, topic, group)
		stop()
		before := droppedNow()
		_, stop = member(t, cfg(brokers, topic, group), store)
		writeAcked(t, brokers, topic, ev.records(0, n, 4))
		waitCaughtUp(t, brokers, topic, group)
		stop()
		checkOnce(t, store, "dup", n)
		if d := droppedNow().since(before); d.stored != n {
			t.Errorf("dropped %+v, want %d found in clickhouse", d, n)
		}
	})

	t.Run("after a rebalance", func(t *testing.T) {
		brokers, topic, group, store, ev := setup(t, 4)
		a, stopA := member(t, cfg(brokers, topic, group), store)
		b, stopB := member(t, cfg(brokers, topic, group), store)
		stacktest.WaitAssigned(t, brokers, group, 2)
		writeAcked(t, brokers, topic, ev.records(0, n, 1))
		waitCaughtUp(t, brokers, topic, group)
		if a.Inserted == 0 || b.Inserted == 0 {
			t.Fatalf("members inserted %d and %d: the partitions were not shared", a.Inserted, b.Inserted)
		}
		// a leaves: b takes over partitions it never read, and the
		// copies of what a wrote come to it.
		stopA()
		stacktest.WaitAssigned(t, brokers, group, 1)
		before := droppedNow()
		writeAcked(t, brokers, topic, ev.records(0, n, 3))
		waitCaughtUp(t, brokers, topic, group)
		stopB()
		checkOnce(t, store, "dup", n)
		if d := droppedNow().since(before); d.memory+d.stored != n || d.stored < float64(a.Inserted) {
			t.Errorf("dropped %+v, want %d, at least a's %d found in clickhouse", d, n, a.Inserted)
		}
	})

	t.Run("answer lost", func(t *testing.T) {
		brokers, topic, group, store, _ := setup(t, 2)
		// Ids made after the consumer's memory starts, so that nothing
		// but the failed write makes it look them up.
		ev := newCopiesAt("dup", n, time.Now().Add(clockSkew+time.Minute))
		writeAcked(t, brokers, topic, ev.records(0, n, 1))
		var lost atomic.Int32
		c := cfg(brokers, topic, group)
		c.answerLost = func() error {
			if lost.Add(1) <= 2 {
				return errors.New("connection reset after the insert")
			}
			return nil
		}
		before := droppedNow()
		_, stop := member(t, c, store)
		waitCaughtUp(t, brokers, topic, group)
		stop()
		checkOnce(t, store, "dup", n)
		if d := droppedNow().since(before); d.stored != n {
			t.Errorf("dropped %+v, want %d found in clickhouse: the retried batch was not looked up", d, n)
		}
	})
}

// TestRebalanceDuringOutage: a member holding its batch through a
// ClickHouse outage while another takes half its partitions over must not
// insert that half when ClickHouse returns, even when both looked the ids
// up before either inserted: it drops its batch, uncommitted, and reads
// its own partitions again.
func TestRebalanceDuringOutage(t *testing.T) {
	const n = 400
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 4)
	_, store := stacktest.ClickHouse(t)
	group := stacktest.Name(t, "g")
	ev := newCopies("dup", n)

	var down atomic.Bool
	down.Store(true)
	aLookedUp, bLookedUp, releaseB := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var aOnce, bOnce sync.Once
	cfgA := Config{Brokers: brokers, Topic: topic, Group: group, FlushInterval: 100 * time.Millisecond,
		beforeInsert: func() error {
			if down.Load() {
				return errors.New("clickhouse: connection refused")
			}
			aOnce.Do(func() { close(aLookedUp) })
			return nil
		}}
	_, stopA := member(t, cfgA, store)
	stacktest.WaitAssigned(t, brokers, group, 1)
	writeAcked(t, brokers, topic, ev.records(0, n, 1))
	// a holds every event, failing; b joins and takes half the partitions.
	time.Sleep(time.Second)
	cfgB := Config{Brokers: brokers, Topic: topic, Group: group, FlushInterval: 100 * time.Millisecond,
		beforeInsert: func() error {
			bOnce.Do(func() { close(bLookedUp); <-releaseB })
			return nil
		}}
	b, stopB := member(t, cfgB, store)
	select {
	case <-bLookedUp:
	case <-time.After(60 * time.Second):
		t.Fatal("b read nothing")
	}
	// b looked its events up and found none; now ClickHouse is back for a,
	// whose next attempt looks them up too, before b inserts.
	down.Store(false)
	select {
	case <-aLookedUp:
	case <-time.After(30 * time.Second):
		t.Fatal("a did not try again")
	}
	time.Sleep(time.Second) // a's insert, had it gone on
	close(releaseB)
	waitCaughtUp(t, brokers, topic, group)
	stopA()
	stopB()
	if b.Inserted == 0 {
		t.Fatalf("b inserted nothing: no partition moved")
	}
	checkOnce(t, store, "dup", n)
}
