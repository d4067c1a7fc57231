package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
	"footfall/tests/stacktest"
)

func TestRecentlyViewed(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	type view struct {
		site, visitor, id, name string
		at                      time.Time
	}
	views := []view{
		{"shop", "v1", "TR-42", "Trail Runner", t0},
		{"shop", "v1", "HB-7", "Wool Beanie", t0.Add(time.Minute)},
		{"shop", "v1", "TR-42", "Trail Runner II", t0.Add(2 * time.Minute)}, // viewed again, renamed since
		{"shop", "v1", "CW-1", "City Walker", t0.Add(30 * time.Second)},
		{"shop", "v2", "XX-9", "Other visitor's", t0},
		{"other", "v1", "YY-1", "Other site's", t0},
	}
	en := enrich.New(1)
	var rows []chstore.Row
	for _, v := range views {
		var r chstore.Row
		r.Event = event.Event{ID: event.NewID(v.at.UnixMilli()), TimeMs: v.at.UnixMilli(), Ingest: event.IngestBeacon}
		r.Event.F[event.Site] = []byte(v.site)
		r.Event.F[event.Type] = []byte("product_view")
		r.Event.F[event.Name] = []byte(v.name)
		r.Event.F[event.VisitorID] = []byte(v.visitor)
		r.Event.F[event.UserAgent] = []byte("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0")
		r.Event.Props = []event.Prop{{Key: []byte("price"), Value: []byte("9")}, {Key: []byte("id"), Value: []byte(v.id)}}
		en.Enrich(&r.Event, &r.Enriched)
		rows = append(rows, r)
	}
	// A page view and a product view without an id are not products.
	var pv chstore.Row
	pv.Event = event.Event{ID: event.NewID(t0.UnixMilli()), TimeMs: t0.UnixMilli()}
	pv.Event.F[event.Site], pv.Event.F[event.Type], pv.Event.F[event.VisitorID] = []byte("shop"), []byte("pageview"), []byte("v1")
	pv.Event.Props = []event.Prop{{Key: []byte("id"), Value: []byte("PAGE")}}
	noID := pv
	noID.Event.ID = event.NewID(t0.UnixMilli())
	noID.Event.F[event.Type] = []byte("product_view")
	noID.Event.Props = nil
	rows = append(rows, pv, noID)
	if err := store.Insert(context.Background(), rows); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var got api.RecentlyViewed
	if code := get(t, srv, "/api/v1/recently-viewed?site=shop&visitor_id=v1", "tok", &got); code != 200 {
		t.Fatalf("status %d", code)
	}
	want := []api.Product{
		{ID: "TR-42", Name: "Trail Runner II", LastViewed: t0.Add(2 * time.Minute), Views: 2},
		{ID: "HB-7", Name: "Wool Beanie", LastViewed: t0.Add(time.Minute), Views: 1},
		{ID: "CW-1", Name: "City Walker", LastViewed: t0.Add(30 * time.Second), Views: 1},
	}
	if len(got.Products) != len(want) {
		t.Fatalf("products %+v", got.Products)
	}
	for i := range want {
		p := got.Products[i]
		if p.ID != want[i].ID || p.Name != want[i].Name || !p.LastViewed.Equal(want[i].LastViewed) || p.Views != want[i].Views {
			t.Errorf("product %d: %+v, want %+v", i, p, want[i])
		}
	}
	if code := get(t, srv, "/api/v1/recently-viewed?site=shop&visitor_id=v1&limit=1", "tok", &got); code != 200 || len(got.Products) != 1 || got.Products[0].ID != "TR-42" {
		t.Errorf("limit 1: %d %+v", code, got.Products)
	}
	if code := get(t, srv, "/api/v1/recently-viewed?site=shop&visitor_id=nobody", "tok", &got); code != 200 || len(got.Products) != 0 {
		t.Errorf("unknown visitor: %d %+v", code, got.Products)
	}
	var e struct{ Error string }
	for _, bad := range []string{"?site=shop", "?site=shop&visitor_id=a%20b", "?site=shop&visitor_id=v1&limit=0", "?site=shop&visitor_id=v1&limit=500"} {
		if code := get(t, srv, "/api/v1/recently-viewed"+bad, "tok", &e); code != 400 || e.Error == "" {
			t.Errorf("%s: %d %q", bad, code, e.Error)
		}
	}
	if code := get(t, srv, "/api/v1/recently-viewed?site=shop&visitor_id=v1", "", &e); code != 401 {
		t.Errorf("no token: %d", code)
	}
}
