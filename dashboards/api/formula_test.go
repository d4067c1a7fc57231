package api_test

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

var number = regexp.MustCompile(`^[+-]?\d+(\.\d+)?$`)

// TestExportsNeutraliseFormulas: a value an attacker sent in a hit comes
// back in every CSV export as text, not as a formula a spreadsheet would
// run (OWASP "CSV Injection"): a report by utm_source, a segment's members
// and the consent ledger.
func TestExportsNeutraliseFormulas(t *testing.T) {
	const evil = `=HYPERLINK("http://evil.example","x")`
	_, store := stacktest.ClickHouse(t)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	hit := func(typ string, f map[event.Field]string, props ...string) stacktest.Hit {
		fields := map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: "va", event.URL: "https://shop.example/p?utm_source=" + strings.NewReplacer("=", "%3D", "\"", "%22", ",", "%2C").Replace(evil)}
		for k, v := range f {
			fields[k] = v
		}
		at = at.Add(time.Minute)
		return stacktest.Hit{At: at, Fields: fields, Props: props}
	}
	// The subscription through the server API (a browser's would be a
	// claim, its user id in no person's row): the attacker is the shop's
	// own form, passing the values on.
	sub := hit("subscribe", map[event.Field]string{event.UserID: "+cmd|' /C calc'!A0"}, "lists", "newsletter", "source", "@SUM(1+1)", "wording", "-2+3")
	sub.Ingest = event.IngestAPI
	stacktest.Insert(t, store, hit("pageview", nil), sub)
	refresh(t, store)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, path := range []string{
		"/api/v1/breakdown?site=shop&by=utm_source&from=2026-11-01&to=2026-11-03&format=csv",
		"/api/v1/segments/class:subscriber/export.csv?site=shop",
		"/api/v1/consents/export.csv?site=shop",
		"/api/v1/breakdown?site=shop&by=utm_source&from=2026-11-01&to=2026-11-03&format=csv&dialect=excel-fr",
		"/api/v1/segments/class:subscriber/export.csv?site=shop&dialect=excel-fr",
		"/api/v1/consents/export.csv?site=shop&dialect=excel-fr",
	} {
		code, b := call(t, srv, "GET", path, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, b)
		}
		rd := csv.NewReader(strings.NewReader(string(b)))
		// Every CSV of the API takes the French Excel dialect: a byte
		// order mark, ';' between cells.
		if strings.HasSuffix(path, "dialect=excel-fr") {
			if !bytes.HasPrefix(b, []byte("\ufeff")) {
				t.Errorf("%s: no byte order mark: %q", path, b[:min(len(b), 20)])
			}
			rd = csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
			rd.Comma = ';'
		}
		cells, err := rd.ReadAll()
		if err != nil {
			t.Fatalf("%s: %v\n%s", path, err, b)
		}
		found := 0
		for _, row := range cells {
			for _, c := range row {
				if c == "" {
					continue
				}
				switch c[0] {
				case '=', '+', '-', '@', '\t', '\r':
					if !number.MatchString(c) {
						t.Errorf("%s: cell %q would run as a formula", path, c)
					}
				case '\'':
					found++
				}
			}
		}
		if found == 0 {
			t.Errorf("%s: no neutralised cell in\n%s", path, b)
		}
	}
}
