package profiles

import (
	"context"
	"fmt"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// floodBrowsers is how many throw-away browsers claim Ann's address in
// TestClaimFloodDoesNotBlock: more than maxLinked, and more visitor ids
// than a statement can bind within ClickHouse's max_query_size (256 KiB,
// about 20,000 ids).
const floodBrowsers = 25_000

// TestClaimFloodDoesNotBlock: floodBrowsers throw-away browsers, each
// claiming Ann's address through the pixel (anyone can), or each landing
// with her newsletter token (ff_rt: anyone she forwarded the newsletter
// or a landing URL to can), block neither her export nor her erasure
// (neither counts toward maxLinked): the export lists every one of them
// and their events (it read them from its own table of identifiers; bound
// into its statements they passed max_query_size), and the erasure
// removes them all, leaving nothing of her or of them.
func TestClaimFloodDoesNotBlock(t *testing.T) {
	t.Run("claims", func(t *testing.T) { flood(t, event.IngestPixel) })
	t.Run("newsletter token", func(t *testing.T) { flood(t, event.IngestEmail) })
}

// flood is TestClaimFloodDoesNotBlock with browsers that came in by in.
func flood(t *testing.T, in event.Ingest) {
	_, store := stacktest.ClickHouse(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	stacktest.Insert(t, store, stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "purchase", event.VisitorID: "ann-b1", event.UserID: "ann@flood.example",
		event.OrderID: "F-1", event.URL: "https://shop.example/"}, Revenue: 1})
	var hits []stacktest.Hit
	for i := 0; i < floodBrowsers; i++ {
		hits = append(hits, stacktest.Hit{At: at.Add(time.Minute), Ingest: in, Fields: map[event.Field]string{
			event.Site: "shop", event.Type: "sign_up", event.VisitorID: fmt.Sprintf("eve-%d", i), event.UserID: "ann@flood.example",
			event.URL: "https://shop.example/account"}})
	}
	stacktest.Insert(t, store, hits...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := NewStore(store.DB(), DefaultRules)

	start := time.Now()
	x, err := s.Export(ctx, "shop", Ref{UserID: "ann@flood.example"})
	if err != nil {
		t.Fatalf("Ann's export: %v", err)
	}
	t.Logf("export of %d visitor ids, %d events: %v", len(x.Visitors), len(x.Events), time.Since(start))
	seen := map[string]bool{}
	for _, v := range x.Visitors {
		seen[v] = true
	}
	missing := 0
	for i := 0; i < floodBrowsers; i++ {
		if !seen[fmt.Sprintf("eve-%d", i)] {
			missing++
		}
	}
	if !seen["ann-b1"] || missing > 0 || len(x.Visitors) != floodBrowsers+1 {
		t.Errorf("export lists %d visitor ids (ann-b1: %v), %d of the %d claiming browsers missing", len(x.Visitors), seen["ann-b1"], missing, floodBrowsers)
	}
	if len(x.Events) != floodBrowsers+1 || x.Rows["events"] != floodBrowsers+1 {
		t.Errorf("export has %d events and counts %d rows of events, want %d", len(x.Events), x.Rows["events"], floodBrowsers+1)
	}
	if x.Profile.UserID != "ann@flood.example" {
		t.Errorf("export's profile is %q, want Ann's", x.Profile.UserID)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND startsWith(name, 'exporting_')"); n != 0 {
		t.Errorf("%d tables of identifiers left after the export", n)
	}

	start = time.Now()
	e, err := s.Erase(ctx, "shop", Ref{UserID: "ann@flood.example"})
	if err != nil {
		t.Fatalf("Ann's erasure: %v", err)
	}
	t.Logf("erasure of %d visitor ids: %v, rows %v", len(e.Visitors), time.Since(start), e.Rows)
	if len(e.Visitors) != floodBrowsers+1 || e.Rows["events"] != floodBrowsers+1 {
		t.Errorf("erasure took %d visitor ids and %d events, want %d of each", len(e.Visitors), e.Rows["events"], floodBrowsers+1)
	}
	for _, q := range []string{
		"SELECT count() FROM events WHERE site_id = 'shop'",
		"SELECT count() FROM identities WHERE site_id = 'shop'",
		"SELECT count() FROM visitor_profiles WHERE site_id = 'shop'",
		"SELECT count() FROM identity_claims WHERE site_id = 'shop'",
	} {
		if n := stacktest.Count(t, store, q); n != 0 {
			t.Errorf("%s: %d rows left after Ann's erasure", q, n)
		}
	}
}

// TestManyVisitorsProfile: a person whose proven visitor ids are more than
// a statement can bind within max_query_size (floodBrowsers devices the
// shop's server identified as Ann) is shown whole, as GET /api/v1/profile
// reads them (WithPerson, then Consents, Claims, Interests, Events): her
// profile counts every device's page view, and her consent, a browser's
// claim and her interests come back, from the Memory table of her visitor
// ids (bound as literal sets they failed: Max query size exceeded).
func TestManyVisitorsProfile(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var hits []stacktest.Hit
	for i := 0; i < floodBrowsers; i++ {
		hits = append(hits, stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{
			event.Site: "shop", event.Type: "pageview", event.VisitorID: fmt.Sprintf("dev-%d", i), event.UserID: "ann@many.example",
			event.SessionID: fmt.Sprintf("s-%d", i), event.URL: "https://shop.example/shoes/trail"}})
	}
	last := fmt.Sprintf("dev-%d", floodBrowsers-1)
	hits = append(hits,
		stacktest.Hit{At: at.Add(time.Minute), Ingest: event.IngestAPI, Fields: map[event.Field]string{
			event.Site: "shop", event.Type: "subscribe", event.VisitorID: last, event.UserID: "ann@many.example"},
			Props: []string{"lists", "newsletter"}},
		stacktest.Hit{At: at.Add(2 * time.Minute), Ingest: event.IngestPixel, Fields: map[event.Field]string{
			event.Site: "shop", event.Type: "sign_up", event.VisitorID: last, event.UserID: "other@many.example",
			event.URL: "https://shop.example/account"}})
	stacktest.Insert(t, store, hits...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := NewStore(store.DB(), DefaultRules)

	start := time.Now()
	var (
		p         Person
		visitors  []string
		consents  []Consent
		claims    []Claim
		interests []Interest
		latest    []Event
		all       []Event
	)
	err := s.WithPerson(ctx, "shop", Ref{UserID: "ann@many.example"}, func(q Person, vs []string, in Visitors) (err error) {
		p, visitors = q, vs
		if consents, err = s.Consents(ctx, "shop", in); err != nil {
			return err
		}
		if claims, err = s.Claims(ctx, "shop", in); err != nil {
			return err
		}
		if interests, err = s.Interests(ctx, "shop", in, 10); err != nil {
			return err
		}
		if latest, err = s.Events(ctx, "shop", in, 50); err != nil {
			return err
		}
		all, err = s.Events(ctx, "shop", in, 1<<40)
		return err
	})
	if err != nil {
		t.Fatalf("Ann's profile: %v", err)
	}
	t.Logf("profile of %d visitor ids: %v", len(visitors), time.Since(start))
	if p.Key != "ann@many.example" || len(visitors) != floodBrowsers || p.Devices != floodBrowsers || p.Pageviews != floodBrowsers {
		t.Errorf("profile %q: %d visitor ids, %d devices, %d page views, want %d of each", p.Key, len(visitors), p.Devices, p.Pageviews, floodBrowsers)
	}
	if len(consents) != 1 || consents[0].Purpose != "newsletter" || !consents[0].Granted {
		t.Errorf("consents %+v, want newsletter granted", consents)
	}
	if len(claims) != 1 || claims[0].VisitorID != last || claims[0].UserID != "other@many.example" {
		t.Errorf("claims %+v, want %s claiming other@many.example", claims, last)
	}
	if len(interests) != 1 || interests[0].Name != "/shoes" || interests[0].Views != floodBrowsers {
		t.Errorf("interests %+v, want /shoes viewed %d times", interests, floodBrowsers)
	}
	if len(latest) != 50 || latest[0].Type != "sign_up" || len(all) != floodBrowsers+2 {
		t.Errorf("timeline of %d events (first %+v), all %d, want 50 beginning with the claim, %d", len(latest), latest[:min(1, len(latest))], len(all), floodBrowsers+2)
	}
	if g, _, err := s.Get(ctx, "shop", Ref{VisitorID: "dev-7"}); err != nil || g.Key != "ann@many.example" || g.Pageviews != floodBrowsers {
		t.Errorf("Get by a device: %q, %d page views, %v", g.Key, g.Pageviews, err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND startsWith(name, 'viewing_')"); n != 0 {
		t.Errorf("%d tables of visitor ids left after the profile", n)
	}
}
