package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/money"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestRatesDayTwiceRefused: POST /api/v1/rates with one day on two lines
// (the same spelling, or 2026-10-01 and 1 October 2026) is 400 naming
// both lines, and no rate is loaded; money.Load given one day and
// currency twice refuses them too, writing nothing.
func TestRatesDayTwiceRefused(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules,
		Currency: func(site string) string { return "USD" }}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for file, want := range map[string]string{
		"Date,USD,JPY\n2026-10-01,1.10,150\n2026-10-01,1.30,100\n":     "lines 2 and 3: both are 2026-10-01",
		"Date,USD,JPY\n2026-10-01,1.10,150\n1 October 2026,1.30,100\n": "lines 2 and 3: both are 2026-10-01",
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/rates", strings.NewReader(file))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if msg, _ := out["error"].(string); resp.StatusCode != 400 || !strings.Contains(msg, want) {
			t.Errorf("%q: %d %v, want 400 with %q", file, resp.StatusCode, out, want)
		}
	}
	day := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	_, err := money.Load(context.Background(), store.DB(), []money.Rate{{Day: day, Currency: "USD", PerEUR: 1.1}, {Day: day.Add(3 * time.Hour), Currency: "USD", PerEUR: 1.3}})
	if err == nil || !strings.Contains(err.Error(), "2026-10-01 USD given twice") {
		t.Errorf("Load with a day twice: %v", err)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM exchange_rates"); n != 0 {
		t.Errorf("%d rates loaded, want none", n)
	}
}
