package event

import (
	"errors"
	"testing"
)

// TestProofOf: only the server API and a newsletter's token prove; a
// confirm through the server API is the person's confirmation; whatever a
// browser sends, of any type, is a claim.
func TestProofOf(t *testing.T) {
	cases := []struct {
		in   Ingest
		typ  string
		want string
	}{
		{IngestAPI, "subscribe", ProofServer},
		{IngestAPI, "identify", ProofServer},
		{IngestAPI, "confirm", ProofConfirmed},
		{IngestEmail, "unsubscribe", ProofLink},
		{IngestEmail, "email_click", ProofLink},
		{IngestBeacon, "subscribe", ProofClaim},
		{IngestBeacon, "confirm", ProofClaim},
		{IngestPixel, "unsubscribe", ProofClaim},
		{IngestPixel, "identify", ProofClaim},
		{0, "subscribe", ProofClaim},
	}
	for _, c := range cases {
		if got := ProofOf(c.in, []byte(c.typ)); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.in, c.typ, got, c.want)
		}
	}
}

// TestBrowserVisitorNotServers: a browser may not send a visitor id in the
// server's namespace (u:<user id>, a known person's); the server API and
// the processor's newsletter events may.
func TestBrowserVisitorNotServers(t *testing.T) {
	for _, c := range []struct {
		in      Ingest
		visitor string
		refused bool
	}{
		{IngestBeacon, "u:eve@example.invalid", true},
		{IngestPixel, "u:x", true},
		{IngestBeacon, "U:eve", false}, // another id: the prefix is the processor's, in lower case
		{IngestBeacon, "vu:eve", false},
		{IngestBeacon, "c-8e21bf98822cdc5f", false},
		{IngestAPI, "u:eve@example.invalid", false},
		{IngestEmail, "u:eve@example.invalid", false},
	} {
		var e Event
		e.Ingest = c.in
		e.F[Site], e.F[Type], e.F[VisitorID] = []byte("s"), []byte("purchase"), []byte(c.visitor)
		err := e.Validate()
		if refused := errors.Is(err, ErrReservedVisitor); refused != c.refused {
			t.Errorf("%s visitor %q: %v, want refused %v", c.in, c.visitor, err, c.refused)
		}
	}
}
