package imports_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/processor/imports"
	"footfall/tests/stacktest"
)

// TestImportOneSpellingOfAnAddress: an address whose domain is written in
// Unicode or punycode, in capitals, with the trailing dot of a fully
// qualified name, or whose name is in another Unicode normalisation form,
// is one recipient, stored in one form; the person signing in on the site
// with any of these spellings (through the server API) is that recipient,
// and a profile looked up by any of them is that person.
func TestImportOneSpellingOfAnAddress(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	c, err := campaigns.NewStore(store.DB()).Save(ctx, campaigns.Campaign{Site: "shop", Name: "Spellings", SentAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	in := []campaigns.Recipient{
		{Email: "joe@café.example"}, {Email: "joe@xn--caf-dma.example"}, {Email: "Joe@CAFÉ.Example."}, {Email: "joe@cafe\u0301.example"},
		{Email: "mia@example.com."}, {Email: "mia@example.com"}, {Email: "MIA@EXAMPLE.COM."},
		{Email: "zoe\u0308@x.example"}, {Email: "ZOË@x.example"}, {Email: "zoë@X.EXAMPLE."},
		{Email: "kim@xn--bcher-kva.example"},
	}
	res, err := imports.NewImporter(store).Add(ctx, c, in, "nl-v1")
	if err != nil {
		t.Fatal(err)
	}
	var added []string
	for _, r := range res.Added {
		added = append(added, r.Email)
	}
	if got, want := strings.Join(added, " "), "joe@café.example mia@example.com zoë@x.example kim@bücher.example"; got != want || len(res.Rejected) != 0 {
		t.Errorf("added %q, rejected %+v; want %q", got, res.Rejected, want)
	}
	list, err := campaigns.NewStore(store.DB()).Recipients(ctx, c)
	if err != nil || len(list) != 4 {
		t.Errorf("%d recipients stored (%+v), %v; want 4", len(list), list, err)
	}

	// joe signs in on the site, the shop's backend naming him in punycode
	// with a trailing dot.
	stacktest.Insert(t, store, stacktest.Hit{At: time.Now().UTC().Add(-time.Minute), Ingest: event.IngestAPI, Fields: map[event.Field]string{
		event.Site: "shop", event.Type: "pageview", event.VisitorID: "v-joe", event.UserID: "JOE@xn--caf-dma.example.", event.URL: "https://shop.example/"}})
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop' AND user_id = 'joe@café.example' AND ingest != 'email'"); n != 1 {
		t.Errorf("%d site events stored with user id joe@café.example, want 1", n)
	}
	people := profiles.NewStore(store.DB(), profiles.DefaultRules)
	for _, spelling := range []string{"joe@café.example", "joe@xn--caf-dma.example", "JOE@CAFÉ.EXAMPLE.", "joe@cafe\u0301.example"} {
		p, visitors, err := people.Get(ctx, "shop", profiles.Ref{UserID: spelling})
		if err != nil || p.Key != "joe@café.example" || p.Class != profiles.ClassSubscriber || !slices.Contains(visitors, "v-joe") {
			t.Errorf("%s: person %q class %q visitors %v, %v; want the subscriber joe@café.example with v-joe", spelling, p.Key, p.Class, visitors, err)
		}
	}
	for _, spelling := range []string{"mia@example.com.", "Mia@Example.com", "zoe\u0308@x.example", "kim@BÜCHER.example."} {
		if p, _, err := people.Get(ctx, "shop", profiles.Ref{UserID: spelling}); err != nil || p.Class != profiles.ClassSubscriber {
			t.Errorf("%s: class %q, %v; want the imported subscriber", spelling, p.Class, err)
		}
	}
}
