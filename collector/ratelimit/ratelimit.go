// Package ratelimit keeps a token bucket (golang.org/x/time/rate) per key,
// a client address or a site, in a table of fixed size: its memory is
// bounded whatever the number of keys, and a hit costs no allocation,
// also for a key never seen before.
//
// The table is set-associative: a key's hash picks a set of a few slots,
// and a key not in its set takes the set's least recently used slot. A
// key evicted that way forgets its bucket, as an expiring map would: it
// comes back with a full one. Evicted keys are the idle ones, whose
// buckets had mostly filled up again anyway, unless far more keys are
// active at once than the table holds; size it above the number of
// clients active within a burst's time.
package ratelimit

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Key names a bucket: an address (AddrKey) or any bytes (Table.KeyOf).
type Key [16]byte

// AddrKey is the key of a client address: an IPv4 address whole, an IPv6
// address by its /64, the block one subscriber line or host is given, so
// that moving within it does not give a client a new bucket.
func AddrKey(a netip.Addr) Key {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a.As16()
}

// ways is the number of slots per set.
const ways = 8

// Table holds the buckets. A nil *Table allows everything.
type Table struct {
	limit rate.Limit
	burst int
	seed  maphash.Seed
	seed2 maphash.Seed
	mask  uint64
	sets  []set
}

type set struct {
	mu    sync.Mutex
	slots [ways]slot
}

type slot struct {
	key  Key
	used int64 // the last use, UnixNano; 0 is a free slot
	lim  rate.Limiter
}

// New returns a table of buckets refilled at perSecond tokens a second
// and holding burst at most, for at least keys keys; nil (no limit) when
// perSecond is 0 or less.
func New(perSecond float64, burst, keys int) *Table {
	if perSecond <= 0 {
		return nil
	}
	n := 1
	for n*ways < keys {
		n *= 2
	}
	t := &Table{limit: rate.Limit(perSecond), burst: max(burst, 1), seed: maphash.MakeSeed(), seed2: maphash.MakeSeed(),
		mask: uint64(n - 1), sets: make([]set, n)}
	return t
}

// Burst is the most tokens a bucket holds; nil's is unbounded.
func (t *Table) Burst() int {
	if t == nil {
		return math.MaxInt
	}
	return t.burst
}

// KeyOf is the key of b (a site id): 128 bits of two seeded hashes, so
// that two ids share a bucket with odds of 1 in 2^128.
func (t *Table) KeyOf(b []byte) Key {
	var k Key
	h1, h2 := maphash.Bytes(t.seed, b), maphash.Bytes(t.seed2, b)
	for i := range 8 {
		k[i], k[8+i] = byte(h1>>(8*i)), byte(h2>>(8*i))
	}
	return k
}

// Allow takes n tokens from k's bucket at now. When it holds fewer, it
// takes none and says how long until it would hold n (n is at most the
// burst: a larger n asks for the whole bucket).
func (t *Table) Allow(k Key, n int, now time.Time) (ok bool, retryAfter time.Duration) {
	if t == nil || n <= 0 {
		return true, 0
	}
	n = min(n, t.burst)
	s := &t.sets[maphash.Bytes(t.seed, k[:])&t.mask]
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.find(k, t)
	sl.used = now.UnixNano()
	if sl.lim.AllowN(now, n) {
		return true, 0
	}
	missing := float64(n) - sl.lim.TokensAt(now)
	return false, time.Duration(math.Ceil(missing / float64(t.limit) * float64(time.Second)))
}

// find returns k's slot in s, taking the least recently used one, with a
// full bucket, when k has none.
func (s *set) find(k Key, t *Table) *slot {
	oldest := &s.slots[0]
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.used != 0 && sl.key == k {
			return sl
		}
		if sl.used < oldest.used {
			oldest = sl
		}
	}
	oldest.key = k
	// A zero Limiter with its limit and burst set at the zero time: its
	// last update is then the zero time, so its first use finds it full.
	oldest.lim = rate.Limiter{}
	oldest.lim.SetLimitAt(time.Time{}, t.limit)
	oldest.lim.SetBurstAt(time.Time{}, t.burst)
	return oldest
}
