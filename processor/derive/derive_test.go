package derive

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/internal/sessionstats"
	"footfall/tests/stacktest"
)

func view(site, visitor, session string, at time.Time) stacktest.Hit {
	return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: site, event.Type: "pageview",
		event.VisitorID: visitor, event.SessionID: session, event.URL: "https://" + site + ".example/"}}
}

// people counts the people of site as a dashboard reads them.
func people(t *testing.T, read *profiles.Store, site string) uint64 {
	t.Helper()
	sql, args, err := read.Query(site).SQL()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := read.DB().QueryRow(context.Background(), qTestCount.With(map[string]string{"people": sql}), args).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var qTestCount = chsql.New("derive.test_count", `SELECT count() FROM ({{people}})`)

// TestRound: one round refreshes the session statistics and the people of
// every site with events, which the read-only connection then reads, and
// marks both kinds fresh.
func TestRound(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	reader := stacktest.Reader(t, store)
	ctx := context.Background()
	h9 := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	stacktest.Insert(t, store,
		view("shop", "a", "s1", h9), view("shop", "a", "s1", h9.Add(time.Minute)),
		view("shop", "b", "s2", h9.Add(time.Hour)),
		view("blog", "c", "s3", h9))
	r := New(profiles.NewStore(store.DB(), profiles.DefaultRules), Config{Interval: time.Second})
	read := profiles.NewStore(reader, profiles.DefaultRules)
	stats := sessionstats.NewStore(reader)
	if n := people(t, read, "shop"); n != 0 {
		t.Fatalf("%d people before any refresh", n)
	}
	errorsBefore := testutil.ToFloat64(refreshErrors.WithLabelValues(People))
	if err := r.Round(ctx); err != nil {
		t.Fatal(err)
	}
	for site, want := range map[string]uint64{"shop": 2, "blog": 1} {
		if n := people(t, read, site); n != want {
			t.Errorf("%s: %d people after a round, want %d", site, n, want)
		}
		st, err := stats.Period(ctx, site, h9, h9.Add(24*time.Hour))
		if err != nil || st.Sessions != want {
			t.Errorf("%s: %+v %v after a round, want %d sessions", site, st, err, want)
		}
	}
	for _, k := range kinds {
		if age := Age(k); age > 5*time.Second {
			t.Errorf("%s refreshed %v ago, just after a round", k, age)
		}
	}
	if got := testutil.ToFloat64(refreshErrors.WithLabelValues(People)); got != errorsBefore {
		t.Errorf("%v refresh errors counted in a round that succeeded", got-errorsBefore)
	}
}

// TestRoundErrors: refreshes that ClickHouse refuses (here, through the
// read-only user) are counted and returned, and leave both kinds stale.
func TestRoundErrors(t *testing.T) {
	// Not recorded for the current-ClickHouse check: these writes are meant
	// to be refused, which a replay as a user that may write would not do.
	t.Setenv(chsql.RecordEnv, "")
	_, store := stacktest.ClickHouse(t)
	stacktest.Insert(t, store, view("shop", "a", "s1", time.Now()))
	r := New(profiles.NewStore(stacktest.Reader(t, store), profiles.DefaultRules), Config{Interval: time.Second})
	before := map[string]float64{}
	for _, k := range kinds {
		completed[k].Store(time.Now().Add(-time.Hour).UnixNano())
		before[k] = testutil.ToFloat64(refreshErrors.WithLabelValues(k))
	}
	if err := r.Round(context.Background()); err == nil {
		t.Fatal("a round through a read-only connection succeeded")
	}
	for _, k := range kinds {
		if got := testutil.ToFloat64(refreshErrors.WithLabelValues(k)) - before[k]; got != 1 {
			t.Errorf("%s: %v errors counted, want 1", k, got)
		}
		if age := Age(k); age < time.Hour {
			t.Errorf("%s: age %v after a failed round, want the hour since the last one that completed", k, age)
		}
	}
}

// TestRunUntilShutdown: Run refreshes on its timer, so new events reach
// the people table without anyone reading, and returns once ctx ends.
func TestRunUntilShutdown(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	read := profiles.NewStore(stacktest.Reader(t, store), profiles.DefaultRules)
	r := New(profiles.NewStore(store.DB(), profiles.DefaultRules), Config{Interval: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	stacktest.Insert(t, store, view("shop", "a", "s1", time.Now()))
	deadline := time.Now().Add(10 * time.Second)
	for people(t, read, "shop") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the new visitor is not in the people table 10 s after the insert")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10 s after its context ended")
	}
}
