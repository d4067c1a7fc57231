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
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestCustomerImportAnswerBounded: a file of bad lines is answered with
// the first 1,000 listed and their count, not with an answer many times
// the upload; a built-in class written in French or another case, in the
// import and in POST /api/v1/profile/manual, is the lifecycle class; an
// order dated today (in the site's zone) is taken.
func TestCustomerImportAnswerBounded(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	mux := http.NewServeMux()
	tokyo, _ := time.LoadLocation("Pacific/Kiritimati") // UTC+14: its today is often UTC's tomorrow
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules,
		Zone: func(string) *time.Location { return tokyo }}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	post := func(path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var sb strings.Builder
	sb.WriteString("email,class\n")
	for i := 0; i < 5000; i++ {
		sb.WriteString("a\"b,\n")
	}
	code, body := post("/api/v1/customers/import?site=shop", sb.String())
	var a struct {
		Rejected      []json.RawMessage
		RejectedTotal int    `json:"rejected_total"`
		NotListed     string `json:"not_listed"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil || code != 200 {
		t.Fatalf("%d %.300s", code, body)
	}
	if len(a.Rejected) != 1000 || a.RejectedTotal != 5000 || !strings.Contains(a.NotListed, "4000 more not listed") {
		t.Errorf("listed %d, total %d, %q", len(a.Rejected), a.RejectedTotal, a.NotListed)
	}
	if len(body) > 200_000 {
		t.Errorf("answer of %d bytes for an upload of %d", len(body), sb.Len())
	}

	today := time.Now().In(tokyo).Format("2006-01-02")
	code, body = post("/api/v1/customers/import?site=shop&file=orders", "email,order_id,date,amount,currency\nt@example.com,T1,"+today+",10,EUR\n")
	if code != 200 || !strings.Contains(body, `"orders":1`) {
		t.Errorf("order dated today (%s): %d %.300s", today, code, body)
	}

	code, body = post("/api/v1/customers/import?site=shop&file=customers", "email;classe\nfr1@example.com;client\nfr2@example.com;fidèle\nfr3@example.com;Loyal\n")
	if code != 200 || !strings.Contains(body, `"customers":3`) {
		t.Fatalf("%d %.300s", code, body)
	}
	code, body = post("/api/v1/profile/manual?site=shop&email=m@example.com", `{"class":"Customer"}`)
	if code/100 != 2 {
		t.Fatalf("manual: %d %s", code, body)
	}
	ps := profiles.NewStore(store.DB(), profiles.DefaultRules)
	for email, want := range map[string]string{"fr1@example.com": "customer", "fr2@example.com": "loyal", "fr3@example.com": "loyal", "m@example.com": "customer"} {
		o, err := ps.Manual(t.Context(), "shop", email)
		if err != nil || o.Class != want {
			t.Errorf("%s: manual class %q (%v), want %q", email, o.Class, err, want)
		}
	}
}
