package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/campaigns"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// importAnswer is what POST /api/v1/campaigns/{id}/recipients answers.
type importAnswer struct {
	Added    int `json:"added"`
	Sent     int `json:"sent"`
	Rejected []struct {
		Line   int    `json:"line"`
		Email  string `json:"email"`
		Reason string `json:"reason"`
	} `json:"rejected"`
	Error string `json:"error"`
}

// TestImportRowsThroughAPI: a JSON import keeps its valid recipients and
// names each other one with its place and why (a number or an object for
// an address, a plain string, null, two keys naming the address), its
// other keys (name, first_name) ignored as a CSV's other columns are; a
// CSV's header may name the address in the languages spreadsheets are
// kept in, and one naming it twice, or not at all, is refused saying why.
func TestImportRowsThroughAPI(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	ctx := context.Background()
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	campaign := func(name string) string {
		c, err := campaigns.NewStore(store.DB()).Save(ctx, campaigns.Campaign{Site: "shop", Name: name, SentAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	post := func(id, contentType, body string) (int, importAnswer) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/campaigns/"+id+"/recipients?site=shop&consent_wording=nl-v1", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var a importAnswer
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return resp.StatusCode, a
	}
	stored := func(id string) string {
		t.Helper()
		code, b := call(t, srv, "GET", "/api/v1/campaigns/"+id+"/recipients?site=shop", "")
		var list []campaigns.Recipient
		if code != 200 || json.Unmarshal(b, &list) != nil {
			t.Fatalf("recipients: %d %s", code, b)
		}
		var out []string
		for _, r := range list {
			out = append(out, r.Email+"/"+r.ExternalID)
		}
		return strings.Join(out, " ")
	}
	rejected := func(a importAnswer) string {
		var out []string
		for _, r := range a.Rejected {
			out = append(out, fmt.Sprint(r.Line))
		}
		return strings.Join(out, " ")
	}

	id := campaign("JSON rows")
	code, a := post(id, "application/json", `{"recipients":[
		{"email":"ann@example.com","name":"Ann"},
		{"email":123},
		"carl@example.com",
		{"email":"bob@example.com","first_name":"Bob","last_name":"Brown"},
		{"email":"dan@example.com","Email":"dan2@example.com"},
		{"E-mail":"eve@example.com","external_id":42},
		null,
		{"email":{"address":"fay@example.com"}},
		{"email":"not-an-address"},
		{"email":["gus@example.com"]},
		{"email":"hal@example.com","external_id":true}
	],"consent_wording":"nl-v1"}`)
	if code != 200 || a.Added != 3 || a.Sent != 3 || rejected(a) != "2 3 5 7 8 9 10 11" {
		t.Errorf("JSON import: %d, added %d, sent %d, rejected %s (%+v); want 3 added, 2 3 5 7 8 9 10 11 rejected", code, a.Added, a.Sent, rejected(a), a.Rejected)
	}
	for i, want := range []string{"is a number", "not a string", "both name the email", "not null", "is an object", "e-mail address", "is a list", "is a boolean"} {
		if i < len(a.Rejected) && !strings.Contains(a.Rejected[i].Reason, want) {
			t.Errorf("recipient %d: reason %q, want it to say %q", a.Rejected[i].Line, a.Rejected[i].Reason, want)
		}
	}
	if got, want := stored(id), "ann@example.com/ bob@example.com/ eve@example.com/42"; got != want {
		t.Errorf("stored %s, want %s", got, want)
	}

	for header, want := range map[string]string{
		"E-Mail-Adresse;Vorname":       "E-Mail-Adresse",
		"Courriel;Prénom":              "Courriel",
		"Prénom;Adresse e-mail":        "Adresse e-mail",
		"Correo electrónico;Nombre":    "Correo electrónico",
		"Nome;Indirizzo email":         "Indirizzo email",
		"E-mailadres;Voornaam":         "E-mailadres",
		"Name;E-MAIL ADDRESS":          "E-MAIL ADDRESS",
		"external_id;email;first_name": "email",
	} {
		id := campaign("CSV " + want)
		body := header + "\n"
		for _, row := range []string{"ann@example.com", "bob@example.com"} {
			if strings.HasPrefix(header, "E-") || strings.HasPrefix(header, "Courriel") || strings.HasPrefix(header, "Correo") {
				body += row + ";Someone\n"
			} else {
				body += "7;" + row + ";x\n"
			}
		}
		if code, a := post(id, "text/csv", body); code != 200 || a.Added != 2 || len(a.Rejected) != 0 {
			t.Errorf("header %q: %d %+v; want 2 added", header, code, a)
		}
	}

	for name, c := range map[string]struct{ body, want string }{
		"email twice":         {"email,email\nann@example.com,bob@example.com\n", `columns 1 ("email") and 2 ("email") both name the email column`},
		"email spelled twice": {"Name;Email;E-Mail-Adresse\nAnn;ann@example.com;bob@example.com\n", `columns 2 ("Email") and 3 ("E-Mail-Adresse") both name the email column`},
		"external_id twice":   {"email,external_id,External ID\nann@example.com,1,2\n", `columns 2 ("external_id") and 3 ("External ID") both name the external_id column`},
		"no email column":     {"Name;Telefon\nAnn;1\n", `names no email column: found "Name", "Telefon" (separated by ';'); want an email column: "email" (or`},
	} {
		if code, a := post(campaign("Refused "+name), "text/csv", c.body); code != 400 || !strings.Contains(a.Error, c.want) {
			t.Errorf("%s: %d %q, want 400 saying %q", name, code, a.Error, c.want)
		}
	}
}
