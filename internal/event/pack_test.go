package event

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
)

func TestPackRoundTrip(t *testing.T) {
	var encoded [][]byte
	pack := StartPack(nil)
	for i := 0; i < 300; i++ { // enough for two-byte lengths
		e := sample()
		e.F[VisitorID] = []byte("v-" + strconv.Itoa(i))
		enc := Append(nil, e)
		encoded = append(encoded, enc)
		before := len(pack)
		pack = AppendPacked(pack, enc)
		if got := len(pack) - before; got != PackedSize(len(enc)) {
			t.Fatalf("PackedSize(%d) = %d, AppendPacked added %d", len(enc), PackedSize(len(enc)), got)
		}
	}
	if !IsPack(pack) || IsPack(encoded[0]) || IsPack(nil) {
		t.Fatal("IsPack does not tell a pack from one event")
	}
	var got [][]byte
	if unread, err := Unpack(pack, func(enc []byte) { got = append(got, enc) }); err != nil || unread != nil {
		t.Fatalf("Unpack: %v (%d bytes unread)", err, len(unread))
	}
	if len(got) != len(encoded) {
		t.Fatalf("unpacked %d events, packed %d", len(got), len(encoded))
	}
	for i := range got {
		if !bytes.Equal(got[i], encoded[i]) {
			t.Fatalf("event %d differs", i)
		}
		var e Event
		if err := Decode(got[i], &e); err != nil || string(e.F[VisitorID]) != "v-"+strconv.Itoa(i) {
			t.Fatalf("event %d: %v, visitor %q", i, err, e.F[VisitorID])
		}
	}
}

func TestUnpackKeepsWhatItCannotRead(t *testing.T) {
	first := Append(nil, sample())
	pack := AppendPacked(StartPack(nil), first)
	good := len(pack)
	pack = AppendPacked(pack, Append(nil, sample()))
	cut := pack[:len(pack)-5] // the second entry's length now runs past the end
	var n int
	unread, err := Unpack(cut, func([]byte) { n++ })
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if n != 1 || !bytes.Equal(unread, cut[good:]) {
		t.Fatalf("passed %d events and returned %d unread bytes; want 1 and the second entry's %d", n, len(unread), len(cut)-good)
	}
	if unread, err := Unpack(first, func([]byte) { n++ }); err == nil || !bytes.Equal(unread, first) {
		t.Fatalf("a single event unpacked: err %v", err)
	}
	// An empty pack is valid and holds nothing.
	if _, err := Unpack(StartPack(nil), func([]byte) { t.Fatal("event in an empty pack") }); err != nil {
		t.Fatal(err)
	}
}
