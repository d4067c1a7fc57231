package event

import (
	"encoding/hex"
	"math/rand/v2"
	"sync/atomic"
)

// NewID returns a UUIDv7 for the given Unix millisecond time: 48 bits of
// time, the version, a 12-bit counter, then 62 random bits (RFC 9562,
// §6.2 method 1). The counter orders the ids of one millisecond, so that
// the first 8 bytes of the ids a process makes increase in the order it
// made them, events of one request included: the funnels order events of
// the same second by them (dashboards/api, qFunnel).
//
// The ids of a millisecond count 0, 1, 2, ...; past 4,095 the counter
// carries into the time field. A call for a time up to a second behind the
// latest id made (another goroutine read the clock a little later, or a
// carry) continues after that id, so its time field may run ahead of ms
// by that much; a call further back in time (a backfill, a test's fixed
// time) keeps its own time and counts on a separate clock, whose ids
// increase for calls with the same or increasing ms. Ids never collide in
// practice: the random bits see to that across processes.
//
// It does not allocate and is safe for concurrent use; math/rand/v2's
// global source is per-thread.
func NewID(ms int64) [16]byte {
	want := uint64(ms) << counterBits
	t, ok := nextTick(&idClock, want, false)
	if !ok {
		t, _ = nextTick(&idBackClock, want, true)
	}
	var id [16]byte
	b := rand.Uint64()
	id[0] = byte(t >> 52)
	id[1] = byte(t >> 44)
	id[2] = byte(t >> 36)
	id[3] = byte(t >> 28)
	id[4] = byte(t >> 20)
	id[5] = byte(t >> 12)
	id[6] = 0x70 | byte(t>>8)&0x0f // version 7, then the counter
	id[7] = byte(t)
	id[8] = 0x80 | byte(b>>58)&0x3f // RFC 4122 variant
	id[9] = byte(b >> 50)
	id[10] = byte(b >> 42)
	id[11] = byte(b >> 34)
	id[12] = byte(b >> 26)
	id[13] = byte(b >> 18)
	id[14] = byte(b >> 10)
	id[15] = byte(b >> 2)
	return id
}

const (
	counterBits = 12
	// maxLag is how far behind the latest id, in ticks (ms<<12|counter),
	// a call may ask and still continue after it.
	maxLag = 1000 << counterBits
)

// idClock is the last tick (ms<<12 | counter) NewID handed out;
// idBackClock the last one of the calls too far behind it.
var idClock, idBackClock atomic.Uint64

// nextTick takes the tick after the last one of clock for a call at want
// (ms<<12): want itself when it is later, else the last one plus one, as
// long as that is less than maxLag ahead of want. Further behind, it
// refuses, or with reset starts clock again at want.
func nextTick(clock *atomic.Uint64, want uint64, reset bool) (uint64, bool) {
	for {
		last := clock.Load()
		next := want
		if want <= last {
			if last-want >= maxLag && !reset {
				return 0, false
			}
			if last-want < maxLag {
				next = last + 1
			}
		}
		if clock.CompareAndSwap(last, next) {
			return next, true
		}
	}
}

// IDString formats id as the canonical 36-character UUID text.
func IDString(id [16]byte) string {
	return string(AppendID(make([]byte, 0, 36), id))
}

// AppendID appends the canonical UUID text of id to dst.
func AppendID(dst []byte, id [16]byte) []byte {
	var buf [36]byte
	hex.Encode(buf[0:8], id[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], id[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], id[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], id[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], id[10:])
	return append(dst, buf[:]...)
}

// IDTimeMs returns the Unix millisecond time encoded in a UUIDv7: the time
// NewID was given, or up to a second after it (see NewID).
func IDTimeMs(id [16]byte) int64 {
	return int64(id[0])<<40 | int64(id[1])<<32 | int64(id[2])<<24 |
		int64(id[3])<<16 | int64(id[4])<<8 | int64(id[5])
}

// DerivedID returns a UUIDv7 for the Unix millisecond time ms whose other
// bits are taken from sum, a hash of the event: the same event at the same
// time has the same id, so that history sent twice is stored once (the
// processor drops a copy of a stored id). Ids of one millisecond are in
// the order of their hashes.
func DerivedID(ms int64, sum [32]byte) [16]byte {
	var id [16]byte
	t := uint64(ms)
	id[0] = byte(t >> 40)
	id[1] = byte(t >> 32)
	id[2] = byte(t >> 24)
	id[3] = byte(t >> 16)
	id[4] = byte(t >> 8)
	id[5] = byte(t)
	copy(id[6:], sum[:10])
	id[6] = 0x70 | id[6]&0x0f // version 7
	id[8] = 0x80 | id[8]&0x3f // RFC 4122 variant
	return id
}
