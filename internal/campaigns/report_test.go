package campaigns_test

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/event"
	"footfall/internal/money"
	"footfall/tests/stacktest"
)

// TestReportCurrency: a campaign that cost 12 USD, sent on a Sunday,
// brought a clicker's orders of 5000 JPY, 10 EUR and 20 GBP. Reported in
// euros at Friday's rates (USD 1.0921, JPY 157.21; none for GBP): revenue
// 41.804593 (not 5030), cost 10.988005, ROI 2.8046, the GBP order listed
// as unconverted. Reported in pounds: the GBP order alone, and no ROI,
// since the cost has no rate to pounds: said, not computed on 12 taken
// as pounds.
func TestReportCurrency(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	rates, err := money.ParseECB(strings.NewReader("Date,USD,JPY,\n2026-11-06,1.0921,157.21,\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := money.Load(ctx, store.DB(), rates); err != nil {
		t.Fatal(err)
	}
	cs := campaigns.NewStore(store.DB())
	sent := time.Date(2026, 11, 8, 9, 0, 0, 0, time.UTC)
	c, err := cs.Save(ctx, campaigns.Campaign{Site: "shop", Name: "Sale", SentAt: sent, Cost: 12, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	clicked := sent.Add(time.Hour)
	hits := []stacktest.Hit{{At: clicked, Ingest: event.IngestEmail, Fields: map[event.Field]string{event.Site: "shop", event.Type: "email_click",
		event.UserID: "ann@x.example", event.UTMCampaign: c.ID}}}
	for i, o := range []struct {
		cur    string
		micros int64
	}{{"JPY", 5000_000_000}, {"EUR", 10_000_000}, {"GBP", 20_000_000}} {
		hits = append(hits, stacktest.Hit{At: clicked.Add(time.Duration(i+1) * time.Minute), Ingest: event.IngestAPI, Revenue: o.micros,
			Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: "ann-phone", event.UserID: "ann@x.example",
				event.OrderID: "o-" + o.cur, event.Currency: o.cur}})
	}
	stacktest.Insert(t, store, hits...)

	rep, err := cs.Report(ctx, c, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	gbp := []money.Unconverted{{Currency: "GBP", Orders: 1, Amount: 20}}
	if rep.Orders != 3 || rep.Revenue != 41.804593 || rep.ReportCurrency != "EUR" || !reflect.DeepEqual(rep.Unconverted, gbp) ||
		rep.ROI == nil || math.Abs(*rep.ROI-(41.804593-10.988005)/10.988005) > 1e-9 || rep.NoCostRate != "" {
		t.Errorf("in EUR: %d orders, revenue %v %s, unconverted %+v, roi %v %q", rep.Orders, rep.Revenue, rep.ReportCurrency, rep.Unconverted, rep.ROI, rep.NoCostRate)
	}
	cs.SetCurrency(func(string) string { return "GBP" })
	rep, err = cs.Report(ctx, c, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	others := []money.Unconverted{{Currency: "EUR", Orders: 1, Amount: 10}, {Currency: "JPY", Orders: 1, Amount: 5000}}
	if rep.Orders != 3 || rep.Revenue != 20 || !reflect.DeepEqual(rep.Unconverted, others) || rep.ROI != nil || rep.NoCostRate == "" {
		t.Errorf("in GBP: %d orders, revenue %v, unconverted %+v, roi %v %q", rep.Orders, rep.Revenue, rep.Unconverted, rep.ROI, rep.NoCostRate)
	}
}
