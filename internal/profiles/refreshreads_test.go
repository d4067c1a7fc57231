package profiles

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/money"
	"footfall/internal/refresh"
	"footfall/tests/stacktest"
)

// TestRefreshReadsProfilesOnce: a refresh after a few events reads the
// touched people's visitor_profiles once for its INSERT, not once more
// per copy of the rate table (ClickHouse 18.16 runs each copy of a scalar
// subquery on its own: the INSERT read them thirteen times when the rates
// were chosen inside it). What its INSERT selects (system.query_log's
// SelectedMarks, which counts scalar subqueries too) is held to a third of
// what the INSERT that chooses its rates inside it selects, with the same
// people touched, a few more parts later.
// Buyers in yen, dollars, euros and pounds (no rate), inserted in several
// parts, are converted alike: the people table, refreshed, is the people
// computed from the events (sameStored), with the rates bound and, for
// more currency days than a statement binds, chosen inside the INSERT.
func TestRefreshReadsProfilesOnce(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	loadECB(t, store, "Date,USD,JPY,\n2026-11-05,1.0911,157.01,\n2026-11-06,1.0921,157.21,\n")
	j := &journey{t: t, store: store, s: NewStore(store.DB(), DefaultRules), site: "shop"}
	saturday := time.Date(2026, 11, 7, 12, 0, 0, 0, time.UTC)
	for part := 0; part < 4; part++ {
		hits := make([]stacktest.Hit, 0, 50)
		for i := part * 50; i < part*50+50; i++ {
			hits = append(hits, stacktest.Hit{At: saturday.Add(-time.Duration(i) * 17 * time.Minute), Revenue: int64(1000+i) * 1_000_000,
				Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: "b" + strconv.Itoa(i),
					event.OrderID: "o" + strconv.Itoa(i), event.Currency: []string{"JPY", "USD", "EUR", "GBP"}[i%4]}})
		}
		stacktest.Insert(t, store, hits...)
	}
	j.sameStored("first refresh, whole")

	// A few events of buyers in each currency, then a refresh tagged for
	// system.query_log, with the rates bound, and the same again with the
	// rates chosen inside the INSERT (more currency days than a statement
	// binds). Both are compared with the people computed from the events.
	insertMarks := func(step string, maxDays int) uint64 {
		j.s.maxBoundOrderDays = maxDays
		for _, v := range []string{"b0", "b1", "b2", "b3"} {
			j.hit(saturday.Add(time.Hour), v, "pageview", nil, 0)
		}
		w, err := refresh.Last(ctx, store.DB(), "people", "shop")
		if err != nil {
			t.Fatal(err)
		}
		if w.Full {
			t.Fatalf("%s: the refresh would be whole", step)
		}
		tag := 910_000 + int(time.Now().UnixNano()%80_000)
		if _, err := j.s.Refresh(testTagged(ctx, tag), "shop"); err != nil {
			t.Fatal(err)
		}
		j.sameStored(step)
		return loggedMarks(t, store, tag, "INSERT INTO people (site_id, person_key, user_id%")
	}
	bound := insertMarks("four buyers, rates bound", money.MaxOrderDays)
	inside := insertMarks("four buyers, rates in the statement", 0)
	t.Logf("marks selected by the refresh's INSERT: %d with the rates bound, %d with them chosen inside it", bound, inside)
	if bound == 0 || bound*3 > inside {
		t.Errorf("the refresh's INSERT selected %d marks with the rates bound and %d with the rates chosen inside it, which reads visitor_profiles thirteen times: the bound one reads them more than once", bound, inside)
	}
}

func testTagged(ctx context.Context, tag int) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1, "interactive_delay": tag}))
}

// loggedMarks is the SelectedMarks of the statements like like sent with
// testTagged(tag), once system.query_log has them.
func loggedMarks(t *testing.T, store interface {
	DB() *chsql.Conn
}, tag int, like string) uint64 {
	t.Helper()
	ctx := context.Background()
	var marks, n uint64
	for try := 0; try < 40; try++ {
		if r, err := store.DB().Driver().Query(ctx, "SYSTEM FLUSH LOGS"); err == nil {
			r.Close()
		}
		err := store.DB().Driver().QueryRow(ctx, `SELECT toUInt64(sum(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'SelectedMarks')])), count() FROM system.query_log
			WHERE event_date >= yesterday() AND type = 2 AND Settings.Values[indexOf(Settings.Names, 'interactive_delay')] = ? AND query LIKE ?`,
			strconv.Itoa(tag), like).Scan(&marks, &n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return marks
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no statement like %q tagged %d in system.query_log", like, tag)
	return 0
}
