package system

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"footfall/internal/profiles"
	"footfall/internal/reports"
	"footfall/internal/segments"
	"footfall/tests/stacktest"
)

// TestHistoryThroughTheServerAPI: a shop imports its past orders through
// the server API with their time, through the real collector, Kafka and
// processor. Ann ordered 120, 95 and 10 days ago, Bob 120 and 95 days
// ago, and Ann's first visit 120 days ago had two page views five minutes
// apart. The time series shows each order on its day, the session its
// duration, the people table (the processor's refresh) their orders and
// last order dates, and the reactivation rule ("no order for 90 days")
// takes Bob and not Ann. The history sent twice, and one order sent again
// at another time, are stored once.
func TestHistoryThroughTheServerAPI(t *testing.T) {
	s := newStack(t, 1)
	key := s.site(t, "shop")
	s.startProcessor(t, "-refresh-interval", "300ms")
	_, base := s.startCollector(t, nil)
	ctx := context.Background()

	today := time.Now().UTC().Truncate(24 * time.Hour)
	day := func(n int) time.Time { return today.Add(-time.Duration(n) * 24 * time.Hour).Add(10 * time.Hour) }
	order := func(who string, n int, amount string) string {
		return fmt.Sprintf(`{"type":"purchase","user_id":"%s@example.com","order_id":"H-%s-%d","revenue":%q,"currency":"EUR","time":%q}`,
			who, who, n, amount, day(n).Format(time.RFC3339))
	}
	view := func(path string, at time.Time) string {
		return fmt.Sprintf(`{"type":"pageview","visitor_id":"v-ann","session_id":"s-ann-1","user_id":"ann@example.com","url":"https://shop.example%s","time":%q}`,
			path, at.Format(time.RFC3339))
	}
	history := "[" + strings.Join([]string{
		view("/", day(120).Add(-5*time.Minute)), view("/shoes", day(120).Add(-time.Minute)),
		order("ann", 120, "120.00"), order("ann", 95, "95.00"), order("ann", 10, "10.00"),
		order("bob", 120, "50.00"), order("bob", 95, "60.00"),
	}, ",") + "]"
	for i := 0; i < 2; i++ { // an import run twice
		if code, body := send(t, "POST", base+"/api/v1/events", history, "Authorization", "Bearer "+key); code != 202 {
			t.Fatalf("history: %d %s", code, body)
		}
	}
	stacktest.WaitCount(t, s.store, 30*time.Second, 7, "SELECT count() FROM events WHERE site_id = 'shop'")
	// Ann's order of 10 days ago once more, as her shop's second export
	// has it: another time, the same order.
	again := strings.Replace(order("ann", 10, "10.00"), day(10).Format(time.RFC3339), day(10).Add(time.Hour).Format(time.RFC3339), 1)
	if code, body := send(t, "POST", base+"/api/v1/events", again, "Authorization", "Bearer "+key); code != 202 {
		t.Fatalf("again: %d %s", code, body)
	}
	// A live event after it: once it is in, the one before it is too.
	send(t, "POST", base+"/api/v1/events", `{"type":"pageview","visitor_id":"v-live"}`, "Authorization", "Bearer "+key)
	stacktest.WaitCount(t, s.store, 30*time.Second, 1, "SELECT count() FROM events WHERE site_id = 'shop' AND visitor_id = 'v-live'")
	if n := stacktest.Count(t, s.store, "SELECT count() FROM events WHERE site_id = 'shop'"); n != 8 {
		t.Errorf("%d events stored, want the 7 of the history once and the live one", n)
	}

	db := stacktest.Reader(t, s.store)
	q := reports.Query{Site: "shop", From: today.Add(-130 * 24 * time.Hour), To: today.Add(24 * time.Hour)}
	series, err := reports.Series(ctx, db, q, "day", []reports.Metric{reports.Orders, reports.Revenue})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range series.Rows {
		if r[1].(uint64) > 0 {
			got[r[0].(time.Time).UTC().Format("2006-01-02")] = fmt.Sprintf("%d orders %.2f", r[1], r[2])
		}
	}
	want := map[string]string{
		day(120).Format("2006-01-02"): "2 orders 170.00",
		day(95).Format("2006-01-02"):  "2 orders 155.00",
		day(10).Format("2006-01-02"):  "1 orders 10.00",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("orders per day %v, want %v", got, want)
	}
	sessions, err := reports.Series(ctx, db, reports.Query{Site: "shop", From: day(120).Truncate(24 * time.Hour), To: day(119).Truncate(24 * time.Hour)},
		"day", []reports.Metric{reports.Sessions, reports.VisitDuration})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the session of 120 days ago in the session statistics", func() bool {
		sessions, err = reports.Series(ctx, db, reports.Query{Site: "shop", From: day(120).Truncate(24 * time.Hour), To: day(119).Truncate(24 * time.Hour)},
			"day", []reports.Metric{reports.Sessions, reports.VisitDuration})
		return err == nil && len(sessions.Rows) == 1 && sessions.Rows[0][1].(uint64) == 1
	})
	if d := sessions.Rows[0][2]; fmt.Sprint(d) != "240" {
		t.Errorf("visit duration of 120 days ago %v, want 240 s", d)
	}

	// The people table, as the processor's refresh writes it.
	people := profiles.NewStore(db, profiles.DefaultRules)
	persons := map[string]profiles.Person{}
	waitFor(t, 30*time.Second, "ann's and bob's orders in the people table", func() bool {
		stmt, args, err := people.Query("shop").Statement()
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.Query(ctx, stmt, args)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			p, err := profiles.Scan(rows)
			if err != nil {
				t.Fatal(err)
			}
			persons[p.UserID] = p
		}
		return persons["ann@example.com"].Orders == 3 && persons["bob@example.com"].Orders == 2
	})
	for who, w := range map[string]struct {
		last    time.Time
		days    int64
		revenue float64
	}{"ann@example.com": {day(10), 10, 225}, "bob@example.com": {day(95), 95, 110}} {
		p := persons[who]
		if !p.LastOrder.Equal(w.last) || p.DaysOrdered != w.days || p.Revenue != w.revenue {
			t.Errorf("%s: last order %s, %d days ago, revenue %v; want %s, %d, %v", who, p.LastOrder, p.DaysOrdered, p.Revenue, w.last, w.days, w.revenue)
		}
	}
	// Reactivation: who bought, but not in the last 90 days.
	rule, err := segments.Compile(people, "shop", []segments.Condition{{Field: "days_since_last_order", Op: ">=", Value: json.RawMessage("90")}})
	if err != nil {
		t.Fatal(err)
	}
	stmt, args, err := rule.Statement()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, stmt, args)
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	for rows.Next() {
		p, err := profiles.Scan(rows)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, p.UserID)
	}
	rows.Close()
	if fmt.Sprint(members) != "[bob@example.com]" {
		t.Errorf("no order for 90 days: %v, want bob alone", members)
	}
}
