package event

import (
	"encoding/hex"
	"math/rand/v2"
)

// NewID returns a UUIDv7 for the given Unix millisecond time: 48 bits of
// time, then random bits, so ids sort by time and never collide in practice.
// It does not allocate; math/rand/v2's global source is per-thread and safe
// for concurrent use.
func NewID(ms int64) [16]byte {
	var id [16]byte
	a, b := rand.Uint64(), rand.Uint64()
	id[0] = byte(ms >> 40)
	id[1] = byte(ms >> 32)
	id[2] = byte(ms >> 24)
	id[3] = byte(ms >> 16)
	id[4] = byte(ms >> 8)
	id[5] = byte(ms)
	id[6] = 0x70 | byte(a>>60)&0x0f // version 7
	id[7] = byte(a >> 52)
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

// IDTimeMs returns the Unix millisecond time encoded in a UUIDv7.
func IDTimeMs(id [16]byte) int64 {
	return int64(id[0])<<40 | int64(id[1])<<32 | int64(id[2])<<24 |
		int64(id[3])<<16 | int64(id[4])<<8 | int64(id[5])
}
