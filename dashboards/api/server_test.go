package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestReadsCannotWrite: every store the reads hold is on the reader, and
// ClickHouse refuses the writes a GET used to make (the refreshes of the
// people table and of the session statistics) through it, so the report
// tests, which run on a read-only connection, cannot pass while a report
// writes. The writes hold the writable connection.
func TestReadsCannotWrite(t *testing.T) {
	// Not recorded for the current-ClickHouse check, which replays as a
	// user that may write: these writes are meant to fail.
	t.Setenv(chsql.RecordEnv, "")
	_, store := stacktest.ClickHouse(t)
	reader := stacktest.Reader(t, store)
	s := New(reader, store, Config{Rules: profiles.DefaultRules})
	if s.read.db != reader || s.read.people.DB() != reader {
		t.Fatal("the reads hold a connection other than the reader")
	}
	if s.write.people.DB() != store.DB() {
		t.Fatal("the writes do not hold the writable connection")
	}
	ctx := context.Background()
	stacktest.Insert(t, store, stacktest.Hit{At: time.Now(), Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "pageview", event.VisitorID: "v", event.SessionID: "s", event.URL: "https://shop.example/"}})
	readonly := func(what string, err error) {
		t.Helper()
		var ex *clickhouse.Exception
		if !errors.As(err, &ex) || ex.Code != 164 {
			t.Errorf("%s through the reads' connection: %v, want ClickHouse's readonly refusal (164)", what, err)
		}
	}
	_, err := s.read.people.Refresh(ctx, "shop")
	readonly("people refresh", err)
	_, err = s.read.sessions.Refresh(ctx, "shop")
	readonly("session statistics refresh", err)
}
