package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestCustomerImport: a shop's customers (UTF-8 with a byte order mark,
// ";" separator, French header names, a population with a space, the
// shop's own class) and their past orders (decimal commas, French dates,
// two currencies) come in through POST /api/v1/customers/import; the
// rows that cannot be taken are named with their file, line and why, the
// others are people classified as the file says (class, populations,
// lifecycle stage from their orders), with their consents and proof in
// the ledger, and their orders in ClickHouse. The same files again add
// nothing.
func TestCustomerImport(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	customers := "\ufeffE-mail;external_id;Classe;Populations;Consentements;consent_source;consent_time;consent_text\r\n" +
		"Ann@Example.com;CRM-1;clients fidèles;Pro B2B|revendeur;newsletter;salon-lyon-2025;2025-11-02T10:00:00+01:00;cgv-v3\r\n" +
		"bob@example.com;CRM-2;;particulier;;;;\r\n" +
		"not-an-email;CRM-3;;;;;;\r\n" +
		"carol@example.com;CRM-4;;grossiste;newsletter;;;\r\n" +
		"dan@example.com;CRM-5;;;;;;\r\n" +
		"erin@example.com;CRM-6;;pro|;newsletter;site;32/13/2025;v1\r\n"
	orders := "email;order_id;date;amount;currency\n" +
		"ann@example.com;C-1;15/03/2026;120,50;EUR\n" +
		"ann@example.com;C-2;" + time.Now().UTC().AddDate(0, 0, -20).Format("2006-01-02") + ";80;chf\n" +
		"bob@example.com;C-3;2025-01-10;45.00;EUR\n" +
		"bob@example.com;C-3;2025-01-11;45.00;EUR\n" +
		"dan@example.com;C-4;2099-01-01;10;EUR\n" +
		"dan@example.com;C-5;2026-01-01;1 000,00;EUR\n" +
		"dan@example.com;C-6;2026-01-01;10;EURO\n"
	type answer struct {
		Customers, Consents, Orders int
		People                      []string
		Known                       []struct{ Line int } `json:"already_imported"`
		Rejected                    []struct {
			File, Email, Reason string
			Line                int
		}
		Error string
	}
	post := func() answer {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for name, content := range map[string]string{"customers": customers, "orders": orders} {
			fw, _ := mw.CreateFormFile(name, name+".csv")
			io.WriteString(fw, content)
		}
		mw.Close()
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/customers/import?site=shop", &body)
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a answer
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &a); err != nil || resp.StatusCode != 200 {
			t.Fatalf("import: %d %s", resp.StatusCode, b)
		}
		return a
	}
	a := post()
	if a.Customers != 3 || a.Consents != 1 || a.Orders != 3 || len(a.Known) != 0 {
		t.Errorf("imported %d customers, %d consents, %d orders, %d known; want 3, 1, 3, 0", a.Customers, a.Consents, a.Orders, len(a.Known))
	}
	if want := "[ann@example.com bob@example.com dan@example.com]"; fmt.Sprint(a.People) != want {
		t.Errorf("people %v, want %s", a.People, want)
	}
	var got []string
	for _, r := range a.Rejected {
		got = append(got, fmt.Sprintf("%s:%d", r.File, r.Line))
	}
	if want := "[customers:4 customers:5 customers:7 orders:5 orders:6 orders:7 orders:8]"; fmt.Sprint(got) != want {
		t.Errorf("rejected %v, want %s: %+v", got, want, a.Rejected)
	}
	for _, r := range a.Rejected {
		if r.File == "customers" && r.Line == 5 && !strings.Contains(r.Reason, "consent_source") ||
			r.File == "orders" && r.Line == 5 && !strings.Contains(r.Reason, "line 4") ||
			r.File == "orders" && r.Line == 6 && !strings.Contains(r.Reason, "future") {
			t.Errorf("%s line %d: %q", r.File, r.Line, r.Reason)
		}
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop' AND type = 'purchase'"); n != 3 {
		t.Errorf("%d purchases stored, want 3", n)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop' AND type = 'purchase' AND order_id = 'C-1' AND revenue_micros = 120500000 AND currency = 'EUR' AND toDate(time) = '2026-03-15' AND user_id = 'ann@example.com'"); n != 1 {
		t.Errorf("order C-1 not stored as given (%d rows)", n)
	}

	// The people: the profile is computed from the events, the segments'
	// members read the people table, which the processor refreshes.
	if _, err := profiles.NewStore(store.DB(), profiles.DefaultRules).Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	get := func(path string, into any) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, into); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}
	type person struct {
		UserID      string   `json:"user_id"`
		Class       string   `json:"class"`
		Stage       string   `json:"stage"`
		Populations []string `json:"populations"`
		Orders      uint64   `json:"orders"`
	}
	for email, want := range map[string]string{
		"ann@example.com": "clients fidèles retention [Pro B2B revendeur] 2",
		"bob@example.com": "customer reactivation [particulier] 1",
		"dan@example.com": "visitor acquisition [] 0",
	} {
		var p person
		get("/api/v1/profile?site=shop&email="+email, &p)
		sort.Strings(p.Populations)
		if got := fmt.Sprintf("%s %s %v %d", p.Class, p.Stage, p.Populations, p.Orders); got != want {
			t.Errorf("profile of %s: %s, want %s", email, got, want)
		}
	}
	var members struct{ Members []person }
	get("/api/v1/segments/stage:reactivation/members?site=shop", &members)
	if len(members.Members) != 1 || members.Members[0].UserID != "bob@example.com" {
		t.Errorf("reactivation members %+v, want bob", members.Members)
	}
	ledger := stacktest.Count(t, store, "SELECT count() FROM consents WHERE site_id = 'shop' AND purpose = 'newsletter' AND granted = 1 AND source = 'salon-lyon-2025' AND wording = 'cgv-v3' AND proof = 'server' AND time = toDateTime('2025-11-02 09:00:00', 'UTC')")
	if ledger != 1 {
		t.Errorf("ann's consent in the ledger: %d rows with its proof, want 1", ledger)
	}

	// The same files again: nothing new.
	events := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop'")
	a = post()
	if a.Orders != 0 || len(a.Known) != 3 || a.Customers != 3 {
		t.Errorf("again: %d orders, %d known, %d customers; want 0, 3, 3", a.Orders, len(a.Known), a.Customers)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop'"); n != events {
		t.Errorf("again: %d events, were %d", n, events)
	}
}
