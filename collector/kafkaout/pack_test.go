package kafkaout

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// where returns the partition murmur2 gives key among n, as a record of its
// own would get.
func where(key []byte, n int) int {
	seq := make([]int, n)
	for i := range seq {
		seq[i] = i
	}
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: key}, seq...)
}

func unpack(t *testing.T, m kafka.Message) []string {
	t.Helper()
	var out []string
	if _, err := event.Unpack(m.Value, func(enc []byte) { out = append(out, string(enc)) }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPackGroupsByPartition(t *testing.T) {
	const n = 6
	var msgs []kafka.Message
	for i := 0; i < 500; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprintf("visitor-%d", i%37)), Value: []byte(fmt.Sprintf("event %03d of visitor-%d", i, i%37))})
	}
	msgs = append(msgs, kafka.Message{Value: []byte("keyless 1")}, kafka.Message{Value: []byte("keyless 2")})
	var k packer
	for round := 0; round < 2; round++ { // the second reuses the packer's memory
		const maxBytes = 2000
		packed, counts := k.pack(msgs, n, maxBytes)
		if len(packed) != len(counts) {
			t.Fatalf("%d packs, %d counts", len(packed), len(counts))
		}
		var all []string
		full := map[int]int{} // packs at the size limit, per partition
		for i, m := range packed {
			evs := unpack(t, m)
			if len(evs) != counts[i] {
				t.Errorf("pack %d holds %d events, counted %d", i, len(evs), counts[i])
			}
			if len(m.Value) > maxBytes {
				t.Errorf("pack %d has %d bytes, more than %d", i, len(m.Value), maxBytes)
			}
			for _, e := range evs {
				var src kafka.Message
				for _, s := range msgs {
					if string(s.Value) == e {
						src = s
					}
				}
				if src.Key == nil {
					if m.Key != nil {
						t.Errorf("keyless event %q in a pack with key %q", e, m.Key)
					}
					continue
				}
				if where(src.Key, n) != where(m.Key, n) {
					t.Errorf("event %q (partition %d) in a pack for partition %d", e, where(src.Key, n), where(m.Key, n))
				}
			}
			if m.Key != nil {
				full[where(m.Key, n)]++
			}
			all = append(all, evs...)
		}
		// Every event once; within a partition, in the batch's order.
		var want []string
		for p := 0; p <= n; p++ {
			for _, s := range msgs {
				if (s.Key == nil && p == n) || (s.Key != nil && where(s.Key, n) == p) {
					want = append(want, string(s.Value))
				}
			}
		}
		if !slices.Equal(all, want) {
			t.Fatalf("round %d: events out of order or missing:\n got %q\nwant %q", round, all, want)
		}
		if len(full) < 2 {
			t.Fatalf("the events went to %d partitions; the test needs several", len(full))
		}
	}
}

// Through a real broker: every record is a pack, every event arrives once,
// and each is in the partition its key gives, as when it was sent alone.
func TestProducerPacksPerPartition(t *testing.T) {
	brokers := stacktest.Brokers(t)
	const parts, total = 3, 3000
	topic := stacktest.Topic(t, brokers, parts)
	// One writer, so that only the first batch is written before the
	// partition count is known.
	p, err := New(Config{Brokers: brokers, Topic: topic, BatchEvents: 500, Linger: 5 * time.Millisecond, Writers: 1})
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]string{} // event -> key
	for i := 0; i < total; i++ {
		key := fmt.Sprintf("v-%d", i%101)
		val := fmt.Sprintf("event %d of %s", i, key)
		sent[val] = key
		for p.Enqueue(Msg{Key: []byte(key), Value: []byte(val)}) == ErrFull {
			time.Sleep(time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got, records, packs := map[string]bool{}, 0, 0
	for part := 0; part < parts; part++ {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
		for len(got) < total {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			m, err := r.ReadMessage(rctx)
			rcancel()
			if err != nil {
				break // the partition is read to its end
			}
			records++
			evs := []string{string(m.Value)}
			if event.IsPack(m.Value) {
				packs++
				evs = unpack(t, m)
			}
			for _, e := range evs {
				key, ok := sent[e]
				if !ok || got[e] {
					t.Fatalf("partition %d: unknown or repeated event %q", part, e)
				}
				got[e] = true
				if w := where([]byte(key), parts); w != part {
					t.Errorf("event %q of key %s in partition %d, alone it goes to %d", e, key, part, w)
				}
			}
		}
		r.Close()
	}
	if len(got) != total {
		t.Fatalf("read %d events of %d", len(got), total)
	}
	// The writer learns the partition count with the first batch, which
	// goes out one event to a record (with more writers, the first batch
	// of each).
	if packs == 0 || records-packs > 500 {
		t.Errorf("%d records, %d of them packs: want packs after the first batch", records, packs)
	}
	t.Logf("%d events in %d records, %d packs", total, records, packs)
}

// Through a real broker, with the collector's defaults: the bytes the
// whole process allocates per event produced. kafka-go makes room for
// BatchSize messages in every request it starts; with BatchSize at
// BatchEvents, that was most of the collector's garbage, and this test
// failed.
func TestProducerGarbagePerEvent(t *testing.T) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 6)
	const warm, total = 5000, 20000
	msgs := make([]Msg, warm+total) // made first: the test's garbage is not the producer's
	for i := range msgs {
		msgs[i] = Msg{Key: fmt.Appendf(nil, "visitor-%d", i%397), Value: make([]byte, 300)}
	}
	p, err := New(Config{Brokers: brokers, Topic: topic})
	if err != nil {
		t.Fatal(err)
	}
	send := func(msgs []Msg) {
		for _, m := range msgs {
			for p.Enqueue(m) == ErrFull {
				time.Sleep(time.Millisecond)
			}
		}
	}
	// What is made once is left out: New's batch buffers, the first
	// batch's single events, the packer's and lz4's buffers. A collection
	// now puts the next one far beyond the measured events: one in
	// between would empty lz4's pools, and refilling them is 4 MB a
	// writer.
	runtime.GC()
	send(msgs[:warm])
	time.Sleep(time.Second)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	send(msgs[warm:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	perEvent := float64(after.TotalAlloc-before.TotalAlloc) / total
	t.Logf("%.0f bytes and %.2f allocations per event", perEvent, float64(after.Mallocs-before.Mallocs)/total)
	if perEvent > 500 {
		t.Errorf("the producer allocates %.0f bytes per event, want at most 500", perEvent)
	}
}

// BenchmarkPack: grouping a full batch of 1,000 events into packs for six
// partitions, per event. It must not allocate once the packer has grown.
func BenchmarkPack(b *testing.B) {
	msgs := fullBatch()
	var k packer
	k.pack(msgs, 6, 1<<20)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		k.pack(msgs, 6, 1<<20)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/event")
}

func TestPackDoesNotAllocate(t *testing.T) {
	msgs := fullBatch()
	var k packer
	k.pack(msgs, 6, 1<<20)
	if n := testing.AllocsPerRun(20, func() { k.pack(msgs, 6, 1<<20) }); n != 0 {
		t.Errorf("pack allocates %.0f times per batch once grown", n)
	}
}

// fullBatch is a batch of 1,000 events of 300 bytes from 397 visitors.
func fullBatch() []kafka.Message {
	msgs := make([]kafka.Message, 1000)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprintf("visitor-%d", i%397)), Value: make([]byte, 300)}
	}
	return msgs
}
