package api_test

import (
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestAnswersInSiteZone: a Paris shop's buyer who subscribed at 23:29:59
// UTC and ordered at 23:30 UTC on 30 November (00:30 on 1 December in
// Paris) is, in the segment's members, its CSV export, the person's GDPR
// export and the consent ledger CSV, a person of 1 December, with Paris's
// offset; a campaign sent then is listed with it too.
func TestAnswersInSiteZone(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC)
	stacktest.Insert(t, store,
		stacktest.Hit{At: at.Add(-time.Second), Ingest: event.IngestAPI, Fields: map[event.Field]string{event.Site: "shop", event.Type: "subscribe", event.VisitorID: "va", event.UserID: "ann@x.example", event.URL: "https://shop.example/"}},
		stacktest.Hit{At: at, Revenue: 10_000_000, Ingest: event.IngestAPI, Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: "va", event.OrderID: "a1", event.Currency: "EUR", event.URL: "https://shop.example/"}},
	)
	refresh(t, store)
	paris, _ := time.LoadLocation("Europe/Paris")
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules,
		Zone: func(string) *time.Location { return paris }, Now: func() time.Time { return at.Add(time.Hour) }}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	code, b := call(t, srv, "POST", "/api/v1/segments", `{"site":"shop","name":"Buyers","conditions":{"all":[{"field":"orders","op":">=","value":1}]}}`)
	if code != http.StatusCreated {
		t.Fatalf("segment: %d %s", code, b)
	}
	var seg api.SegmentInfo
	decode(t, b, &seg)

	code, b = call(t, srv, "GET", "/api/v1/segments/"+seg.ID+"/members?site=shop", "")
	if code != http.StatusOK {
		t.Fatalf("members: %d %s", code, b)
	}
	for _, want := range []string{`"first_order":"2026-12-01T00:30:00+01:00"`, `"last_order":"2026-12-01T00:30:00+01:00"`,
		`"first_seen":"2026-12-01T00:29:59+01:00"`, `"last_seen":"2026-12-01T00:30:00+01:00"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("members lack %s: %s", want, b)
		}
	}

	code, b = call(t, srv, "GET", "/api/v1/segments/"+seg.ID+"/export.csv?site=shop", "")
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, b)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("export CSV %v: %q", err, b)
	}
	col := map[string]string{}
	for i, h := range rows[0] {
		col[h] = rows[1][i]
	}
	if col["first_seen"] != "2026-12-01" || col["last_seen"] != "2026-12-01" || col["last_order"] != "2026-12-01" {
		t.Errorf("export CSV dates first_seen=%s last_seen=%s last_order=%s, want 2026-12-01 each", col["first_seen"], col["last_seen"], col["last_order"])
	}

	code, b = call(t, srv, "POST", "/api/v1/profile/export", `{"site":"shop","email":"ann@x.example"}`)
	if code != http.StatusOK {
		t.Fatalf("person export: %d %s", code, b)
	}
	if !strings.Contains(string(b), `"last_order":"2026-12-01T00:30:00+01:00"`) || strings.Contains(string(b), `T23:30:00Z"`) {
		t.Errorf("person export not in Paris time: %.2000s", b)
	}

	code, b = call(t, srv, "GET", "/api/v1/consents/export.csv?site=shop", "")
	if code != http.StatusOK || !strings.Contains(string(b), "\n2026-12-01T00:29:59+01:00,ann@x.example,va,newsletter,yes") {
		t.Errorf("consent ledger in UTC: %s", b)
	}

	// the People page shows dates in the zone /classes names
	code, b = call(t, srv, "GET", "/api/v1/classes?site=shop", "")
	if code != http.StatusOK || !strings.Contains(string(b), `"time_zone":"Europe/Paris"`) {
		t.Errorf("classes: %d %s", code, b)
	}

	code, b = call(t, srv, "POST", "/api/v1/campaigns", `{"site":"shop","id":"dec","name":"December","purpose":"newsletter","sent_at":"2026-11-30T23:30:00Z"}`)
	if code != http.StatusCreated {
		t.Fatalf("campaign: %d %s", code, b)
	}
	if !strings.Contains(string(b), `"sent_at":"2026-12-01T00:30:00+01:00"`) {
		t.Errorf("created campaign's sent_at not in Paris time: %s", b)
	}
	code, b = call(t, srv, "GET", "/api/v1/campaigns?site=shop", "")
	if code != http.StatusOK || !strings.Contains(string(b), `"sent_at":"2026-12-01T00:30:00+01:00"`) {
		t.Errorf("campaigns list: %d %s", code, b)
	}
}
