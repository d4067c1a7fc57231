package system

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"footfall/dashboards/api"
	"footfall/dashboards/web"
	"footfall/internal/access"
	"footfall/internal/profiles"
	"footfall/internal/sites"
	"footfall/tests/stacktest"
)

// TestBrowserSites: the dashboards' Sites page in headless Chromium makes
// a site (a wrong zone refused first, with the reason), changes a
// setting, adds a key, which it shows once and which works, and revokes
// it; the registry holds what the page did.
func TestBrowserSites(t *testing.T) {
	playwright, err := filepath.Abs("../../sdk-js/node_modules/playwright-core/index.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(playwright); err != nil {
		t.Fatal("sdk-js/node_modules is missing: run make test (it runs npm ci in sdk-js)")
	}
	_, store := stacktest.ClickHouse(t)
	reader := stacktest.Reader(t, store)
	reg := sites.NewRegistry(sites.NewStore(reader))
	if err := reg.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The page uses the login's session cookie, as the reports page: an
	// admin logs in; a token in the page's address is refused.
	acc := access.NewStore(reader, store.DB())
	if _, err := acc.SaveUser(context.Background(), "admin", "sites-admin-password", true, nil); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(reader, store, api.Config{Token: "tok", Rules: profiles.DefaultRules, Sites: reg, Access: acc}).Register(mux)
	mux.Handle("GET /", api.Pages(http.FileServerFS(web.Files)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	shots, err := filepath.Abs("../../.local/screenshots")
	if err == nil {
		err = os.MkdirAll(shots, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/sites.html?token=tok", "/?token=tok", "/index.html?access_token=tok", "/api/v1/sites?token=tok"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("GET %s: %d, want 400 (a token in the address)", path, resp.StatusCode)
		}
	}
	cmd := exec.Command("node", "e2e/sites.mjs", srv.URL+"/sites.html", shots, "admin", "sites-admin-password")
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_CORE="+playwright)
	cmd.Dir = "../../dashboards"
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	var seen struct {
		PageErrors          []string
		Empty, Refused, Key string
		Made, Changed, Keys [][]string
		AfterRevoke         [][]string
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(seen.PageErrors) > 0 {
		t.Errorf("page errors: %v", seen.PageErrors)
	}
	if !strings.Contains(seen.Empty, "No site yet") {
		t.Errorf("before any site: %q", seen.Empty)
	}
	if !strings.Contains(seen.Refused, "unknown time zone") {
		t.Errorf("a wrong zone: %q", seen.Refused)
	}
	want := []string{"paris · Paris shop", "shop.example, boutique.example", "Europe/Paris", "EUR", "3 orders / 500 EUR", "0"}
	if len(seen.Made) != 1 || strings.Join(seen.Made[0][:6], "|") != strings.Join(want, "|") {
		t.Errorf("made: %q, want %q", seen.Made, want)
	}
	if len(seen.Changed) != 1 || seen.Changed[0][4] != "5 orders / 500 EUR" {
		t.Errorf("changed: %q", seen.Changed)
	}
	if !strings.HasPrefix(seen.Key, "ffk_") || len(seen.Keys) != 1 || seen.Keys[0][1] != "backend" {
		t.Errorf("key %q, keys %q", seen.Key, seen.Keys)
	}
	if len(seen.AfterRevoke) != 0 {
		t.Errorf("after the revocation: %q", seen.AfterRevoke)
	}
	got, ok := reg.Get("paris")
	if !ok || got.TimeZone != "Europe/Paris" || got.LoyalOrders != 5 || len(got.Keys) != 0 || reg.CheckKey("paris", seen.Key) {
		t.Errorf("the registry holds %+v", got)
	}
}
