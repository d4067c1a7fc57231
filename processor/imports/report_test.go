package imports_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/processor/imports"
	"footfall/processor/recipients"
	"footfall/tests/stacktest"
)

// newsletterEvent is a pixel or link hit as the collector sends it: only
// the recipient token says whose it is.
func newsletterEvent(at time.Time, typ, tok string, props ...string) chstore.Row {
	var r chstore.Row
	e := &r.Event
	e.ID, e.TimeMs, e.Ingest = event.NewID(at.UnixMilli()), at.UnixMilli(), event.IngestEmail
	e.F[event.Type] = []byte(typ)
	e.F[event.UserAgent] = []byte("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0")
	e.Props = []event.Prop{{Key: []byte("token"), Value: []byte(tok)}}
	for i := 0; i+1 < len(props); i += 2 {
		e.Props = append(e.Props, event.Prop{Key: []byte(props[i]), Value: []byte(props[i+1])})
	}
	return r
}

// TestReportOrders: a clicker's orders after the click all count, each
// once, though placed on a device of hers other than the one that clicked
// (she signed in on it); orders before the click, or by someone who did
// not click, do not. ClickHouse 18.16 and current ClickHouse used to
// disagree on a clicker with two later orders (2 and 0: ANY INNER JOIN).
func TestReportOrders(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	cs := campaigns.NewStore(store.DB())
	im := imports.NewImporter(store)
	sent := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	c, err := cs.Save(ctx, campaigns.Campaign{Site: "shop", Name: "Spring Sale", SentAt: sent, Cost: 50})
	if err != nil {
		t.Fatal(err)
	}
	added, err := im.Add(ctx, c, []campaigns.Recipient{{Email: "Ann@x.example"}, {Email: "bob@x.example"}, {Email: "cy@x.example"}, {Email: "dee@x.example"}}, "")
	if err != nil || len(added.Added) != 4 || len(added.Rejected) != 0 {
		t.Fatalf("added %v, %v", added, err)
	}
	if again, err := im.Add(ctx, c, []campaigns.Recipient{{Email: "ann@x.example"}}, ""); err != nil || len(again.Added) != 0 {
		t.Fatalf("a known recipient added again: %v, %v", again, err)
	}
	got, err := cs.Get(ctx, "shop", "spring-sale")
	if err != nil || got.Purpose != "newsletter" || got.Cost != 50 || !got.SentAt.Equal(sent) {
		t.Fatalf("get: %+v %v", got, err)
	}
	tok := map[string]string{}
	list, err := cs.Recipients(ctx, c)
	if err != nil || len(list) != 4 {
		t.Fatalf("recipients %v, %v", list, err)
	}
	for _, r := range list {
		tok[r.Email] = r.Token
	}

	// ann opens and clicks an hour after the send; bob clicks twice with
	// images blocked (his clicks are his open); cy only opens, in Gmail
	// (its image proxy fetches as she reads: a person's open); dee's Apple
	// Mail fetched the pixel on arrival (Privacy Protection: no one read);
	// a made-up token belongs to no one.
	clicked := sent.Add(time.Hour)
	rows := []chstore.Row{
		newsletterEvent(clicked.Add(-time.Minute), "email_open", tok["ann@x.example"]),
		newsletterEvent(clicked, "email_click", tok["ann@x.example"], "link", "1"),
		newsletterEvent(clicked, "email_click", tok["bob@x.example"], "link", "2"),
		newsletterEvent(clicked.Add(time.Minute), "email_click", tok["bob@x.example"], "link", "2"),
		newsletterEvent(clicked, "email_open", tok["cy@x.example"]),
		newsletterEvent(clicked, "email_open", tok["dee@x.example"]),
		newsletterEvent(clicked, "email_open", "AAAAAAAAAAAAAAAAAAAAAA"),
	}
	rows[4].Event.F[event.UserAgent] = []byte("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)")
	rows[5].Event.F[event.UserAgent], rows[5].Event.F[event.IP] = []byte("Mozilla/5.0"), []byte("17.58.1.0")
	unknown, err := recipients.NewResolver(store.DB()).Resolve(ctx, rows)
	if err != nil || !slices.Equal(unknown, []int{6}) {
		t.Fatalf("resolve: unknown %v, %v; want the made-up token's row", unknown, err)
	}
	if err := store.Insert(ctx, rows[:6]); err != nil {
		t.Fatal(err)
	}

	hit := func(at time.Time, typ, visitor string, f map[event.Field]string, revenue int64) stacktest.Hit {
		fields := map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: visitor}
		for k, v := range f {
			fields[k] = v
		}
		return stacktest.Hit{At: at, Fields: fields, Revenue: revenue}
	}
	landing := hit(clicked.Add(time.Minute), "pageview", "ann-phone", map[event.Field]string{event.UserID: "ann@x.example",
		event.SessionID: "s1", event.URL: "https://shop.example/sale?utm_campaign=spring-sale&utm_source=newsletter&utm_medium=email"}, 0)
	landing.Ingest = event.IngestAPI // the shop's backend says who signed in: proven, it joins her
	stacktest.Insert(t, store,
		// ann lands on the site through the link and signs in there.
		landing,
		// Her orders: one before the click, two after it.
		hit(clicked.Add(-30*time.Minute), "purchase", "ann-phone", map[event.Field]string{event.OrderID: "o0"}, 5_000_000),
		hit(clicked.Add(2*time.Hour), "purchase", "ann-phone", map[event.Field]string{event.OrderID: "o1"}, 100_000_000),
		hit(clicked.Add(72*time.Hour), "purchase", "ann-phone", map[event.Field]string{event.OrderID: "o2"}, 40_000_000),
		// bob ordered before he clicked; cy, who never clicked, after.
		hit(clicked.Add(-2*time.Hour), "purchase", "u:bob@x.example", map[event.Field]string{event.UserID: "bob@x.example", event.OrderID: "o3"}, 7_000_000),
		hit(clicked.Add(time.Hour), "purchase", "u:cy@x.example", map[event.Field]string{event.UserID: "cy@x.example", event.OrderID: "o4"}, 9_000_000),
	)

	rep, err := cs.Report(ctx, c, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orders != 2 || rep.Revenue != 140 {
		t.Errorf("attributed %d orders worth %v, want ann's 2 after her click, worth 140", rep.Orders, rep.Revenue)
	}
	if rep.ROI == nil || *rep.ROI != 1.8 {
		t.Errorf("ROI %v, want 1.8", rep.ROI)
	}
	if rep.Sent != 4 || rep.Opened != 4 || rep.OpenedHuman != 3 || rep.OpenedOnlyBy != 1 || rep.Clicked != 2 || rep.Clicks != 3 ||
		rep.ClickToOpen != 0.5 || rep.Sessions != 1 {
		t.Errorf("report %+v", rep)
	}
	// The most clicked link first (link ids are hashes: their order says
	// nothing).
	if len(rep.Links) != 2 || rep.Links[0].Link != "2" || rep.Links[0].Clicks != 2 || rep.Links[0].Clicked != 1 || rep.Links[1].Link != "1" || rep.Links[1].Clicks != 1 {
		t.Errorf("links %+v", rep.Links)
	}
}

// TestPersonOpenKinds: the reports count as a person's opens exactly the
// kinds the processor gives to a person's fetch.
func TestPersonOpenKinds(t *testing.T) {
	for _, k := range []string{recipients.OpenHuman, recipients.OpenProxy, recipients.OpenApple, recipients.OpenScanner} {
		if recipients.PersonOpen(k) != slices.Contains(campaigns.PersonOpenKinds, k) ||
			strings.Contains(campaigns.OpenedByPerson, "'"+k+"'") != recipients.PersonOpen(k) {
			t.Errorf("open kind %s: the processor and the reports disagree on whether a person opened", k)
		}
	}
}
