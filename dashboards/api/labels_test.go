package api_test

import (
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

// TestManualLabels: the shop's own classes and populations through the
// API: a class in its own words, a person the site has never seen
// classified by e-mail (and still 404 by an unknown visitor id), the
// site's classes and populations listed, a segment given as one any-group
// with multi-value populations, its members without placeholder order
// dates, and its CSV keeping "Pro B2B" whole.
func TestManualLabels(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	hit := func(visitor, typ string, f map[event.Field]string, revenue int64) stacktest.Hit {
		fields := map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: visitor, event.URL: "https://shop.example/"}
		for k, v := range f {
			fields[k] = v
		}
		at = at.Add(time.Minute)
		return stacktest.Hit{At: at, Fields: fields, Revenue: revenue, Ingest: event.IngestAPI}
	}
	stacktest.Insert(t, store,
		hit("va", "subscribe", map[event.Field]string{event.UserID: "ann@x.example"}, 0),
		hit("va", "purchase", map[event.Field]string{event.OrderID: "a1"}, 10_000_000),
		hit("vb", "subscribe", map[event.Field]string{event.UserID: "bob@x.example"}, 0),
	)
	refresh(t, store)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for path, body := range map[string]string{
		"/api/v1/profile/manual?site=shop&email=ann@x.example": `{"class":"clients fidèles","populations":["Pro B2B","revendeur, grossiste"]}`,
		"/api/v1/profile/manual?site=shop&email=bob@x.example": `{"class":"VIP","populations":["revendeur"]}`,
	} {
		if code, b := call(t, srv, "POST", path, body); code != 200 {
			t.Fatalf("%s: %d %s", path, code, b)
		}
	}
	// Never seen: by e-mail, a manual record; by visitor id, 404.
	code, b := call(t, srv, "POST", "/api/v1/profile/manual?site=shop&email=Zoe@New.example", `{"class":"VIP","populations":["pro"]}`)
	if code != 201 || !strings.Contains(string(b), `"person_key":"zoe@new.example"`) || !strings.Contains(string(b), `"new_person":true`) {
		t.Errorf("unseen person: %d %s", code, b)
	}
	if code, b := call(t, srv, "POST", "/api/v1/profile/manual?site=shop&visitor_id=nobody", `{"class":"VIP"}`); code != 404 {
		t.Errorf("unseen visitor id: %d %s", code, b)
	}
	for _, bad := range []string{`{"class":" VIP"}`, `{"class":"` + strings.Repeat("x", 65) + `"}`, `{"populations":["a|b"]}`, `{"populations":[""]}`} {
		if code, b := call(t, srv, "POST", "/api/v1/profile/manual?site=shop&email=ann@x.example", bad); code != 400 {
			t.Errorf("%s: %d %s", bad, code, b)
		}
	}
	var labels api.Labels
	code, b = call(t, srv, "GET", "/api/v1/classes?site=shop", "")
	decode(t, b, &labels)
	got := func(u []profiles.Used) string {
		var s []string
		for _, x := range u {
			s = append(s, x.Name+"="+string(rune('0'+x.People)))
		}
		return strings.Join(s, ";")
	}
	if code != 200 || got(labels.Classes) != "VIP=2;clients fidèles=1" || got(labels.Populations) != "Pro B2B=1;pro=1;revendeur=1;revendeur, grossiste=1" ||
		len(labels.Lifecycle) != 5 || len(labels.Stages) != 6 {
		t.Errorf("classes %d %s", code, b)
	}

	// One group as the conditions, multi-value populations.
	code, b = call(t, srv, "POST", "/api/v1/segments", `{"site":"shop","name":"Pros","conditions":
		{"any":[{"field":"population","value":["Pro B2B","grossiste"]},{"all":[{"field":"class","value":"VIP"},{"field":"population","value":"revendeur"}]}]}}`)
	if code != 201 {
		t.Fatalf("segment: %d %s", code, b)
	}
	var seg api.SegmentInfo
	decode(t, b, &seg)
	if seg.Members != 2 || len(seg.Conditions) != 1 || len(seg.Conditions[0].Any) != 2 {
		t.Errorf("segment %s", b)
	}
	code, b = call(t, srv, "GET", "/api/v1/segments/"+seg.ID+"/members?site=shop", "")
	if code != 200 || !strings.Contains(string(b), `"person_key":"ann@x.example"`) || !strings.Contains(string(b), `"last_order":"2026-11-02T09:02:00Z"`) ||
		!strings.Contains(string(b), `"person_key":"bob@x.example"`) || !strings.Contains(string(b), `"first_order":null,"last_order":null,"days_since_last_order":null`) ||
		strings.Contains(string(b), "1970") || strings.Contains(string(b), "100000") {
		t.Errorf("members %d %s", code, b)
	}
	code, b = call(t, srv, "GET", "/api/v1/segments/"+seg.ID+"/export.csv?site=shop", "")
	want := "email,user_id,class,stage,populations,first_seen,last_seen,sessions,orders,revenue,last_order,consents\n" +
		"ann@x.example,ann@x.example,clients fidèles,conversion,\"Pro B2B|revendeur, grossiste\",2026-11-02,2026-11-02,0,1,10.00,2026-11-02,newsletter\n" +
		"bob@x.example,bob@x.example,VIP,acquisition,revendeur,2026-11-02,2026-11-02,0,0,0.00,,newsletter\n"
	if code != 200 || string(b) != want {
		t.Errorf("csv %d:\n%s\nwant:\n%s", code, b, want)
	}
	for _, bad := range []string{
		`{"site":"shop","name":"x","conditions":{"any":[]}}`,
		`{"site":"shop","name":"x","conditions":{"any":[{"field":"population","value":["pro","a|b"]}]}}`,
		`{"site":"shop","name":"x","conditions":"orders"}`,
	} {
		if code, b := call(t, srv, "POST", "/api/v1/segments", bad); code != 400 {
			t.Errorf("%s: %d %s", bad, code, b)
		}
	}
}
