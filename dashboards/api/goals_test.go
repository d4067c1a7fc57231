package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"footfall/dashboards/api"
	"footfall/internal/access"
	"footfall/internal/profiles"
	"footfall/tests/stacktest"
)

// TestGoals: goals are created, listed with their figures for the period
// and the page's filters, refused when malformed, and deleted. The seed
// (reportServer) has three visitors in the period: a ordered 50.00 and
// clicked signup, b saw / and /shoes, c (mobile) saw /shoes and /hats and
// clicked signup.
func TestGoals(t *testing.T) {
	srv := reportServer(t)
	ids := map[string]string{}
	for _, g := range []string{
		`{"site":"shop","name":"Signup","kind":"event","value":"signup_click"}`,
		`{"site":"shop","name":"Shoes page","kind":"page","value":"/shoes"}`,
		`{"site":"shop","name":"Any shoes","kind":"page","value":"/shoes*"}`,
		`{"site":"shop","name":"Under shoes","kind":"page","value":"/shoes/*"}`,
		`{"site":"shop","name":"H-s","kind":"page","value":"/h*s"}`,
		`{"site":"shop","name":"Dot is a dot","kind":"page","value":"/shoes.trail*"}`,
		`{"site":"shop","name":"Order","kind":"order"}`,
	} {
		code, body := call(t, srv, "POST", "/api/v1/goals", g)
		if code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", g, code, body)
		}
		var made api.Goal
		decode(t, body, &made)
		if made.ID == "" {
			t.Fatalf("create %s: no id in %s", g, body)
		}
		ids[made.Name] = made.ID
	}
	for _, bad := range []string{
		`{"site":"shop","name":"x","kind":"visit","value":"/"}`,
		`{"site":"shop","name":"x","kind":"page","value":"shoes"}`,
		`{"site":"shop","name":"","kind":"event","value":"signup_click"}`,
		`{"site":"shop","name":"x","kind":"event","value":""}`,
		`{"site":"shop","name":"x","kind":"order","value":"o1"}`,
	} {
		if code, body := call(t, srv, "POST", "/api/v1/goals", bad); code != http.StatusBadRequest {
			t.Errorf("create %s: %d %s, want 400", bad, code, body)
		}
	}
	const period = "/api/v1/goals?site=shop&from=2026-11-10&to=2026-11-12"
	figures := func(path string) [][]any {
		t.Helper()
		var tab api.Table
		if code := get(t, srv, path, "tok", &tab); code != 200 {
			t.Fatalf("%s: status %d", path, code)
		}
		if want := []string{"goal_id", "name", "kind", "value", "conversions", "conversion_rate", "revenue"}; !reflect.DeepEqual(tab.Columns, want) {
			t.Fatalf("columns %v", tab.Columns)
		}
		for _, r := range tab.Rows {
			if r[0] != ids[r[1].(string)] {
				t.Errorf("row %v: id, want %s", r, ids[r[1].(string)])
			}
			r[0] = nil
		}
		return tab.Rows
	}
	want := [][]any{
		{nil, "Signup", "event", "signup_click", 2., 0.6667, nil},
		{nil, "Shoes page", "page", "/shoes", 2., 0.6667, nil},
		{nil, "Any shoes", "page", "/shoes*", 3., 1., nil},
		{nil, "Under shoes", "page", "/shoes/*", 1., 0.3333, nil},
		{nil, "H-s", "page", "/h*s", 1., 0.3333, nil},
		{nil, "Dot is a dot", "page", "/shoes.trail*", 0., 0., nil},
		{nil, "Order", "order", "", 1., 0.3333, 50.},
	}
	if got := figures(period); !reflect.DeepEqual(got, want) {
		t.Errorf("goals:\n got %v\nwant %v", got, want)
	}
	// The page's filters narrow the goals and their base alike: b and c
	// are the mobile visitors.
	mobile := [][]any{
		{nil, "Signup", "event", "signup_click", 1., 0.5, nil},
		{nil, "Shoes page", "page", "/shoes", 2., 1., nil},
		{nil, "Any shoes", "page", "/shoes*", 2., 1., nil},
		{nil, "Under shoes", "page", "/shoes/*", 0., 0., nil},
		{nil, "H-s", "page", "/h*s", 1., 0.5, nil},
		{nil, "Dot is a dot", "page", "/shoes.trail*", 0., 0., nil},
		{nil, "Order", "order", "", 0., 0., 0.},
	}
	if got := figures(period + "&filter=device==mobile"); !reflect.DeepEqual(got, mobile) {
		t.Errorf("mobile goals:\n got %v\nwant %v", got, mobile)
	}
	if code, body := call(t, srv, "DELETE", "/api/v1/goals/"+ids["H-s"]+"?site=shop", ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	if code, _ := call(t, srv, "DELETE", "/api/v1/goals/"+ids["H-s"]+"?site=shop", ""); code != http.StatusNotFound {
		t.Errorf("delete again: %d, want 404", code)
	}
	if code, _ := call(t, srv, "DELETE", "/api/v1/goals/"+ids["Signup"]+"?site=other", ""); code != http.StatusNotFound {
		t.Errorf("delete through another site: %d, want 404", code)
	}
	left := append(append([][]any{}, want[:4]...), want[5:]...)
	if got := figures(period); !reflect.DeepEqual(got, left) {
		t.Errorf("after delete:\n got %v\nwant %v", got, left)
	}
}

// TestGoalRoles: writing goals takes the write level (an editor), reading
// them the read level (a viewer), of the goal's site.
func TestGoalRoles(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	reader := stacktest.Reader(t, store)
	accounts := access.NewStore(reader, store.DB())
	ctx := context.Background()
	token := func(g access.Grants) string {
		secret, _, err := accounts.NewToken(ctx, "t", g, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	viewer, editor, stranger := token(access.Grants{"shop": access.ScopeRead}), token(access.Grants{"shop": access.ScopeWrite}),
		token(access.Grants{"other": access.ScopeWrite})
	mux := http.NewServeMux()
	api.New(reader, store, api.Config{Access: accounts, Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	as := func(tok, method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const goal = `{"site":"shop","name":"Order","kind":"order"}`
	for _, tok := range []string{viewer, stranger} {
		if code, body := as(tok, "POST", "/api/v1/goals", goal); code != http.StatusForbidden {
			t.Errorf("create without the write level: %d %s", code, body)
		}
	}
	code, body := as(editor, "POST", "/api/v1/goals", goal)
	if code != http.StatusCreated {
		t.Fatalf("editor's create: %d %s", code, body)
	}
	var g api.Goal
	decode(t, []byte(body), &g)
	if code, body := as(viewer, "GET", "/api/v1/goals?site=shop&from=2026-11-10&to=2026-11-12", ""); code != 200 || !strings.Contains(body, `"Order"`) {
		t.Errorf("viewer's list: %d %s", code, body)
	}
	if code, _ := as(stranger, "GET", "/api/v1/goals?site=shop&from=2026-11-10&to=2026-11-12", ""); code != http.StatusForbidden {
		t.Errorf("another site's user lists: %d", code)
	}
	for _, tok := range []string{viewer, stranger} {
		if code, _ := as(tok, "DELETE", "/api/v1/goals/"+g.ID+"?site=shop", ""); code != http.StatusForbidden {
			t.Errorf("delete without the write level: %d", code)
		}
	}
	if code, body := as(editor, "DELETE", "/api/v1/goals/"+g.ID+"?site=shop", ""); code != http.StatusNoContent {
		t.Errorf("editor's delete: %d %s", code, body)
	}
}
