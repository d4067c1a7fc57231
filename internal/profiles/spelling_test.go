package profiles

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// qTestLegacyRow is an event stored by an older version, which kept the
// user id as typed.
var qTestLegacyRow = chsql.New("profiles.test_legacy_row", `INSERT INTO events (event_id, time, site_id, type, visitor_id, session_id, user_id, url, ingest)
SELECT toUUID(@id), now() - 86400, 'shop', 'sign_up', @visitor, @session, @user, 'https://shop.example/account', 'api'`)

// TestOlderSpellings: rows whose user id an older version stored as typed
// (capitals, spaces) are the person's: exported and erased with the
// address however it is asked for; another person's rows stay.
func TestOlderSpellings(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, r := range [][3]string{
		{"ann-old-browser", "ann-old-s1", "Ann.Old@Mail.Example"},
		{"ann-older-browser", "ann-old-s2", "  ANN.OLD@mail.EXAMPLE "},
		{"ann-accent", "ann-old-s3", "José.Old@Café.Example"},
		{"bob-browser", "bob-s1", "Bob.Old@Mail.Example"},
	} {
		id := fmt.Sprintf("6f1c2a9e-1b2c-4d5e-8f90-%012d", i)
		if err := store.DB().Exec(ctx, qTestLegacyRow, chsql.Args{"id": id, "visitor": r[0], "session": r[1], "user": r[2]}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	stacktest.Insert(t, store, stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "purchase", event.VisitorID: "ann-new", event.UserID: "Ann.Old@Mail.Example",
		event.OrderID: "L-1", event.URL: "https://shop.example/"}, Revenue: 1})
	s := NewStore(store.DB(), DefaultRules)
	x, err := s.Export(ctx, "shop", Ref{UserID: "ANN.old@Mail.example"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"ann-old-browser", "ann-older-browser", "ann-new"} {
		if !slices.Contains(x.Identifiers.Visitors, v) {
			t.Errorf("export by another spelling misses visitor %s: %v", v, x.Identifiers.Visitors)
		}
	}
	if _, err := s.Erase(ctx, "shop", Ref{UserID: "ann.old@mail.example"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Erase(ctx, "shop", Ref{UserID: "josé.old@café.example"}); err != nil {
		t.Fatal(err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id != 'bob-browser'"); n != 0 {
		t.Errorf("%d events of Ann survive her erasure (stored in older spellings)", n)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'bob-browser'"); n != 1 {
		t.Errorf("Bob's events: %d, want 1", n)
	}
}
