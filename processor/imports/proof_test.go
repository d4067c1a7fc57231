package imports_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/event"
	"footfall/processor/imports"
	"footfall/tests/stacktest"
)

// TestImportKeepsWithdrawals: an import stating consent never subscribes
// again whoever's latest proven word on the campaign's purpose is no, in
// whatever way it was said: an unsubscribe through the server API by
// address, a consent event saying false for a device the shop's backend
// identified, an address in another case. A browser's claimed unsubscribe
// is no proven word, a withdrawal from another purpose is not this one,
// and a proven subscription after the withdrawal restores it: those are
// subscribed. Each one left out is named with its line and why.
func TestImportKeepsWithdrawals(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	hit := func(in event.Ingest, visitor, typ, user string, props ...string) stacktest.Hit {
		at = at.Add(time.Minute)
		f := map[event.Field]string{event.Site: "shop", event.Type: typ}
		if visitor != "" {
			f[event.VisitorID] = visitor
		}
		if user != "" {
			f[event.UserID] = user
		}
		return stacktest.Hit{At: at, Fields: f, Props: props, Ingest: in}
	}
	api, browser := event.IngestAPI, event.IngestBeacon
	stacktest.Insert(t, store,
		hit(api, "", "subscribe", "bob@x.example", "lists", "newsletter"),
		hit(api, "", "unsubscribe", "bob@x.example", "lists", "newsletter"),
		hit(api, "cy-phone", "identify", "cy@x.example"),
		hit(api, "cy-phone", "consent", "", "newsletter", "false", "analytics", "true"),
		hit(browser, "dee-browser", "unsubscribe", "dee@x.example", "lists", "newsletter"),
		hit(api, "", "unsubscribe", "eve@x.example", "lists", "tips"),
		hit(api, "", "unsubscribe", "fay@x.example", "lists", "newsletter"),
		hit(api, "", "subscribe", "fay@x.example", "lists", "newsletter"),
	)
	c, err := campaigns.NewStore(store.DB()).Save(ctx, campaigns.Campaign{Site: "shop", Name: "Winter", SentAt: at})
	if err != nil {
		t.Fatal(err)
	}
	in := []campaigns.Recipient{
		{Email: "BOB@X.example", Line: 2}, {Email: "cy@x.example", Line: 3}, {Email: "dee@x.example", Line: 4},
		{Email: "eve@x.example", Line: 5}, {Email: "fay@x.example", Line: 6}, {Email: "gus@x.example", Line: 7},
	}
	res, err := imports.NewImporter(store).Add(ctx, c, in, "winter-v1")
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, r := range res.NotSubscribed {
		kept = append(kept, r.Email)
		if r.Line != map[string]int{"bob@x.example": 2, "cy@x.example": 3}[r.Email] || !strings.Contains(r.Reason, "unsubscribed from newsletter on 2026-11-20T09:") {
			t.Errorf("%+v: want its line and when it unsubscribed", r)
		}
	}
	if got := strings.Join(kept, " "); got != "bob@x.example cy@x.example" || len(res.Added) != 6 {
		t.Errorf("not subscribed: %s (of %d added), want bob and cy, all 6 added", got, len(res.Added))
	}
	subscribed := stacktest.Count(t, store, `SELECT count() FROM consents WHERE source = 'import' AND wording = 'winter-v1' AND granted = 1
        AND proof = 'server' AND user_id IN ('dee@x.example', 'eve@x.example', 'fay@x.example', 'gus@x.example')`)
	if all := stacktest.Count(t, store, "SELECT count() FROM consents WHERE source = 'import'"); subscribed != 4 || all != 4 {
		t.Errorf("import subscribed %d of dee, eve, fay and gus, %d in all; want those 4 only", subscribed, all)
	}
}
