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
// it; the registry holds what the page did. Switched to French (issue
// #26), its headings, labels, accessible names and messages are French,
// the choice is kept on reload, it fits 390 px, and axe-core finds no
// WCAG A/AA violation in English or in French.
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
		AxeEn, AxeFr        []any
		AxeFrNarrow         []any
		Fr                  struct {
			Lang, Title, Stored, BadRate, Saved                     string
			Headings, Labels, Headers, Buttons, Names, Placeholders []string
			List                                                    [][]string
		}
		FrReloaded string
		Narrow     struct {
			Width  int
			Widest []string
			Cut    []string
		}
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
	for name, v := range map[string][]any{"English": seen.AxeEn, "French": seen.AxeFr, "French at 390 px": seen.AxeFrNarrow} {
		if len(v) != 0 {
			t.Errorf("axe-core in %s: %d violations: %v", name, len(v), v)
		}
	}
	fr := seen.Fr
	if fr.Lang != "fr" || fr.Title != "Footfall · Sites" || fr.Stored != "fr" {
		t.Errorf("French: lang %q, title %q, stored choice %q", fr.Lang, fr.Title, fr.Stored)
	}
	all := strings.Join(fr.Headings, "\n")
	for _, l := range [][]string{fr.Labels, fr.Headers, fr.Buttons, fr.Names, fr.Placeholders} {
		all += "\n" + strings.Join(l, "\n")
	}
	for _, want := range []string{"Site paris", "Clés d'API serveur de paris", "Fuseau horaire", "Devise",
		"Fidèle à partir de (commandes)", "Garder les événements (jours ; 0 : toujours)", "accepter les visites d'autres domaines",
		"Domaines", "Clés", "Créée le", "Enregistrer|", "Annuler|", "Modifier|Modifier paris", "Ajouter une clé|", "Langue",
		"Nom de la nouvelle clé", "Ma boutique", "serveur"} {
		if !strings.Contains(all, want) {
			t.Errorf("French: no %q in\n%s", want, all)
		}
	}
	for _, english := range []string{"New site", "Time zone", "Currency", "Loyal", "Keys", "Cancel", "Edit", "Add a key", "Language", "Name"} {
		for _, s := range strings.Split(all, "\n") {
			if strings.Contains(s, english) {
				t.Errorf("French: English %q left in %q", english, s)
			}
		}
	}
	if len(fr.List) != 1 || fr.List[0][4] != "5 commandes / 500 EUR" {
		t.Errorf("French list: %q", fr.List)
	}
	if !strings.Contains(fr.BadRate, "« blog1 » n'est pas de la forme id=taux") || !strings.Contains(fr.Saved, "paris enregistré") {
		t.Errorf("French messages: %q, %q", fr.BadRate, fr.Saved)
	}
	if seen.FrReloaded != "Footfall · Sites" {
		t.Errorf("reloaded: %q", seen.FrReloaded)
	}
	if seen.Narrow.Width > 390 || len(seen.Narrow.Cut) > 0 {
		t.Errorf("at 390 px: page %d px wide, cut off: %q; wider: %q", seen.Narrow.Width, seen.Narrow.Cut, seen.Narrow.Widest)
	}
	got, ok := reg.Get("paris")
	if !ok || got.TimeZone != "Europe/Paris" || got.LoyalOrders != 5 || len(got.Keys) != 0 || reg.CheckKey("paris", seen.Key) {
		t.Errorf("the registry holds %+v", got)
	}
}
