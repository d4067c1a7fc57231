package consume

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

const ua = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"

// produce writes n pageviews for site to topic, spread over visitors, plus
// the raw extra messages.
func produce(t *testing.T, brokers []string, topic, site string, n int, extra ...[]byte) {
	t.Helper()
	var msgs []kafka.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("v%d", i%97)), Value: pageview(site, i)})
	}
	write(t, brokers, topic, msgs, extra...)
}

// producePacked writes the same events as produce, perPack to a record.
func producePacked(t *testing.T, brokers []string, topic, site string, n, perPack int) {
	t.Helper()
	var msgs []kafka.Message
	for i := 0; i < n; i += perPack {
		pack := event.StartPack(nil)
		for j := i; j < min(n, i+perPack); j++ {
			pack = event.AppendPacked(pack, pageview(site, j))
		}
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("v%d", i%97)), Value: pack})
	}
	write(t, brokers, topic, msgs)
}

func pageview(site string, i int) []byte {
	now := time.Now().UnixMilli()
	e := event.Event{ID: event.NewID(now), TimeMs: now, Ingest: event.IngestBeacon}
	e.F[event.Site] = []byte(site)
	e.F[event.Type] = []byte("pageview")
	e.F[event.VisitorID] = []byte(fmt.Sprintf("v%d", i%97))
	e.F[event.URL] = []byte(fmt.Sprintf("https://shop.example/p/%d", i))
	e.F[event.UserAgent] = []byte(ua)
	return event.Append(nil, &e)
}

func write(t *testing.T, brokers []string, topic string, msgs []kafka.Message, extra ...[]byte) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond, BatchSize: 1000, Transport: &kafka.Transport{}}
	defer w.Close()
	for _, x := range extra {
		msgs = append(msgs, kafka.Message{Key: []byte("x"), Value: x})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

func TestCrashBetweenInsertAndCommitDoesNotDoubleCount(t *testing.T) {
	t.Run("one event a record", func(t *testing.T) {
		crashThenResume(t, func(brokers []string, topic string, n int) { produce(t, brokers, topic, "demo", n) })
	})
	// A pack straddles the crash: the batch ends on a record, so the first
	// member inserts whole packs and the second skips them by event id.
	t.Run("packed", func(t *testing.T) {
		crashThenResume(t, func(brokers []string, topic string, n int) { producePacked(t, brokers, topic, "demo", n, 70) })
	})
}

func crashThenResume(t *testing.T, produce func(brokers []string, topic string, n int)) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 3)
	_, store := stacktest.ClickHouse(t)
	const n = 3000
	produce(brokers, topic, n)
	group := stacktest.Name(t, "g")

	// The first member inserts one batch, then "crashes" before committing.
	crash := errors.New("crash")
	a := New(Config{Brokers: brokers, Topic: topic, Group: group, BatchSize: 1000, FlushInterval: 200 * time.Millisecond,
		afterInsert: func() error { return crash }}, store)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.Run(ctx); !errors.Is(err, errStop) {
		t.Fatalf("first member: %v", err)
	}
	first := stacktest.Count(t, store, "SELECT count() FROM events")
	if first == 0 || first >= n || first != uint64(a.Inserted) {
		t.Fatalf("first member inserted %d (counted %d), want a part of %d", first, a.Inserted, n)
	}

	// The next member gets the same messages again and must skip them.
	b := New(Config{Brokers: brokers, Topic: topic, Group: group, BatchSize: 1000, FlushInterval: 200 * time.Millisecond}, store)
	bctx, bcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(bctx) }()
	stacktest.WaitCount(t, store, 60*time.Second, n, "SELECT count() FROM events")
	bcancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := stacktest.Count(t, store, "SELECT uniqExact(event_id) FROM events"); got != n {
		t.Errorf("distinct events %d, want %d", got, n)
	}
	if got := stacktest.Count(t, store, "SELECT countIfMerge(pageviews) FROM events_hourly WHERE site_id = 'demo'"); got != n {
		t.Errorf("hourly rollup counts %d page views, want %d", got, n)
	}
	if b.Inserted != int64(n)-a.Inserted {
		t.Errorf("second member inserted %d, want %d", b.Inserted, int64(n)-a.Inserted)
	}
}

func TestUndecodableMessagesAreKept(t *testing.T) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 1)
	_, store := stacktest.ClickHouse(t)
	produce(t, brokers, topic, "demo", 5, []byte("not an event"), []byte{1, 2, 3})
	consumeUntil(t, brokers, topic, store, 2, 5)
	if got := stacktest.Count(t, store, "SELECT count() FROM events"); got != 5 {
		t.Errorf("events %d, want 5", got)
	}
	if got := stacktest.Count(t, store, "SELECT count() FROM events_rejected WHERE payload = 'not an event' AND error LIKE 'malformed event%'"); got != 1 {
		t.Errorf("rejected payload not kept whole")
	}
}

// consumeUntil runs a consumer on topic until ClickHouse holds rejected
// rows in events_rejected and events in events, then stops it.
func consumeUntil(t *testing.T, brokers []string, topic string, store *chstore.Store, rejected, events uint64) {
	t.Helper()
	c := New(Config{Brokers: brokers, Topic: topic, Group: stacktest.Name(t, "g"), FlushInterval: 100 * time.Millisecond}, store)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stacktest.WaitCount(t, store, 30*time.Second, rejected, "SELECT count() FROM events_rejected")
	stacktest.WaitCount(t, store, 30*time.Second, events, "SELECT count() FROM events")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A pack's readable events are stored; an entry that does not decode and a
// tail whose length runs past the end are kept in events_rejected.
func TestPacksAreUnpacked(t *testing.T) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 1)
	_, store := stacktest.ClickHouse(t)
	good := event.AppendPacked(event.StartPack(nil), pageview("demo", 1))
	good = event.AppendPacked(good, pageview("demo", 2))
	bad := event.AppendPacked(event.StartPack(nil), pageview("demo", 3))
	bad = event.AppendPacked(bad, []byte("not an event"))
	bad = event.AppendPacked(bad, pageview("demo", 4))
	bad = append(bad, 0x7f, 'x') // an entry of 127 bytes with 1 there
	write(t, brokers, topic, nil, good, bad)
	consumeUntil(t, brokers, topic, store, 2, 4)
	if got := stacktest.Count(t, store, "SELECT count() FROM events WHERE url_path IN ('/p/1', '/p/2', '/p/3', '/p/4')"); got != 4 {
		t.Errorf("events from packs %d, want 4", got)
	}
	if got := stacktest.Count(t, store, "SELECT count() FROM events_rejected WHERE payload = 'not an event' AND error LIKE 'malformed event%'"); got != 1 {
		t.Errorf("the entry that does not decode was not kept alone")
	}
	if got := stacktest.Count(t, store, "SELECT count() FROM events_rejected WHERE payload = '\\x7Fx' AND error LIKE '%runs past the last 2 bytes'"); got != 1 {
		t.Errorf("the unreadable tail was not kept")
	}
}

func TestGroupMembersSharePartitions(t *testing.T) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 4)
	_, store := stacktest.ClickHouse(t)
	group := stacktest.Name(t, "g")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	members := make([]*Consumer, 2)
	for i := range members {
		members[i] = New(Config{Brokers: brokers, Topic: topic, Group: group, FlushInterval: 100 * time.Millisecond}, store)
		wg.Add(1)
		go func(c *Consumer) {
			defer wg.Done()
			if err := c.Run(ctx); err != nil {
				t.Error(err)
			}
		}(members[i])
	}
	// Let both join before producing, so the partitions are split.
	stacktest.WaitAssigned(t, brokers, group, 2)
	const n = 2000
	produce(t, brokers, topic, "demo", n)
	stacktest.WaitCount(t, store, 60*time.Second, n, "SELECT count() FROM events")
	cancel()
	wg.Wait()
	if members[0].Inserted == 0 || members[1].Inserted == 0 || members[0].Inserted+members[1].Inserted != n {
		t.Fatalf("members inserted %d and %d of %d", members[0].Inserted, members[1].Inserted, n)
	}
}
