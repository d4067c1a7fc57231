package ratelimit

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func addr(s string) Key { return AddrKey(netip.MustParseAddr(s)) }

// TestBucket: a key takes its burst at once, then its rate; a refusal
// says when the tokens will be there and takes none; keys are apart.
func TestBucket(t *testing.T) {
	tb := New(10, 20, 100)
	a, b := addr("203.0.113.7"), addr("203.0.113.8")
	for i := range 20 {
		if ok, _ := tb.Allow(a, 1, t0); !ok {
			t.Fatalf("hit %d of the burst refused", i)
		}
	}
	ok, retry := tb.Allow(a, 1, t0)
	if ok || retry != 100*time.Millisecond {
		t.Fatalf("21st hit: %v, retry after %v, want 100ms", ok, retry)
	}
	if ok, retry := tb.Allow(a, 5, t0.Add(200*time.Millisecond)); ok || retry != 300*time.Millisecond {
		t.Errorf("5 after 200ms: %v %v, want a refusal and 300ms", ok, retry)
	}
	if ok, _ := tb.Allow(a, 2, t0.Add(200*time.Millisecond)); !ok {
		t.Error("the 2 tokens refilled in 200ms refused")
	}
	if ok, _ := tb.Allow(b, 20, t0); !ok {
		t.Error("another address shares the bucket")
	}
	// More than the burst asks for the whole bucket.
	if ok, _ := tb.Allow(addr("198.51.100.1"), 500, t0); !ok {
		t.Error("a batch larger than the burst, from a full bucket")
	}
	if ok, _ := tb.Allow(a, 1, t0.Add(time.Hour)); !ok {
		t.Error("refilled after an hour")
	}
}

// TestIPv6ByPrefix: the addresses of one /64 share a bucket.
func TestIPv6ByPrefix(t *testing.T) {
	if addr("2001:db8:1:2::1") != addr("2001:db8:1:2:ffff::9") || addr("2001:db8:1:2::1") == addr("2001:db8:1:3::1") {
		t.Error("IPv6 keys are not by /64")
	}
	if addr("::ffff:203.0.113.7") != addr("203.0.113.7") || addr("203.0.113.7") == addr("203.0.113.8") {
		t.Error("IPv4 keys are not whole addresses")
	}
}

// TestBounded: a table holds a fixed number of slots, whatever the keys;
// a key pushed out by many others comes back with a full bucket, one in
// use stays.
func TestBounded(t *testing.T) {
	tb := New(1, 5, 64)
	if n := len(tb.sets) * ways; n != 64 {
		t.Fatalf("%d slots for 64 keys", n)
	}
	hot := tb.KeyOf([]byte("hot"))
	tb.Allow(hot, 5, t0)
	now := t0
	for i := range 100_000 {
		now = now.Add(time.Microsecond)
		tb.Allow(tb.KeyOf([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), 1, now)
	}
	if len(tb.sets)*ways != 64 {
		t.Fatal("the table grew")
	}
	// hot was evicted by the flood (it was idle): its bucket is full again.
	if ok, _ := tb.Allow(hot, 5, now); !ok {
		t.Error("an evicted key came back without its burst")
	}
	// A key in use keeps its bucket while others come and go in its set.
	busy := tb.KeyOf([]byte("busy"))
	tb.Allow(busy, 5, now)
	for i := range 7 {
		now = now.Add(time.Microsecond)
		tb.Allow(busy, 0, now)
		tb.Allow(tb.KeyOf([]byte{'x', byte(i)}), 1, now)
	}
	if ok, _ := tb.Allow(busy, 1, now); ok {
		t.Error("a key in use lost its empty bucket")
	}
}

func TestNilAllowsAll(t *testing.T) {
	var tb *Table
	if ok, _ := tb.Allow(addr("203.0.113.7"), 1_000_000, t0); !ok || New(0, 10, 10) != nil {
		t.Error("no limit refused")
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	tb := New(1e9, 1e9, 1000)
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		i++
		tb.Allow(AddrKey(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})), 1, t0)
		tb.Allow(tb.KeyOf([]byte("demo")), 1, t0)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestConcurrent(t *testing.T) {
	tb := New(1, 100, 1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if ok, _ := tb.Allow(addr("203.0.113.7"), 1, t0); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
				tb.Allow(AddrKey(netip.AddrFrom4([4]byte{10, 0, 0, byte(g)})), 1, t0)
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Errorf("%d of 800 allowed, want the burst of 100", allowed)
	}
}
