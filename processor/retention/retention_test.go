package retention

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/internal/sessionstats"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// TestRetention: four sites with their periods (short 30 days, long 400,
// forever 0, and one the periods do not name, which keeps the default
// 90), visits spread over a year. After a round, the rows older than each
// site's period are gone from the events and from every rollup, the newer
// ones all there; the month only expired sites hold is dropped as a
// partition, the months other sites still keep lose the expired sites'
// rows by deletion; a second round finds nothing to do.
func TestRetention(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	days := map[string]int{"short": 30, "long": 400, "forever": 0}
	cutoff := map[string]time.Time{
		"short":   time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC),
		"long":    time.Date(2025, 10, 26, 0, 0, 0, 0, time.UTC),
		"forever": {},
		"other":   time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC),
	}
	visits := map[string][]time.Time{
		// January: short's and other's alone, expired for both: dropped.
		"short": {date(2026, 1, 10), date(2026, 3, 5), date(2026, 10, 20), date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 20)},
		"other": {date(2026, 1, 12), date(2026, 8, 31), date(2026, 9, 1), date(2026, 11, 2)},
		// March, August and October are shared with sites that keep theirs.
		"long":    {date(2025, 10, 25), date(2025, 10, 26), date(2026, 3, 6), date(2026, 10, 21)},
		"forever": {date(2024, 2, 1), date(2026, 8, 30), date(2026, 10, 22)},
	}
	var hits []stacktest.Hit
	for site, at := range visits {
		for i, a := range at {
			v := fmt.Sprintf("%s-%d", site, i)
			hits = append(hits, stacktest.Hit{At: a, Fields: map[event.Field]string{event.Site: site, event.Type: "pageview",
				event.VisitorID: v, event.SessionID: v + "-s", event.URL: "https://" + site + ".example/?utm_source=news"}},
				stacktest.Hit{At: a, Fields: map[event.Field]string{event.Site: site, event.Type: "product_view",
					event.VisitorID: v, event.SessionID: v + "-s", event.URL: "https://" + site + ".example/p/1"}, Props: []string{"id", "P1", "category", "shoes"}},
				stacktest.Hit{At: a, Revenue: 1_000_000, Fields: map[event.Field]string{event.Site: site, event.Type: "purchase",
					event.VisitorID: v, event.SessionID: v + "-s", event.OrderID: v, event.Currency: "EUR"}})
		}
	}
	stacktest.Insert(t, store, hits...)
	// The rollups the processor's jobs fill, written as they write them.
	ctx := context.Background()
	sessions := sessionstats.NewStore(store.DB())
	for site := range visits {
		if _, err := sessions.Refresh(ctx, site); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		"INSERT INTO sessions_hourly (site_id, hour, sessions, version)",
		"INSERT INTO segment_sizes (site_id, time, members, seq)",
	} {
		b, err := store.DB().Driver().PrepareBatch(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for site, at := range visits {
			for _, a := range at {
				if err := b.Append(site, a, uint64(1), uint64(1)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	// A whole rebuild summarizes only its last days' sessions
	// (sessionstats): the older ones' summaries, as a later refresh of
	// theirs writes them.
	b, err := store.DB().Driver().PrepareBatch(ctx, "INSERT INTO session_summaries (site_id, hour, session_id, started_at, sessions, version)")
	if err != nil {
		t.Fatal(err)
	}
	for site, at := range visits {
		for i, a := range at {
			if err := b.Append(site, a, fmt.Sprintf("%s-%d-s", site, i), a, uint8(1), uint64(1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	// older is the condition of a site's rows older than its period.
	older := func(tb table, site string) string {
		if cutoff[site].IsZero() {
			return "0"
		}
		if tb.date {
			return fmt.Sprintf("%s < toDate('%s')", tb.time, cutoff[site].Format(time.DateOnly))
		}
		return fmt.Sprintf("%s < toDateTime('%s')", tb.time, cutoff[site].Format(time.DateTime))
	}
	type before struct{ all, old uint64 }
	was := map[string]before{}
	for _, tb := range tables {
		for site := range visits {
			b := before{all: count(t, store, tb, site, "1"), old: count(t, store, tb, site, older(tb, site))}
			if b.all == b.old || site != "forever" && b.old == 0 {
				t.Fatalf("%s holds %d rows of %s, %d past its period: the test would prove nothing there", tb.name, b.all, site, b.old)
			}
			was[tb.name+":"+site] = b
		}
	}

	j := New(store.DB(), Config{Days: 90, Interval: time.Hour}, func(context.Context) (map[string]int, error) { return days, nil })
	j.now = func() time.Time { return now }
	res, err := j.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitMutations(t, store)

	for _, tb := range tables {
		if tb.monthly && !slices.Contains(res.Dropped, tb.name+":202601") {
			t.Errorf("%s: January not dropped as a partition (dropped %v)", tb.name, res.Dropped)
		}
		for _, site := range []string{"short", "other"} {
			if !slices.Contains(res.Deleted, tb.name+":"+site) {
				t.Errorf("%s: %s's rows in shared months not deleted (deleted %v)", tb.name, site, res.Deleted)
			}
		}
		for site := range visits {
			if n := count(t, store, tb, site, older(tb, site)); n != 0 {
				t.Errorf("%s: %d rows of %s older than its period left", tb.name, n, site)
			}
			b := was[tb.name+":"+site]
			if n := count(t, store, tb, site, "1"); n != b.all-b.old {
				t.Errorf("%s: %d rows of %s, want the %d within its period", tb.name, n, site, b.all-b.old)
			}
		}
	}

	// Nothing left to do: no drop, no deletion (no mutation rewriting
	// parts every hour).
	if res, err := j.Round(ctx); err != nil || len(res.Dropped)+len(res.Deleted) != 0 {
		t.Errorf("second round: %+v %v", res, err)
	}
	// Without any period nothing is read nor dropped.
	none := New(store.DB(), Config{Interval: time.Hour}, nil)
	if res, err := none.Round(ctx); err != nil || len(res.Dropped)+len(res.Deleted) != 0 {
		t.Errorf("no periods: %+v %v", res, err)
	}
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 10, 0, 0, 0, time.UTC) }

// count counts the rows of a site in a table that match where (rollups'
// rows counted as stored: each visit is its own hour, day and visitor).
func count(t *testing.T, store *chstore.Store, tb table, site, where string) uint64 {
	t.Helper()
	return stacktest.Count(t, store, fmt.Sprintf("SELECT count() FROM %s WHERE site_id = ? AND %s", tb.name, where), site)
}

func waitMutations(t *testing.T, store *chstore.Store) {
	t.Helper()
	const q = "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0"
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if stacktest.Count(t, store, q) == 0 {
			return
		}
	}
	t.Fatalf("%d deletions not applied after 2 minutes", stacktest.Count(t, store, q))
}

// notKept are the tables with a site's per-visitor rows that retention
// leaves, each with why.
var notKept = map[string]string{
	"consents":         "the consent ledger: the proof of each consent, kept as long as the consent stands",
	"visitor_profiles": "a person's profile: the erasure removes it",
	"identities":       "which visitor is which user: the erasure removes it",
	"identity_claims":  "a browser's claims of a user id: the erasure removes them",
	"people_touched":   "the profile refresh's queue, stamped with its insertion time, not an event's",
	"sessions_touched": "the session statistics' refresh's queue, stamped with its insertion time, not an event's",
}

// TestRetentionCoversTables: every table (not a view) holding a site's
// per-visitor or per-session rows is in tables or in notKept with a
// reason, so a table added later without retention fails here.
func TestRetentionCoversTables(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	rows, err := store.DB().Driver().Query(context.Background(), `SELECT t.name FROM system.tables AS t
WHERE t.database = currentDatabase() AND t.engine NOT LIKE '%View'
AND t.name IN (SELECT table FROM system.columns WHERE database = currentDatabase() AND name = 'site_id')
AND t.name IN (SELECT table FROM system.columns WHERE database = currentDatabase() AND name IN ('visitor_id', 'session_id'))
ORDER BY t.name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seen []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, name)
		if !slices.ContainsFunc(tables, func(tb table) bool { return tb.name == name }) && notKept[name] == "" {
			t.Errorf("%s holds per-visitor rows of a site but retention leaves it (add it to tables, or to notKept with why)", name)
		}
	}
	if len(seen) < 5 {
		t.Fatalf("only %v found: the query finds nothing", seen)
	}
}
