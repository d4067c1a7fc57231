package consume

import (
	"encoding/binary"
	"time"
)

// Exactly once into every table. An event can reach Kafka twice at other
// offsets (a producer retry after a lost acknowledgement, a collector
// replaying its log after a crash), and a partition is read again from
// its last commit after a processor crash or a rebalance. The copies carry
// the same event id, and the materialized views count every row that is
// inserted, so a copy must be dropped before the insert.
//
// The consumer remembers the ids it read from each partition (seenIDs, the
// latest DedupIDs of them): a copy of a remembered id is dropped at once.
// An id it does not remember is either new or the copy of an event read
// before its memory starts: before the oldest id it still holds, or before
// it took the partition over (a restart, a rebalance, a gap in offsets).
// Such an original went into Kafka before the message the memory starts
// with was read, and its id holds the collector's clock when it took the
// hit, which is earlier still. So only an id whose time is at most the
// memory's start (plus clockSkew) can be an unremembered copy, and only
// those are looked up in ClickHouse (Store.Existing), by event id, before
// the insert. Live traffic has ids newer than that and costs no look-up
// once the memory spans more than clockSkew of reading; after a takeover
// the backlog is looked up until the reading catches up with the present.
//
// Every copy of an event goes to the partition of its visitor's key (a
// pack takes its first event's key, and holds only events of its
// partition), so a per-partition memory sees both copies. Left open: a
// topic whose partition count changed between the copies, and two members
// writing copies from two partitions at the same moment.

// clockSkew is how far a collector's clock (in the event id) may run ahead
// of the processor's: the window of ids looked up past the memory's start.
const clockSkew = 30 * time.Second

// seenIDs remembers the latest limit event ids read from one partition.
type seenIDs struct {
	ids   map[[16]byte]struct{}
	ring  [][16]byte // in reading order from head once full
	at    []int64    // when each id of ring was read, Unix ms
	head  int        // oldest entry once the ring is full
	limit int
	// since is when the oldest id remembered was read (Unix ms, this
	// processor's clock): a copy of anything read before is not known.
	since int64
}

func newSeenIDs(limit int, now int64) *seenIDs {
	return &seenIDs{ids: map[[16]byte]struct{}{}, limit: max(limit, 1), since: now}
}

// reset forgets every id, for a partition read again from elsewhere than
// where the memory left it.
func (s *seenIDs) reset(now int64) {
	clear(s.ids)
	s.ring, s.at, s.head, s.since = s.ring[:0], s.at[:0], 0, now
}

// add remembers id, read at now (Unix ms), and says whether it was
// remembered already.
func (s *seenIDs) add(id [16]byte, now int64) (seen bool) {
	if _, ok := s.ids[id]; ok {
		return true
	}
	if len(s.ring) < s.limit {
		s.ring, s.at = append(s.ring, id), append(s.at, now)
	} else {
		delete(s.ids, s.ring[s.head])
		s.ring[s.head], s.at[s.head] = id, now
		s.head = (s.head + 1) % s.limit
		s.since = s.at[s.head]
	}
	s.ids[id] = struct{}{}
	return false
}

// unsure says whether an id that is not remembered may be the copy of an
// event read before the memory starts, and so must be looked up.
func (s *seenIDs) unsure(id [16]byte) bool {
	ms, ok := idMillis(id)
	return !ok || ms <= s.since+clockSkew.Milliseconds()
}

// idMillis is the Unix millisecond time a UUIDv7 holds (internal/event
// NewID); ok is false for another kind of id, which is always looked up.
func idMillis(id [16]byte) (ms int64, ok bool) {
	if id[6]>>4 != 7 {
		return 0, false
	}
	var b [8]byte
	copy(b[2:], id[:6])
	return int64(binary.BigEndian.Uint64(b[:])), true
}
