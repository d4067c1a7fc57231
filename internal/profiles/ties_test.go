package profiles

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// TestSameSecondIdentityAndEvents: of the events of one second (time is
// in whole seconds), the first is the one that happened first, as the ids
// say, however they are stored. A visitor id that gave two user ids in one
// second is the person of the first (identities, migration 0018), and a
// person's latest events are the last ones (profiles.events: a UUID sorts
// by its random half first, so ordering by it picked random ones of the
// second). 60 visitors, each inserted last event first.
func TestSameSecondIdentityAndEvents(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	s := NewStore(store.DB(), DefaultRules)
	ctx := context.Background()
	base := time.Date(2026, time.November, 20, 10, 0, 0, 0, time.UTC)
	hit := func(at time.Time, visitor, typ, path, user string) stacktest.Hit {
		f := map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: visitor, event.URL: "https://shop.example" + path}
		h := stacktest.Hit{At: at, Fields: f}
		if user != "" {
			// A sign-up the shop's backend reports joins its person (a
			// browser's would be a claim, joining no one).
			f[event.UserID], h.Ingest = user, event.IngestAPI
		}
		return h
	}
	const n = 60
	var hits []stacktest.Hit
	for i := 0; i < n; i++ {
		at := base.Add(time.Duration(i)*time.Second + 500*time.Millisecond)
		v := fmt.Sprintf("d%02d", i)
		hits = append(hits, hit(at, v, "pageview", "/1", ""))
		for _, u := range []string{"first", "second"} {
			hits = append(hits, hit(at, v, "sign_up", "/account", fmt.Sprintf("%s-%02d@shop.example", u, i)))
		}
		for _, p := range []string{"/2", "/3", "/4"} {
			hits = append(hits, hit(at, v, "pageview", p, ""))
		}
	}
	rows := stacktest.Rows(hits...)
	slices.Reverse(rows)
	for _, part := range [][]chstore.Row{rows[:len(rows)/2], rows[len(rows)/2:]} {
		if err := store.Insert(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	wrongPerson, wrongEvents := 0, 0
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("d%02d", i)
		key, _, err := s.Resolve(ctx, "shop", Ref{VisitorID: v})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("first-%02d@shop.example", i); key != want {
			if wrongPerson++; wrongPerson <= 3 {
				t.Errorf("visitor %s is %s, want %s", v, key, want)
			}
		}
		var events []Event
		err = s.WithVisitors(ctx, []string{v}, func(in Visitors) (err error) {
			events, err = s.Events(ctx, "shop", in, 3)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range events {
			got = append(got, e.URL)
		}
		if want := []string{"https://shop.example/4", "https://shop.example/3", "https://shop.example/2"}; !slices.Equal(got, want) {
			if wrongEvents++; wrongEvents <= 3 {
				t.Errorf("latest events of %s: %v, want %v", v, got, want)
			}
		}
	}
	if wrongPerson > 0 || wrongEvents > 0 {
		t.Errorf("%d of %d visitors with another person, %d with other latest events", wrongPerson, n, wrongEvents)
	}
}
