package api_test

import (
	"encoding/csv"
	"encoding/json"
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

// TestRatesThroughAPI: the operator loads the ECB's CSV through POST
// /api/v1/rates (an unreadable one is refused with its line, nothing
// loaded); a breakdown of a site reporting in dollars then shows an order
// of 5000 JPY and one of 10 EUR, placed on a Sunday, at Friday's rates
// (45.65 USD, not 5010), names its currency, and lists a GBP order, for
// which no rate was loaded, under unconverted; the CSV names the currency
// in its revenue column and the left-out order in X-Unconverted.
func TestRatesThroughAPI(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	sunday := time.Date(2026, 11, 8, 10, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	for i, o := range []struct {
		cur    string
		micros int64
	}{{"JPY", 5000_000_000}, {"EUR", 10_000_000}, {"GBP", 20_000_000}} {
		hits = append(hits, stacktest.Hit{At: sunday.Add(time.Duration(i) * time.Minute), Revenue: o.micros, Ingest: event.IngestAPI,
			Fields: map[event.Field]string{event.Site: "shop", event.Type: "purchase", event.VisitorID: "v" + o.cur, event.OrderID: "o" + o.cur, event.Currency: o.cur}})
	}
	stacktest.Insert(t, store, hits...)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules,
		Currency: func(site string) string { return map[string]string{"shop": "USD"}[site] }}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/rates", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, out := post("Date,USD,JPY\n2026-11-06,1.0921,abc\n"); code != 400 || !strings.Contains(out["error"].(string), "line 2") {
		t.Errorf("bad CSV: %d %v", code, out)
	}
	if code, out := post("Date,USD,JPY,\n2026-11-06,1.0921,157.21,\n"); code != 200 || out["loaded"] != 3.0 {
		t.Fatalf("load: %d %v", code, out)
	}
	var list struct {
		Currencies []struct {
			Currency string
			Days     int
		}
	}
	if code := get(t, srv, "/api/v1/rates", "tok", &list); code != 200 || len(list.Currencies) != 3 || list.Currencies[2].Currency != "USD" {
		t.Errorf("list: %d %+v", code, list)
	}

	var tab struct {
		Columns     []string
		Rows        [][]any
		Currency    string
		Unconverted []struct {
			Currency string
			Orders   int
			Amount   float64
		}
	}
	if code := get(t, srv, "/api/v1/breakdown?site=shop&by=type&from=2026-11-08&to=2026-11-09", "tok", &tab); code != 200 {
		t.Fatalf("breakdown: %d", code)
	}
	if len(tab.Rows) != 1 || tab.Rows[0][5] != 3.0 || tab.Rows[0][6] != 45.65 || tab.Currency != "USD" ||
		len(tab.Unconverted) != 1 || tab.Unconverted[0].Currency != "GBP" || tab.Unconverted[0].Amount != 20 || tab.Unconverted[0].Orders != 1 {
		t.Errorf("breakdown %+v", tab)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/breakdown?site=shop&by=type&from=2026-11-08&to=2026-11-09&format=csv", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(lines) != 2 || lines[0][6] != "revenue USD" || lines[1][6] != "45.65" || resp.Header.Get("X-Unconverted") != "GBP 20 (1 orders)" {
		t.Errorf("CSV %q, X-Unconverted %q, %v", lines, resp.Header.Get("X-Unconverted"), err)
	}
}
