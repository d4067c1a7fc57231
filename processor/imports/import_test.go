package imports_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/internal/reports"
	"footfall/processor/imports"
	"footfall/tests/stacktest"
)

// TestImportKeepsValidRows: malformed addresses are left out, each named
// with its line and why; every other row is imported.
func TestImportKeepsValidRows(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	c, err := campaigns.NewStore(store.DB()).Save(ctx, campaigns.Campaign{Site: "shop", Name: "Rows", SentAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	in := []campaigns.Recipient{
		{Email: "a@x.example"}, {Email: " B@X.Example "}, {Email: "c@x.example"}, {Email: "d@x.example"},
		{Email: "e@x.example"}, {Email: "f@x.example"}, {Email: "g@x.example"}, {Email: "not-an-email"},
		{Email: "h@x.example", Line: 42}, {Email: "b@x.example"}, // a duplicate, added once
		{Email: "i@localhost"}, {Email: "j k@x.example"}, {Email: "@x.example"}, {Email: "l@"}, {Email: "m..n@x.example"},
		{Email: "o@x..example"}, {Email: "p@-x.example"}, {Email: ""}, {Email: "q@x.example;r@x.example"},
		{Email: "Ann <ann@x.example>"}, {Email: "s@bücher.example"}, {Email: strings.Repeat("t", 65) + "@x.example"},
	}
	res, err := imports.NewImporter(store).Add(ctx, c, in, "")
	if err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, r := range res.Added {
		added = append(added, r.Email)
	}
	if got := strings.Join(added, " "); got != "a@x.example b@x.example c@x.example d@x.example e@x.example f@x.example g@x.example h@x.example s@bücher.example" {
		t.Errorf("added %s", got)
	}
	var rejected []string
	for _, r := range res.Rejected {
		rejected = append(rejected, fmt.Sprint(r.Line, " ", r.Email))
		if r.Reason == "" {
			t.Errorf("line %d rejected without a reason", r.Line)
		}
	}
	want := "8 not-an-email|11 i@localhost|12 j k@x.example|13 @x.example|14 l@|15 m..n@x.example|16 o@x..example|17 p@-x.example|18 |19 q@x.example;r@x.example|20 Ann <ann@x.example>|22 " + strings.Repeat("t", 65) + "@x.example"
	if got := strings.Join(rejected, "|"); got != want {
		t.Errorf("rejected\n%s\nwant\n%s", got, want)
	}
	if r := res.Rejected[0]; r.Reason != `"not-an-email" is not an e-mail address: no @` {
		t.Errorf("reason %q", r.Reason)
	}
	list, err := campaigns.NewStore(store.DB()).Recipients(ctx, c)
	if err != nil || len(list) != 9 {
		t.Errorf("%d recipients stored, %v", len(list), err)
	}
}

// TestImportIsNoVisit: importing recipients adds no visitor, source or
// realtime visitor to the site's traffic, however recent the send; the
// recipients whose consent the import states are subscribers.
func TestImportIsNoVisit(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	now := time.Now().UTC()
	c, err := campaigns.NewStore(store.DB()).Save(ctx, campaigns.Campaign{Site: "shop", Name: "Now", SentAt: now})
	if err != nil {
		t.Fatal(err)
	}
	var in []campaigns.Recipient
	for i := range 6 {
		in = append(in, campaigns.Recipient{Email: fmt.Sprintf("r%d@x.example", i)})
	}
	if res, err := imports.NewImporter(store).Add(ctx, c, in, "newsletter-v3"); err != nil || len(res.Added) != 6 {
		t.Fatalf("import: %+v %v", res, err)
	}
	// A visit, for contrast.
	stacktest.Insert(t, store, stacktest.Hit{At: now, Fields: map[event.Field]string{event.Site: "shop", event.Type: "pageview",
		event.VisitorID: "real", event.SessionID: "s1", event.URL: "https://shop.example/", event.Referrer: "https://news.example/"}})

	db := stacktest.Reader(t, store)
	day := now.Truncate(24 * time.Hour)
	ov, err := reports.Overview(ctx, db, "shop", day, day.Add(24*time.Hour), "day")
	if err != nil {
		t.Fatal(err)
	}
	if ov.Visitors != 1 || len(ov.Sources) != 1 || ov.Sources[0].Key != "news.example" {
		t.Errorf("overview: %d visitors, sources %+v; want the one visit", ov.Visitors, ov.Sources)
	}
	live, err := reports.Live(ctx, db, "shop", now.Add(time.Minute))
	if err != nil || live.Visitors != 1 {
		t.Errorf("realtime: %d visitors, %v; want the one visit", live.Visitors, err)
	}
	q := reports.Query{Site: "shop", From: day, To: day.Add(24 * time.Hour)}
	for _, by := range []string{"source", "page", "utm_campaign", "type"} {
		tab, err := reports.Breakdown(ctx, db, q, by, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(tab.Rows) != 1 {
			t.Errorf("by=%s: %v; want the one visit's row", by, tab.Rows)
		}
	}
	series, err := reports.Series(ctx, db, q, "day", []reports.Metric{reports.Visitors})
	if err != nil || len(series.Rows) != 1 || fmt.Sprint(series.Rows[0][1]) != "1" {
		t.Errorf("series: %v %v", series.Rows, err)
	}

	people := profiles.NewStore(store.DB(), profiles.DefaultRules)
	for _, r := range in {
		p, _, err := people.Get(ctx, "shop", profiles.Ref{UserID: r.Email})
		if err != nil || p.Class != profiles.ClassSubscriber {
			t.Errorf("%s: class %q, %v; want subscriber", r.Email, p.Class, err)
		}
	}
}

// TestImportRefusesBytesThatAreNotText: an address or external id with a
// byte that is not UTF-8, or a NUL, is refused with its line and reason,
// as the collector refuses such a user id, never stored raw nor cleaned
// (ann\xff and ann\xfe would become one person); what is stored is the
// address normalised as every user id is, so the person signing in on the
// site with it in another case is the recipient.
func TestImportRefusesBytesThatAreNotText(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	c, err := campaigns.NewStore(store.DB()).Save(ctx, campaigns.Campaign{Site: "shop", Name: "Bytes", SentAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	in := []campaigns.Recipient{
		{Email: "ann\xff@x.example"}, {Email: "ann\xfe@x.example"}, {Email: "bob\x00@x.example"}, {Email: "cy\ufffd@x.example"},
		{Email: "\xe9lise@x.example"}, {Email: "ok@x.example", ExternalID: "id\xff"}, {Email: " Dee@X.Example\u00a0", ExternalID: "7"},
	}
	res, err := imports.NewImporter(store).Add(ctx, c, in, "nl-v2")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range res.Rejected {
		lines = append(lines, fmt.Sprint(r.Line))
		if !strings.Contains(r.Reason, "not UTF-8") {
			t.Errorf("line %d: reason %q", r.Line, r.Reason)
		}
	}
	if strings.Join(lines, " ") != "1 2 3 4 5 6" || len(res.Added) != 1 {
		t.Errorf("rejected lines %v, added %+v", lines, res.Added)
	}
	list, err := campaigns.NewStore(store.DB()).Recipients(ctx, c)
	if err != nil || len(list) != 1 || list[0].Email != "dee@x.example" || list[0].ExternalID != "7" {
		t.Errorf("stored %+v, %v", list, err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop' AND ingest = 'email' AND user_id != 'dee@x.example'"); n != 0 {
		t.Errorf("%d events of refused rows", n)
	}
	p, _, err := profiles.NewStore(store.DB(), profiles.DefaultRules).Get(ctx, "shop", profiles.Ref{UserID: "DEE@x.example"})
	if err != nil || p.Class != profiles.ClassSubscriber {
		t.Errorf("dee signing in as DEE@x.example: class %q, %v; want the imported subscriber", p.Class, err)
	}
}
