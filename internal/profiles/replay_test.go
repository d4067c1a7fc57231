package profiles

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/processor/consume"
	"footfall/tests/stacktest"
)

// TestErasedMessagesStayErased: the kept messages (events_rejected) an
// erasure deleted are not kept again when a new consumer group reads the
// topic from its start; other people's kept messages stay as they were.
func TestErasedMessagesStayErased(t *testing.T) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 1)
	_, store := stacktest.ClickHouse(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	stacktest.Insert(t, store, stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "purchase", event.VisitorID: "ann-browser-1", event.UserID: "josé@café.example",
		event.OrderID: "A-1", event.URL: "https://shop.example/"}, Revenue: 1})
	var msgs []kafka.Message
	for _, m := range append(annMessages(), othersMessages()...) {
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: m.payload})
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	const kept = "SELECT count() FROM events_rejected"
	run := func(group string) {
		c := consume.New(consume.Config{Brokers: brokers, Topic: topic, Group: group, FlushInterval: 100 * time.Millisecond}, store)
		cctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(cctx) }()
		time.Sleep(8 * time.Second)
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	run(stacktest.Name(t, "g1"))
	before := stacktest.Count(t, store, kept)
	s := NewStore(store.DB(), DefaultRules)
	e, err := s.Erase(ctx, "shop", Ref{UserID: "josé@café.example"})
	if err != nil {
		t.Fatal(err)
	}
	after := stacktest.Count(t, store, kept)
	if e.Rows[rejectedTable] == 0 || after >= before {
		t.Fatalf("the erasure deleted no kept message: %d before, %d after (%v)", before, after, e.Rows)
	}
	run(stacktest.Name(t, "g2")) // a new processor reads the topic from its start
	if n := stacktest.Count(t, store, kept); n != after {
		t.Errorf("kept messages: %d after the erasure, %d after a replay (of %d before)", after, n, before)
	}
}
