package api_test

import (
	"encoding/json"
	"io"
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

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func decode(t *testing.T, b []byte, into any) {
	t.Helper()
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

func TestPeopleAPI(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	hit := func(visitor, typ string, f map[event.Field]string, revenue int64, props ...string) stacktest.Hit {
		fields := map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: visitor, event.URL: "https://shop.example/shoes/x"}
		for k, v := range f {
			fields[k] = v
		}
		at = at.Add(time.Minute)
		return stacktest.Hit{At: at, Fields: fields, Revenue: revenue, Props: props}
	}
	// The shop's backend says who subscribed: proven (a browser's word
	// would be a claim, joining no one: proof_test.go).
	server := func(h stacktest.Hit) stacktest.Hit { h.Ingest = event.IngestAPI; return h }
	stacktest.Insert(t, store,
		hit("va", "pageview", nil, 0),
		hit("va", "product_view", map[event.Field]string{event.Name: "Trail"}, 0, "id", "TR-1", "category", "running"),
		server(hit("va", "subscribe", map[event.Field]string{event.UserID: "Ann@X.example"}, 0, "lists", "newsletter,tips", "source", "footer-form", "wording", "nl-v2")),
		hit("va", "purchase", map[event.Field]string{event.OrderID: "a1"}, 120_500_000),
		server(hit("vb", "subscribe", map[event.Field]string{event.UserID: "bob@x.example"}, 0)),
		hit("vb", "purchase", map[event.Field]string{event.OrderID: "b1"}, 30_000_000),
		server(hit("vb", "unsubscribe", nil, 0)),
		server(hit("vc", "subscribe", map[event.Field]string{event.UserID: "cat@x.example"}, 0)),
		hit("vd", "pageview", nil, 0),
	)
	refresh(t, store)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// Profile by e-mail, in any case.
	code, b := call(t, srv, "GET", "/api/v1/profile?site=shop&email=ANN@x.example", "")
	if code != 200 {
		t.Fatalf("profile: %d %s", code, b)
	}
	var p api.Profile
	decode(t, b, &p)
	if p.Key != "ann@x.example" || p.UserID != "ann@x.example" || p.Class != "customer" || p.Stage != "conversion" ||
		p.Orders != 1 || p.Revenue != 120.5 || len(p.Timeline) != 4 || len(p.Products) != 1 || p.Products[0].ID != "TR-1" {
		t.Errorf("profile %s", b)
	}
	if len(p.Consents) != 2 || p.Consents[0].Purpose != "newsletter" || !p.Consents[0].Granted || p.Consents[0].Source != "footer-form" || p.Consents[0].Wording != "nl-v2" {
		t.Errorf("consents %+v", p.Consents)
	}
	// Equal views: the latest seen first.
	if len(p.Interests) != 2 || p.Interests[0].Name != "running" || p.Interests[1].Name != "/shoes" {
		t.Errorf("interests %+v", p.Interests)
	}

	// Manual changes.
	code, b = call(t, srv, "POST", "/api/v1/profile/manual?site=shop&visitor_id=vb", `{"class":"loyal","populations":["reseller"]}`)
	if code != 200 {
		t.Fatalf("manual: %d %s", code, b)
	}
	if code, b = call(t, srv, "POST", "/api/v1/profile/manual?site=shop&visitor_id=vb", `{"class":"gold\u0000"}`); code != 400 {
		t.Errorf("class with a NUL: %d %s", code, b)
	}
	if code, _ = call(t, srv, "GET", "/api/v1/profile?site=shop&email=nobody@x.example", ""); code != 404 {
		t.Errorf("unknown person: %d", code)
	}

	// Lifecycle counts.
	var lc api.Lifecycle
	code, b = call(t, srv, "GET", "/api/v1/lifecycle?site=shop", "")
	decode(t, b, &lc)
	if code != 200 || lc.Classes["customer"] != 1 || lc.Classes["loyal"] != 1 || lc.Classes["subscriber"] != 1 || lc.Classes["visitor"] != 1 || lc.Stages["conversion"] != 2 {
		t.Errorf("lifecycle %d %s", code, b)
	}

	// A segment, its members page by page and its CSV.
	code, b = call(t, srv, "POST", "/api/v1/segments", `{"site":"shop","name":"Known","conditions":[{"field":"identified","value":true}]}`)
	if code != 201 {
		t.Fatalf("create segment: %d %s", code, b)
	}
	var seg api.SegmentInfo
	decode(t, b, &seg)
	if seg.ID == "" || seg.Members != 3 {
		t.Errorf("segment %s", b)
	}
	for _, bad := range []string{`{"site":"shop","name":"x","conditions":[{"field":"nope","value":1}]}`, `{"site":"shop","name":"","conditions":[{"field":"orders","value":1}]}`, `{"site":"shop"`} {
		if code, b := call(t, srv, "POST", "/api/v1/segments", bad); code != 400 {
			t.Errorf("%s: %d %s", bad, code, b)
		}
	}
	var page struct {
		Members []struct {
			Key string `json:"person_key"`
		}
		Next string
	}
	code, b = call(t, srv, "GET", "/api/v1/segments/"+seg.ID+"/members?site=shop&limit=2", "")
	decode(t, b, &page)
	if code != 200 || len(page.Members) != 2 || page.Members[0].Key != "ann@x.example" || page.Next != "bob@x.example" {
		t.Errorf("page 1: %d %s", code, b)
	}
	code, b = call(t, srv, "GET", "/api/v1/segments/"+seg.ID+"/members?site=shop&limit=2&after="+page.Next, "")
	decode(t, b, &page)
	if code != 200 || len(page.Members) != 1 || page.Members[0].Key != "cat@x.example" || page.Next != "" {
		t.Errorf("page 2: %d %s", code, b)
	}
	code, b = call(t, srv, "GET", "/api/v1/segments/"+seg.ID+"/export.csv?site=shop&consent=newsletter", "")
	wantCSV := "email,user_id,class,stage,populations,first_seen,last_seen,sessions,orders,revenue,last_order,consents\n" +
		"ann@x.example,ann@x.example,customer,conversion,,2026-11-02,2026-11-02,0,1,120.50,2026-11-02,newsletter tips\n" +
		"cat@x.example,cat@x.example,subscriber,acquisition,,2026-11-02,2026-11-02,0,0,0.00,,newsletter\n"
	if code != 200 || string(b) != wantCSV {
		t.Errorf("csv %d:\n%s\nwant:\n%s", code, b, wantCSV)
	}
	code, b = call(t, srv, "GET", "/api/v1/segments/class:loyal/export.csv?site=shop", "")
	if code != 200 || !strings.Contains(string(b), "\nbob@x.example,bob@x.example,loyal,conversion,reseller,") {
		t.Errorf("built-in segment csv %d:\n%s", code, b)
	}
	code, b = call(t, srv, "GET", "/api/v1/segments?site=shop", "")
	if code != 200 || !strings.Contains(string(b), `"id":"class:subscriber"`) || !strings.Contains(string(b), `"name":"Known"`) {
		t.Errorf("list %d %s", code, b)
	}
	if code, _ = call(t, srv, "DELETE", "/api/v1/segments/"+seg.ID+"?site=shop", ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _ = call(t, srv, "GET", "/api/v1/segments/"+seg.ID+"?site=shop", ""); code != 404 {
		t.Errorf("deleted segment: %d", code)
	}

	// The consent ledger, oldest first, with each row's person.
	code, b = call(t, srv, "GET", "/api/v1/consents/export.csv?site=shop", "")
	wantLedger := "time,person,visitor_id,purpose,granted,source,wording,ip,proof,user_id\n" +
		"2026-11-02T09:03:00Z,ann@x.example,va,newsletter,yes,footer-form,nl-v2,,server,ann@x.example\n" +
		"2026-11-02T09:03:00Z,ann@x.example,va,tips,yes,footer-form,nl-v2,,server,ann@x.example\n" +
		"2026-11-02T09:05:00Z,bob@x.example,vb,newsletter,yes,api,,,server,bob@x.example\n" +
		"2026-11-02T09:07:00Z,bob@x.example,vb,newsletter,no,api,,,server,\n" +
		"2026-11-02T09:08:00Z,cat@x.example,vc,newsletter,yes,api,,,server,cat@x.example\n"
	if code != 200 || string(b) != wantLedger {
		t.Errorf("ledger %d:\n%s\nwant:\n%s", code, b, wantLedger)
	}
	code, b = call(t, srv, "GET", "/api/v1/consents/export.csv?site=shop&purpose=tips", "")
	if want := "time,person,visitor_id,purpose,granted,source,wording,ip,proof,user_id\n2026-11-02T09:03:00Z,ann@x.example,va,tips,yes,footer-form,nl-v2,,server,ann@x.example\n"; code != 200 || string(b) != want {
		t.Errorf("tips ledger %d:\n%s", code, b)
	}

	// Export and erasure.
	// The person goes in the body, never the URL (access logs): named in
	// the query string, an export or an erasure is refused with why.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/profile/export?site=shop&email=ann@x.example"},
		{"POST", "/api/v1/profile/export?site=shop&email=ann@x.example"},
		{"POST", "/api/v1/profile/export?site=shop&visitor_id=va"},
		{"DELETE", "/api/v1/profile?site=shop&user_id=ann@x.example"},
		{"DELETE", "/api/v1/profile?site=shop&email=ann@x.example"},
	} {
		code, b = call(t, srv, c.method, c.path, `{"email":"ann@x.example"}`)
		if code != 400 || !strings.Contains(string(b), "access logs") {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, b)
		}
	}
	if code, b = call(t, srv, "GET", "/api/v1/profile/export?site=shop", ""); code != 400 || !strings.Contains(string(b), "POST") {
		t.Errorf("export by GET: %d %s", code, b)
	}
	if code, b = call(t, srv, "DELETE", "/api/v1/profile?site=shop", ""); code != 400 || !strings.Contains(string(b), "JSON body") {
		t.Errorf("erasure without a body: %d %s", code, b)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'va'"); n == 0 {
		t.Fatal("a refused erasure erased")
	}
	code, b = call(t, srv, "POST", "/api/v1/profile/export", `{"site":"shop","email":"ann@x.example"}`)
	var x profiles.Export
	decode(t, b, &x)
	if code != 200 || len(x.Events) != 4 || len(x.Ledger) != 2 {
		t.Errorf("export %d: %d events, ledger %+v", code, len(x.Events), x.Ledger)
	}
	if code, b = call(t, srv, "DELETE", "/api/v1/profile?site=shop", `{"email":"ann@x.example"}`); code != 200 {
		t.Errorf("erase: %d %s", code, b)
	}
	if code, _ = call(t, srv, "GET", "/api/v1/profile?site=shop&email=ann@x.example", ""); code != 404 {
		t.Errorf("erased profile: %d", code)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE visitor_id = 'va'"); n != 0 {
		t.Errorf("%d events left", n)
	}

	// Without a configured token or accounts the people API answers no
	// one (dashboards/app/access_test.go has the roles).
	open := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Rules: profiles.DefaultRules}).Register(open)
	osrv := httptest.NewServer(open)
	defer osrv.Close()
	var e struct{ Error string }
	if code := get(t, osrv, "/api/v1/profile?site=shop&email=cat@x.example", "", &e); code != 401 || !strings.Contains(e.Error, "log in") {
		t.Errorf("no credential: %d %q", code, e.Error)
	}
	if code := get(t, srv, "/api/v1/segments?site=shop", "wrong", &e); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
}
