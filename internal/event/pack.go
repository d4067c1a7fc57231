package event

import (
	"encoding/binary"
	"fmt"
)

// packVersion is the first byte of a Kafka record that holds several
// encoded events instead of one:
//
//	packVersion(1) then, until the end, uvarint length, event (as Append)
//
// A record costs the processor's Kafka reader about the same whatever its
// size, so the collector puts a batch's events for one partition into one
// record. Processors read both forms; one that predates packs rejects them
// into events_rejected, whole, rather than misreading them.
const packVersion = 2

// StartPack begins a pack on dst.
func StartPack(dst []byte) []byte { return append(dst, packVersion) }

// AppendPacked adds one event, encoded by Append, to a pack begun by
// StartPack.
func AppendPacked(dst, encoded []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(encoded)))
	return append(dst, encoded...)
}

// PackedSize is what AppendPacked adds for an encoded event of n bytes.
func PackedSize(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n)) + n
}

// IsPack reports whether a record's value is a pack rather than one event.
func IsPack(value []byte) bool { return len(value) > 0 && value[0] == packVersion }

// Unpack calls fn with each encoded event of a pack, in order, each pointing
// into pack. An entry whose length runs past the end stops it: the events
// before it have been passed to fn, and the unreadable rest is returned with
// the error, to be kept as it is.
func Unpack(pack []byte, fn func(encoded []byte)) (unread []byte, err error) {
	if !IsPack(pack) {
		return pack, fmt.Errorf("%w: not a pack", ErrMalformed)
	}
	rest := pack[1:]
	for len(rest) > 0 {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return rest, fmt.Errorf("%w: pack entry length runs past the last %d bytes", ErrMalformed, len(rest))
		}
		fn(rest[k : k+int(n) : k+int(n)])
		rest = rest[k+int(n):]
	}
	return nil, nil
}
