package event

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzUnpack: no pack panics the decoder; an entry is passed whole or the
// rest is returned with ErrMalformed; what a pack's entries decode to
// survives a second trip unchanged.
func FuzzUnpack(f *testing.F) {
	one := Append(nil, sample())
	f.Add(AppendPacked(AppendPacked(StartPack(nil), one), one))
	f.Add(StartPack(nil))
	f.Add(AppendPacked(StartPack(nil), one)[:len(one)/2])
	f.Add(one)
	f.Add([]byte{packVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{packVersion, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 1
		unread, err := Unpack(b, func(enc []byte) {
			if len(enc) > len(b) {
				t.Fatalf("an entry of %d bytes from a pack of %d", len(enc), len(b))
			}
			total += len(enc)
			var e Event
			if Decode(enc, &e) != nil {
				return
			}
			var again Event
			if err := Decode(Append(nil, &e), &again); err != nil || !reflect.DeepEqual(normal(&e), normal(&again)) {
				t.Fatalf("a packed event does not survive a second trip: %v", err)
			}
		})
		switch {
		case err == nil && unread != nil:
			t.Fatal("no error, yet bytes unread")
		case err != nil && !errors.Is(err, ErrMalformed):
			t.Fatalf("error %v is not ErrMalformed", err)
		case err != nil && !bytes.HasSuffix(b, unread):
			t.Fatal("the unread bytes are not the pack's end")
		}
	})
}
