package consume

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestHeldBatchAfterErasure: a batch that passed the tombstone check
// before an erasure wrote its tombstones, and that is held past the
// erasure's last look, is checked again before its insert: nothing of
// the erased visitor lands after the erasure answered.
func TestHeldBatchAfterErasure(t *testing.T) {
	const secret = "held-batch-erasure-secret-01"
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 1)
	_, store := stacktest.ClickHouse(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	stacktest.Insert(t, store, stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "purchase", event.VisitorID: "ann-slow-v1", event.UserID: "ann@slow.example",
		event.OrderID: "S-1", event.URL: "https://shop.example/"}, Revenue: 1})

	checked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cfg := Config{Brokers: brokers, Topic: topic, Group: stacktest.Name(t, "g"), FlushInterval: 100 * time.Millisecond,
		ErasureSecret: secret,
		beforeInsert: func() error {
			once.Do(func() { close(checked); <-release })
			return nil
		}}
	_, stop := member(t, cfg, store)
	e := event.Event{ID: event.NewID(time.Now().UnixMilli()), TimeMs: time.Now().UnixMilli(), Ingest: event.IngestBeacon}
	e.F[event.Site] = []byte("shop")
	e.F[event.Type] = []byte("pageview")
	e.F[event.VisitorID] = []byte("ann-slow-v1")
	e.F[event.SessionID] = []byte("ann-slow-s1")
	e.F[event.URL] = []byte("https://shop.example/after")
	writeAcked(t, brokers, topic, []kafka.Message{{Key: []byte("ann-slow-v1"), Value: event.Append(nil, &e)}})
	select {
	case <-checked:
	case <-time.After(60 * time.Second):
		t.Fatal("no batch")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := profiles.NewStore(store.DB(), profiles.DefaultRules)
	s.SetErasureSecret(secret)
	start := time.Now()
	er, err := s.Erase(ctx, "shop", profiles.Ref{UserID: "ann@slow.example"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("erasure took %v, rows %v", time.Since(start), er.Rows)
	close(release)
	time.Sleep(3 * time.Second)
	stop()
	n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'ann-slow-v1'")
	if n != 0 {
		t.Errorf("%d events of the erased visitor inserted after the erasure answered", n)
	}
}
