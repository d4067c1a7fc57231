package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"footfall/internal/sites"
	"footfall/tests/stacktest"
)

// TestConcurrentSiteWriters: two dashboards (two API servers, each with
// its own registry and store, no lock in common) change one site at once,
// four writers each making and revoking keys and changing settings of
// their own. At the end every revoked key is revoked, every kept key is
// there, and every writer's last value of each of its settings is the
// site's. A whole-row rewrite from what each writer had read lost
// revocations and settings.
func TestConcurrentSiteWriters(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	srvs := make([]*httptest.Server, 2)
	regs := make([]*sites.Registry, 2)
	for i := range srvs {
		srvs[i], regs[i] = sitesServer(t, store)
	}
	if code, b := call(t, srvs[0], "POST", "/api/v1/sites", `{"id":"race","time_zone":"Europe/Paris","currency":"EUR"}`); code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	do := func(srv *httptest.Server, method, path, body string) (int, []byte, error) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	// Each writer owns one setting and affiliate ids of its own.
	settings := []string{"loyal_orders", "inactive_days", "retention_days", "loyal_revenue"}
	const rounds = 8
	var (
		mu               sync.Mutex
		revoked, kept    []string // key ids
		conflicts, fails int
	)
	var wg sync.WaitGroup
	for w, setting := range settings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := srvs[w%2]
			prev := ""
			defer func() {
				mu.Lock()
				kept = append(kept, prev)
				mu.Unlock()
			}()
			for r := 1; r <= rounds; r++ {
				var ids [2]string
				for i := range ids {
					code, b, err := do(srv, "POST", "/api/v1/sites/race/keys", fmt.Sprintf(`{"name":"w%d-%d-%d"}`, w, r, i))
					var k struct{ ID string }
					if err != nil || code != 201 || json.Unmarshal(b, &k) != nil {
						t.Errorf("writer %d add key: %d %s %v", w, code, b, err)
						return
					}
					ids[i] = k.ID
				}
				// The first key of this round, and the second of the round
				// before (a site has at most 20 keys).
				gone := []string{ids[0]}
				if prev != "" {
					gone = append(gone, prev)
				}
				for _, id := range gone {
					if code, b, err := do(srv, "DELETE", "/api/v1/sites/race/keys/"+id, ""); err != nil || code != 204 {
						t.Errorf("writer %d revoke: %d %s %v", w, code, b, err)
						return
					}
				}
				code, b, err := do(srv, "PATCH", "/api/v1/sites/race",
					fmt.Sprintf(`{%q:%d,"affiliate_rates":{"w%d-%d":0.0%d}}`, setting, 10*w+r, w, r, r))
				mu.Lock()
				switch {
				case err == nil && code == 200:
				case err == nil && code == 409:
					conflicts++
				default:
					fails++
					t.Errorf("writer %d patch: %d %s %v", w, code, b, err)
				}
				revoked = append(revoked, gone...)
				mu.Unlock()
				prev = ids[1]
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// A conflict answered to its caller is allowed; none is expected (the
	// writers change different settings), and none lost.
	if conflicts != 0 {
		t.Logf("%d changes answered 409", conflicts)
	}
	for i, srv := range srvs {
		if err := regs[i].Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		code, b := call(t, srv, "GET", "/api/v1/sites/race", "")
		if code != 200 {
			t.Fatalf("get: %d %s", code, b)
		}
		var s sites.Site
		decode(t, b, &s)
		fromReg, _ := regs[i].Get("race")
		for _, got := range []sites.Site{s, fromReg} {
			have := map[string]bool{}
			for _, k := range got.Keys {
				have[k.ID] = true
			}
			for _, id := range revoked {
				if have[id] {
					t.Errorf("server %d: revoked key %s is back", i, id)
				}
			}
			for _, id := range kept {
				if !have[id] {
					t.Errorf("server %d: key %s made and never revoked is gone", i, id)
				}
			}
			if len(got.Keys) != len(kept) {
				t.Errorf("server %d: %d keys, want %d", i, len(got.Keys), len(kept))
			}
			want := func(w int) int { return 10*w + rounds }
			if got.LoyalOrders != want(0) || got.InactiveDays != want(1) || got.RetentionDays != want(2) || got.LoyalRevenue != float64(want(3)) {
				t.Errorf("server %d: settings %d %d %d %v, want each writer's last: %d %d %d %d", i,
					got.LoyalOrders, got.InactiveDays, got.RetentionDays, got.LoyalRevenue, want(0), want(1), want(2), want(3))
			}
			for w := range settings {
				for r := 1; r <= rounds; r++ {
					id := fmt.Sprintf("w%d-%d", w, r)
					if got.AffiliateRates[id] != float64(r)/100 {
						t.Errorf("server %d: affiliate rate %s = %v, want %v", i, id, got.AffiliateRates[id], float64(r)/100)
					}
				}
			}
		}
	}
}

// TestNewSiteIDRule: the API refuses to create a site whose id would not
// read back as itself from a hand-written URL (sites.NewIDRule), saying
// why.
func TestNewSiteIDRule(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	srv, _ := sitesServer(t, store)
	for _, id := range []string{"a+b", "a@b", "a:b", "..", "-a"} {
		code, b := call(t, srv, "POST", "/api/v1/sites", `{"id":"`+id+`","time_zone":"UTC","currency":"EUR"}`)
		if code != 400 || !strings.Contains(string(b), "a + in ?site=a+b is a space") {
			t.Errorf("id %q: %d %s", id, code, b)
		}
	}
	if code, b := call(t, srv, "POST", "/api/v1/sites", `{"id":"shop-2.fr_x","time_zone":"UTC","currency":"EUR"}`); code != 201 {
		t.Errorf("id shop-2.fr_x: %d %s", code, b)
	}
}
