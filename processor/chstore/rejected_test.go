package chstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/processor/consume"
	"footfall/tests/stacktest"
)

// A Kafka message the processor cannot decode is kept once, however often
// it is read: a second consumer group replaying the topic from its first
// offset stores nothing again, and a pack's two unreadable entries, which
// share their record's offset, are both kept.
func TestRejectedKeptOnce(t *testing.T) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 1)
	_, store := stacktest.ClickHouse(t)
	pack := event.AppendPacked(event.StartPack(nil), []byte("entry one"))
	pack = event.AppendPacked(pack, []byte("entry two"))
	write := func(values ...[]byte) {
		t.Helper()
		w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
		defer w.Close()
		var msgs []kafka.Message
		for _, v := range values {
			msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: v})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	run := func(group string, want uint64) {
		t.Helper()
		c := consume.New(consume.Config{Brokers: brokers, Topic: topic, Group: group, FlushInterval: 100 * time.Millisecond}, store)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		stacktest.WaitCount(t, store, 30*time.Second, want, "SELECT count() FROM events_rejected")
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	write([]byte("not an event"), pack)
	run(stacktest.Name(t, "g1"), 3)
	// A replay: another group reads the topic from its start. The message
	// written after the others is stored once it has read them all.
	write([]byte("written after"))
	run(stacktest.Name(t, "g2"), 4)
	for _, p := range []string{"not an event", "entry one", "entry two", "written after"} {
		if n := stacktest.Count(t, store, "SELECT count() FROM events_rejected WHERE payload = ?", p); n != 1 {
			t.Errorf("%q kept %d times, want once", p, n)
		}
	}
	// Written again directly (a batch whose answer was lost), still once.
	if err := store.InsertRejected(context.Background(), []chstore.Rejected{{Topic: topic, Offset: 0, Err: "again", Payload: []byte("not an event")}}); err != nil {
		t.Fatal(err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events_rejected"); n != 4 {
		t.Errorf("%d kept messages, want 4", n)
	}
}
