package kafkaout

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"footfall/tests/stacktest"
)

// gateProxy forwards TCP connections to to while open and refuses them
// (accepts and closes at once) while shut: Kafka "unreachable".
type gateProxy struct {
	ln   net.Listener
	to   string
	open atomic.Bool
}

func newGateProxy(t testing.TB, to string) *gateProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gateProxy{ln: ln, to: to}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !g.open.Load() {
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
	return g
}

// fillWhileDown enqueues n events of about 400 bytes from 32 goroutines,
// as a loaded collector does, into a disk-delivery producer whose Kafka
// refuses every connection.
func fillWhileDown(t testing.TB, p *Producer, n int) {
	t.Helper()
	val := make([]byte, 400)
	for i := range val {
		val[i] = 'a' + byte(i%26)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				key := []byte("visitor-" + strconv.Itoa(int(i%997)))
				if err := p.Enqueue(Msg{Key: key, Value: val}); err != nil {
					t.Errorf("event %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func outage() time.Duration {
	d, err := time.ParseDuration(os.Getenv("FOOTFALL_DRAIN_OUTAGE"))
	if err != nil {
		return 3 * time.Second
	}
	return d
}

func drainEvents() int {
	if s := os.Getenv("FOOTFALL_DRAIN_EVENTS"); s != "" {
		n, _ := strconv.Atoi(s)
		return n
	}
	return 20000
}

// TestDrainSpeed measures how fast the log empties into the real Kafka
// after an outage, both in the process that lived through it and in one
// started on its log. A measurement, not an assertion: run it by name.
func TestDrainSpeed(t *testing.T) {
	if os.Getenv("FOOTFALL_DRAIN_BENCH") == "" {
		t.Skip("set FOOTFALL_DRAIN_BENCH=1")
	}
	brokers := stacktest.Brokers(t)
	n := drainEvents()
	segBytes, _ := strconv.ParseInt(os.Getenv("FOOTFALL_DRAIN_SEGMENT_BYTES"), 10, 64)
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			topic := stacktest.Topic(t, brokers, 6)
			dir := t.TempDir()
			g := newGateProxy(t, brokers[0])
			p, err := New(Config{Brokers: []string{g.ln.Addr().String()}, Topic: topic, Delivery: Disk, WALDir: dir, WALSegmentBytes: segBytes})
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			fillWhileDown(t, p, n)
			t.Logf("filled %d events in %v, log %d bytes", n, time.Since(t0), p.log.bytes.Load())
			time.Sleep(outage()) // the outage goes on: writers back off
			before := testutil.ToFloat64(produced)
			if restart {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				p.Close(ctx)
				cancel()
				p, err = New(Config{Brokers: brokers, Topic: topic, Delivery: Disk, WALDir: dir, WALSegmentBytes: segBytes})
				if err != nil {
					t.Fatal(err)
				}
			} else {
				g.open.Store(true)
			}
			t0 = time.Now()
			var first time.Duration
			for testutil.ToFloat64(produced)-before < float64(n) {
				if first == 0 && testutil.ToFloat64(produced) > before {
					first = time.Since(t0)
				}
				if time.Since(t0) > 10*time.Minute {
					t.Fatalf("drained %v of %d in 10 min", testutil.ToFloat64(produced)-before, n)
				}
				time.Sleep(2 * time.Millisecond)
			}
			d := time.Since(t0)
			t.Logf("drained %d events in %v: %.0f events/s; first event produced after %v, then %.0f events/s", n, d, float64(n)/d.Seconds(), first, float64(n)/(d-first).Seconds())
			p.Close(context.Background())
		})
	}
}

// TestDrainSendsFullBatches: a log of many small segments (a long outage
// at a low rate: a segment is sealed every segmentAge) drains in batches
// of BatchEvents, not a Kafka write per segment, in order, and every
// segment goes once Kafka has it.
func TestDrainSendsFullBatches(t *testing.T) {
	const n, per = 600, 200
	dir := t.TempDir()
	fillLog(t, dir, n, Config{WALSegmentBytes: 512})
	if segs := len(segments(t, dir)); segs < 10 {
		t.Fatalf("the log has %d segments, want many small ones", segs)
	}
	up := &recorder{gate: open()}
	p := mustProducer(t, Config{WALDir: dir, Delivery: Disk, Writers: 1, BatchEvents: per}, up)
	deadline := time.Now().Add(10 * time.Second)
	for len(up.values()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := up.values()
	if len(got) != n {
		t.Fatalf("kafka got %d events, want %d", len(got), n)
	}
	for i, v := range got {
		if v != "v"+strconv.Itoa(i) {
			t.Fatalf("event %d is %q: out of order", i, v)
		}
	}
	up.mu.Lock()
	calls := up.calls
	up.mu.Unlock()
	if want := n / per; calls > want+1 {
		t.Fatalf("%d events took %d Kafka writes, want %d (a batch of %d each)", n, calls, want, per)
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("segments left after Kafka took everything: %v", segs)
	}
}

// BenchmarkDrain: the write-ahead log's drain into the real Kafka after an
// outage (make bench's collector step). Each round fills a log with b.N
// events of 400 bytes from 32 goroutines while Kafka refuses connections,
// then starts a producer on it with the real broker (6 partitions) and
// times until Kafka has acknowledged them all; the fill is not timed.
// events/s is the figure; segment-bytes=40000 gives segments of about a
// hundred events, what an outage at 100 hits/s leaves (one a second).
func BenchmarkDrain(b *testing.B) {
	for _, segBytes := range []int64{0, 40000} {
		b.Run(fmt.Sprintf("segment-bytes=%d", segBytes), func(b *testing.B) {
			brokers := stacktest.Brokers(b)
			topic := stacktest.Topic(b, brokers, 6)
			dir := b.TempDir()
			g := newGateProxy(b, brokers[0])
			cfg := Config{Brokers: []string{g.ln.Addr().String()}, Topic: topic, Delivery: Disk, WALDir: dir, WALSegmentBytes: segBytes}
			p, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			fillWhileDown(b, p, b.N)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			p.Close(ctx)
			cancel()
			before := testutil.ToFloat64(produced)
			cfg.Brokers = brokers
			b.ResetTimer()
			p, err = New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			for testutil.ToFloat64(produced)-before < float64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			p.Close(context.Background())
		})
	}
}
