package event

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// wireVersion is the first byte of every encoded event. A processor refuses
// versions it does not know rather than guessing, so a collector upgraded
// ahead of its processors never has its events misread.
const wireVersion = 1

// Append encodes e onto dst and returns the extended slice:
//
//	version(1) id(16) time(varint) ingest(1) revenue(varint)
//	NumFields x (uvarint length, bytes)
//	uvarint nprops, nprops x (key, value) as above
//
// The field count is fixed by the version, so adding a field means a new
// version and a decoder that reads both.
func Append(dst []byte, e *Event) []byte {
	dst = append(dst, wireVersion)
	dst = append(dst, e.ID[:]...)
	dst = binary.AppendVarint(dst, e.TimeMs)
	dst = append(dst, byte(e.Ingest))
	dst = binary.AppendVarint(dst, e.Revenue)
	for i := range e.F {
		dst = appendBytes(dst, e.F[i])
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Props)))
	for _, p := range e.Props {
		dst = appendBytes(dst, p.Key)
		dst = appendBytes(dst, p.Value)
	}
	return dst
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// ErrMalformed is wrapped by every Decode error.
var ErrMalformed = errors.New("malformed event")

// Decode reads an event encoded by Append into e. The byte slices of e point
// into src, which must stay unchanged while e is used.
func Decode(src []byte, e *Event) error {
	e.Reset()
	d := decoder{b: src}
	if v := d.byte(); v != wireVersion {
		if d.err != nil {
			return d.err
		}
		return fmt.Errorf("%w: wire version %d, want %d", ErrMalformed, v, wireVersion)
	}
	copy(e.ID[:], d.take(16))
	e.TimeMs = d.varint()
	e.Ingest = Ingest(d.byte())
	e.Revenue = d.varint()
	for i := range e.F {
		e.F[i] = d.bytes(Specs[i].MaxLen)
	}
	n := d.uvarint()
	if n > MaxProps {
		return fmt.Errorf("%w: %d props, at most %d", ErrMalformed, n, MaxProps)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.bytes(MaxPropKeyLen)
		v := d.bytes(MaxPropValueLen)
		e.Props = append(e.Props, Prop{Key: k, Value: v})
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return nil
}

// decoder reads from b, remembering the first error so callers check once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s", ErrMalformed, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) take(n int) []byte {
	if len(d.b) < n {
		d.fail("bytes")
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(max int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) {
		d.fail(fmt.Sprintf("length %d over limit %d", n, max))
		return nil
	}
	if n == 0 {
		return nil
	}
	return d.take(int(n))
}
