package consume

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// TestLookUpsWhileFilling: after a start every event is unsure (its id is
// within clockSkew of the memory's start) and must be looked up in
// ClickHouse; the consumer looks up what it read while the batch fills,
// so that the flush looks up only the last few, and what it finds stored
// (a replay of events another group stored) is dropped all the same: each
// event once in every rollup.
func TestLookUpsWhileFilling(t *testing.T) {
	const stored, pieces, perPiece = 200, 6, 100
	const n = stored + pieces*perPiece
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 1)
	_, store := stacktest.ClickHouse(t)
	ev := newCopies("early", n)
	// One record a piece: the consumer sees a piece at once.
	piece := func(from, to int) []kafka.Message {
		pack := event.StartPack(nil)
		for i := from; i < to; i++ {
			pack = event.AppendPacked(pack, ev.enc[i])
		}
		return []kafka.Message{{Key: []byte("k"), Value: pack}}
	}

	// Another group stores the first events: the second reads them again
	// from the topic's start, and must find them in ClickHouse.
	writeAcked(t, brokers, topic, piece(0, stored))
	first := stacktest.Name(t, "g1")
	_, stop := member(t, Config{Brokers: brokers, Topic: topic, Group: first, FlushInterval: 100 * time.Millisecond}, store)
	waitCaughtUp(t, brokers, topic, first)
	stop()

	before := droppedNow()
	group := stacktest.Name(t, "g2")
	// Windows of 2 s: a look-up every 500 ms while the batch fills, and
	// the pieces come every 700 ms, so each triggers one.
	c := New(Config{Brokers: brokers, Topic: topic, Group: group, BatchSize: 10 * n, FlushInterval: 2 * time.Second}, store)
	var mu sync.Mutex
	var atFlush, inserted int
	c.cfg.beforeInsert = func() error {
		// Runs in write after its look-up: the rows that look-up had to
		// check are still marked.
		mu.Lock()
		defer mu.Unlock()
		for _, o := range c.rowMsg {
			if o.lookUp {
				atFlush++
			}
		}
		inserted += len(c.rows)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stacktest.WaitAssigned(t, brokers, group, 1)
	for p := range pieces {
		writeAcked(t, brokers, topic, piece(stored+p*perPiece, stored+(p+1)*perPiece))
		time.Sleep(700 * time.Millisecond)
	}
	waitCaughtUp(t, brokers, topic, group)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	checkOnce(t, store, "early", n)
	if d := droppedNow().since(before); d.stored != stored {
		t.Errorf("dropped %+v, want %d found in clickhouse", d, stored)
	}
	mu.Lock()
	defer mu.Unlock()
	if inserted != n-stored {
		t.Errorf("second group inserted %d, want %d", inserted, n-stored)
	}
	// Without the look-ups during the fill every one of the n rows read
	// (all unsure) is looked up at a flush; with them, at most the first
	// pieces of a window that no later piece followed.
	if atFlush > 3*perPiece {
		t.Errorf("%d of the %d events read were looked up at the flush, want at most %d", atFlush, n, 3*perPiece)
	}
	t.Logf("looked up at the flush: %d of %d", atFlush, n)
}
