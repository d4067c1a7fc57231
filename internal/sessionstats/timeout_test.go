package sessionstats_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/internal/sessionstats"
	"footfall/tests/stacktest"
)

// TestRefreshOutlivesReadTimeout: the people and session refreshes,
// their batch inserts included, run whole on a connection whose read
// timeout (chsql.Config.ReadTimeout, clickhouse-go's limit on a statement
// whose context has no deadline) is shorter than any statement, as the
// people table's whole rebuild at 100M events outlived the default 60 s:
// their own deadline (refresh.Bound) carries them.
func TestRefreshOutlivesReadTimeout(t *testing.T) {
	cfg, store := stacktest.ClickHouse(t)
	h9 := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	stacktest.Insert(t, store, stacktest.Hit{At: h9, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview",
		event.VisitorID: "a", event.SessionID: "s1", event.URL: "https://shop.example/"}})
	cfg.ReadTimeout = time.Nanosecond
	open, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	short, err := chsql.Open(open, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	ctx := context.Background()
	people := profiles.NewStore(short, profiles.DefaultRules)
	// The connection does time out a statement without a deadline.
	if _, _, err := people.Labels(ctx, "shop"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a statement without a deadline on a 1 ns read timeout: %v, want a timeout (the test proves nothing)", err)
	}
	if _, err := people.Refresh(ctx, "shop"); err != nil {
		t.Errorf("people refresh: %v", err)
	}
	if _, err := sessionstats.NewStore(short).Refresh(ctx, "shop"); err != nil {
		t.Errorf("session stats refresh: %v", err)
	}
	got, err := sessionstats.NewStore(store.DB()).Period(ctx, "shop", h9, h9.Add(time.Hour))
	if want := (sessionstats.Stats{Sessions: 1, NewSessions: 1, Bounces: 1}); err != nil || got != want {
		t.Errorf("stats %+v %v, want %+v", got, err, want)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM people WHERE site_id = 'shop'"); n != 1 {
		t.Errorf("%d people rows, want 1", n)
	}
}
