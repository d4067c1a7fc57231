package kafkaout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// recorder is a Writer that keeps what it was given, can be held closed, and
// can fail chosen messages once.
type recorder struct {
	mu       sync.Mutex
	got      []string
	gate     chan struct{} // writes wait until this is closed
	failOnce map[string]bool
	calls    int
}

func (r *recorder) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	select {
	case <-r.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	var werrs kafka.WriteErrors
	failed := false
	for _, m := range msgs {
		v := string(m.Value)
		if r.failOnce[v] {
			delete(r.failOnce, v)
			werrs = append(werrs, errors.New("leader not available"))
			failed = true
			continue
		}
		werrs = append(werrs, nil)
		r.got = append(r.got, v)
	}
	if failed {
		return werrs
	}
	return nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) values() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func open() chan struct{} { c := make(chan struct{}); close(c); return c }

func TestFullQueueRefusesThenDrains(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	p := mustProducer(t, Config{BatchEvents: 10, BatchBytes: 1 << 10, Batches: 3, Writers: 1, Linger: time.Hour}, rec)
	accepted := 0
	var err error
	for i := 0; i < 100; i++ {
		if err = p.Enqueue(Msg{Key: []byte("k"), Value: []byte(fmt.Sprint(i))}); err != nil {
			break
		}
		accepted++
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("want ErrFull once 3 batches of 10 are held, got %v after %d", err, accepted)
	}
	if accepted != 30 {
		t.Fatalf("accepted %d, want 30 (3 batches of 10)", accepted)
	}
	close(rec.gate)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rec.values(); len(got) != accepted {
		t.Fatalf("writer got %d events, accepted %d", len(got), accepted)
	}
}

func TestGroupIsAllOrNothing(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	p := mustProducer(t, Config{BatchEvents: 4, BatchBytes: 1 << 10, Batches: 2, Writers: 1, Linger: time.Hour}, rec)
	group := make([]Msg, 6)
	for i := range group {
		group[i] = Msg{Key: []byte("k"), Value: []byte{byte('a' + i)}}
	}
	if err := p.Enqueue(group...); err != nil {
		t.Fatal(err)
	}
	// 2 of 8 slots left: a group of 3 must be refused whole.
	if err := p.Enqueue(group[:3]...); !errors.Is(err, ErrFull) {
		t.Fatalf("got %v, want ErrFull", err)
	}
	close(rec.gate)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rec.values(); len(got) != 6 {
		t.Fatalf("got %d events, want 6: %v", len(got), got)
	}
}

func TestRetrySendsOnlyFailed(t *testing.T) {
	rec := &recorder{gate: open(), failOnce: map[string]bool{"b": true}}
	p := mustProducer(t, Config{BatchEvents: 3, Batches: 2, Writers: 1, Linger: time.Hour}, rec)
	for _, v := range []string{"a", "b", "c"} {
		if err := p.Enqueue(Msg{Key: []byte("k"), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := rec.values()
	if len(got) != 3 || got[0] != "a" || got[1] != "c" || got[2] != "b" {
		t.Fatalf("got %v, want [a c b]: each once, the failed one resent", got)
	}
}

func TestLingerSendsPartialBatch(t *testing.T) {
	rec := &recorder{gate: open()}
	p := mustProducer(t, Config{BatchEvents: 1000, Linger: 20 * time.Millisecond}, rec)
	defer p.Close(context.Background())
	if err := p.Enqueue(Msg{Key: []byte("k"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(rec.values()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a lone event was not sent after Linger")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseDeadlineAbandons(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})} // Kafka never answers
	p := mustProducer(t, Config{BatchEvents: 1, Linger: time.Hour}, rec)
	if err := p.Enqueue(Msg{Key: []byte("k"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
	if err := p.Enqueue(Msg{Value: []byte("y")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("enqueue after close: %v", err)
	}
}

func TestEnqueueDoesNotAllocate(t *testing.T) {
	rec := &recorder{gate: open()}
	p := mustProducer(t, Config{BatchEvents: 1 << 16, BatchBytes: 64 << 20, Linger: time.Hour}, rec)
	defer p.Close(context.Background())
	m := Msg{Key: []byte("visitor"), Value: make([]byte, 200)}
	if n := testing.AllocsPerRun(1000, func() { _ = p.Enqueue(m) }); n != 0 {
		t.Fatalf("Enqueue allocates %v per call", n)
	}
}

// discard is a Writer that takes everything and keeps nothing, so the
// benchmark measures the producer alone.
type discard struct{}

func (discard) WriteMessages(context.Context, ...kafka.Message) error { return nil }
func (discard) Close() error                                          { return nil }

func BenchmarkEnqueue(b *testing.B) {
	p := mustProducer(b, Config{}, discard{})
	defer p.Close(context.Background())
	m := Msg{Key: []byte("visitor-123"), Value: make([]byte, 300)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for p.Enqueue(m) != nil {
			}
		}
	})
}

// With Kafka away, linger must not spend a batch buffer on every few
// events: the queue would refuse hits after Batches times a handful.
func TestLingerDoesNotFragmentWhileKafkaIsAway(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})} // writes hang
	p := mustProducer(t, Config{BatchEvents: 100, Batches: 8, Writers: 1, Linger: 2 * time.Millisecond}, rec)
	accepted := 0
	for i := 0; i < 2000; i++ {
		if err := p.Enqueue(Msg{Key: []byte("k"), Value: []byte("v")}); err != nil {
			break
		}
		accepted++
		if i%20 == 0 {
			time.Sleep(3 * time.Millisecond) // slow traffic: lingers pass
		}
	}
	// One batch in the writer, one sealed and waiting, then batches fill:
	// at least 6 full batches more.
	if accepted < 600 {
		t.Fatalf("accepted %d events in 8 batches of 100 while Kafka was away", accepted)
	}
	close(rec.gate)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.values()); got != accepted {
		t.Fatalf("delivered %d of %d", got, accepted)
	}
}

func mustProducer(t testing.TB, cfg Config, w Writer) *Producer {
	t.Helper()
	p, err := NewWithWriter(cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
