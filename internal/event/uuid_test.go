package event

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// prefix is the first 8 bytes of an id, which order ids: time and counter.
func prefix(id [16]byte) []byte { return id[:8] }

func checkID(t *testing.T, id [16]byte) {
	t.Helper()
	if id[6]>>4 != 7 || id[8]>>6 != 2 {
		t.Fatalf("version/variant bits wrong: %x", id)
	}
}

func TestNewIDIncreases(t *testing.T) {
	// The clock's millisecond, as the collector asks.
	prev := NewID(time.Now().UnixMilli())
	for i := 0; i < 20_000; i++ {
		id := NewID(time.Now().UnixMilli())
		checkID(t, id)
		if bytes.Compare(prefix(prev), prefix(id)) >= 0 {
			t.Fatalf("id %d: %x after %x", i, id, prev)
		}
		prev = id
	}
	// One millisecond for more ids than the counter holds: they carry
	// into the next milliseconds and still increase.
	ms := time.Now().Add(time.Minute).UnixMilli()
	prev = NewID(ms)
	if IDTimeMs(prev) != ms {
		t.Fatalf("time %d, want %d", IDTimeMs(prev), ms)
	}
	for i := 0; i < 10_000; i++ {
		id := NewID(ms)
		checkID(t, id)
		if bytes.Compare(prefix(prev), prefix(id)) >= 0 {
			t.Fatalf("id %d of one ms: %x after %x", i, id, prev)
		}
		prev = id
	}
	if got := IDTimeMs(prev); got != ms+2 {
		t.Errorf("10,001 ids of one ms end at time %d, want %d", got, ms+2)
	}
	// A little earlier than the latest id: it continues after it.
	if id := NewID(ms - 10); bytes.Compare(prefix(prev), prefix(id)) >= 0 {
		t.Errorf("a call 10 ms behind: %x after %x", id, prev)
	}
}

func TestNewIDConcurrent(t *testing.T) {
	const workers, each = 8, 5_000
	ids := make([][][16]byte, workers)
	var wg sync.WaitGroup
	for w := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ids[w] = append(ids[w], NewID(time.Now().UnixMilli()))
			}
		}()
	}
	wg.Wait()
	seen := make(map[string]bool, workers*each)
	for w, list := range ids {
		for i, id := range list {
			if i > 0 && bytes.Compare(prefix(list[i-1]), prefix(id)) >= 0 {
				t.Fatalf("worker %d id %d: %x after %x", w, i, id, list[i-1])
			}
			if seen[string(prefix(id))] {
				t.Fatalf("worker %d id %d: first 8 bytes %x seen before", w, i, prefix(id))
			}
			seen[string(prefix(id))] = true
		}
	}
}

func TestNewIDBackInTime(t *testing.T) {
	NewID(time.Now().UnixMilli())
	// A time long past (a backfill, a test's fixed time) keeps its time,
	// and ids of the same time still increase.
	const past = 1_600_000_000_000
	a, b, c := NewID(past), NewID(past), NewID(past+1)
	for _, id := range [][16]byte{a, b} {
		checkID(t, id)
		if IDTimeMs(id) != past {
			t.Errorf("time %d, want %d", IDTimeMs(id), past)
		}
	}
	if IDTimeMs(c) != past+1 {
		t.Errorf("time %d, want %d", IDTimeMs(c), past+1)
	}
	if bytes.Compare(prefix(a), prefix(b)) >= 0 || bytes.Compare(prefix(b), prefix(c)) >= 0 {
		t.Errorf("ids of a past time out of order: %x %x %x", a, b, c)
	}
	// The clock of now is untouched by them.
	now := time.Now().UnixMilli()
	if got := IDTimeMs(NewID(now)); got < now || got > now+1000 {
		t.Errorf("time %d after past ids, want about %d", got, now)
	}
}

func TestNewIDAllocs(t *testing.T) {
	ms := time.Now().UnixMilli()
	if n := testing.AllocsPerRun(1000, func() { NewID(ms) }); n != 0 {
		t.Errorf("NewID allocates %v times", n)
	}
}

func BenchmarkNewID(b *testing.B) {
	ms := time.Now().UnixMilli()
	b.ReportAllocs()
	for b.Loop() {
		NewID(ms)
	}
}

func BenchmarkNewIDParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			NewID(time.Now().UnixMilli())
		}
	})
}
