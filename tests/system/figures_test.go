package system

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/grafana"
	"footfall/internal/campaigns"
	"footfall/internal/event"
	"footfall/internal/money"
	"footfall/internal/orders"
	"footfall/internal/profiles"
	"footfall/internal/reports"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// TestOrderSentTwice: the same order (o1, 10.00) sent twice, as a shop's
// backend retrying does, counts once, for 10.00, in every figure that shows
// orders or revenue: the breakdown, the time series, the dashboard's
// e-commerce card, the person's profile, the people table, the affiliate's
// report, the newsletter campaign's report and the Grafana panels. They
// all read internal/orders; before it, the breakdown and Grafana summed
// the two events (20.00).
func TestOrderSentTwice(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	// Every figure is read as the dashboards read it, as the read-only user.
	db := stacktest.Reader(t, store)
	d := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	hit := func(at time.Time, typ, url string) stacktest.Hit {
		return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: "ann",
			event.UserID: "ann@x.example", event.SessionID: "s1", event.URL: url}}
	}
	order := hit(d.Add(10*time.Minute), "purchase", "https://shop.example/thanks")
	order.Fields[event.OrderID], order.Fields[event.Currency], order.Revenue = "o1", "EUR", 10_000_000
	order.Ingest = event.IngestAPI // the shop's backend: proven, its user id joins ann
	again := order
	again.At = d.Add(11 * time.Minute)
	// ann clicks the spring newsletter, lands through an affiliate's
	// link, and orders; the order comes twice.
	stacktest.Insert(t, store,
		hit(d, "pageview", "https://shop.example/?aff=blog1&utm_source=news&utm_medium=email&utm_campaign=spring"),
		order, again)
	click := chstore.Row{}
	click.Event.ID, click.Event.TimeMs, click.Event.Ingest = event.NewID(d.Add(-time.Minute).UnixMilli()), d.Add(-time.Minute).UnixMilli(), event.IngestEmail
	// As the processor writes it once the recipient's token is resolved.
	click.Event.F[event.Site], click.Event.F[event.Type] = []byte("shop"), []byte("email_click")
	click.Enriched.UserID, click.Enriched.UTMCampaign = "ann@x.example", "spring"
	if err := store.Insert(ctx, []chstore.Row{click}); err != nil {
		t.Fatal(err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE type = 'purchase'"); n != 2 {
		t.Fatalf("%d purchase events, want the order's 2", n)
	}

	type figure struct {
		orders  uint64
		revenue float64
	}
	want := figure{1, 10}
	check := func(where string, got figure) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %d orders, revenue %v; want %d and %v", where, got.orders, got.revenue, want.orders, want.revenue)
		}
	}
	// sum adds up the orders and revenue columns of a report's rows.
	sum := func(tab reports.Table) figure {
		var f figure
		oc, rc := -1, -1
		for i, c := range tab.Columns {
			switch c {
			case "orders":
				oc = i
			case "revenue":
				rc = i
			}
		}
		if oc < 0 || rc < 0 {
			t.Fatalf("%s: no orders or revenue column in %v", tab.Report, tab.Columns)
		}
		for _, r := range tab.Rows {
			f.orders += r[oc].(uint64)
			f.revenue += r[rc].(float64)
		}
		return f
	}
	q := reports.Query{Site: "shop", From: d.Truncate(24 * time.Hour), To: d.Truncate(24 * time.Hour).Add(24 * time.Hour)}

	bySource, err := reports.Breakdown(ctx, db, q, "source", 50)
	if err != nil {
		t.Fatal(err)
	}
	check("breakdown by source", sum(bySource))
	// The dashboard's e-commerce card adds up the breakdown by type.
	byType, err := reports.Breakdown(ctx, db, q, "type", 1000)
	if err != nil {
		t.Fatal(err)
	}
	check("e-commerce card (breakdown by type)", sum(byType))
	series, err := reports.Series(ctx, db, q, "day", []reports.Metric{reports.Orders, reports.Revenue})
	if err != nil {
		t.Fatal(err)
	}
	check("time series", sum(series))
	aff, err := reports.Affiliates(ctx, db, q, 30, reports.Commission{Default: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if len(aff.Rows) != 1 || aff.Rows[0][0] != "blog1" {
		t.Fatalf("affiliates %v, want blog1's", aff.Rows)
	}
	check("affiliates", sum(aff))

	// A profile keeps the person's visitor ids in a table of its own while
	// it reads (any number of them): the writing connection, as the
	// dashboards' GET /api/v1/profile uses.
	people := profiles.NewStore(store.DB(), profiles.DefaultRules)
	p, _, err := people.Get(ctx, "shop", profiles.Ref{UserID: "ann@x.example"})
	if err != nil {
		t.Fatal(err)
	}
	check("profile", figure{p.Orders, p.Revenue})
	// The processor's refresh job writes the people table.
	if _, err := profiles.NewStore(store.DB(), profiles.DefaultRules).Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	stmt, args, err := people.Query("shop").Statement()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, stmt, args)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		p, err := profiles.Scan(rows)
		if err != nil {
			t.Fatal(err)
		}
		check("people table, "+p.Key, figure{p.Orders, p.Revenue})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	rep, err := campaigns.NewStore(db).Report(ctx, campaigns.Campaign{Site: "shop", ID: "spring", SentAt: d.Add(-time.Hour)}, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	check("campaign report", figure{rep.Orders, rep.Revenue})

	// Every Grafana statement that shows revenue uses the one definition
	// and finds the order once.
	panels := 0
	for _, gq := range grafana.Queries {
		if !strings.Contains(gq.SQL(), "revenue") {
			continue
		}
		panels++
		if !strings.Contains(gq.SQL(), orders.Revenue(money.ConvertPairs(money.DaysOf("@from", "@to + 1"), orders.Money))+" / 1e6 AS revenue") || !strings.Contains(gq.SQL(), orders.Count(orders.Pairs)+" AS orders") {
			t.Errorf("%s: revenue or orders not as internal/orders defines them:\n%s", gq.Name(), gq.SQL())
		}
		rows, err := db.Query(ctx, gq, grafana.Args(gq, grafana.Site{ID: "shop", Currency: "EUR", TimeZone: "UTC"}, d.Add(-time.Hour), d.Add(time.Hour)))
		if err != nil {
			t.Fatalf("%s: %v", gq.Name(), err)
		}
		var f figure
		cols := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			for i, ct := range rows.ColumnTypes() {
				vals[i] = reflect.New(ct.ScanType()).Interface()
			}
			if err := rows.Scan(vals...); err != nil {
				t.Fatal(err)
			}
			for i, c := range cols {
				switch c {
				case "orders":
					f.orders += *vals[i].(*uint64)
				case "revenue":
					f.revenue += *vals[i].(*float64)
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		check("grafana "+gq.Name(), f)
	}
	if panels != 2 {
		t.Errorf("%d Grafana statements show revenue, want the 2 panels (per day, by campaign and affiliate)", panels)
	}
}
