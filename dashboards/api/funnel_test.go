package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-faster/city"

	"footfall/dashboards/api"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/internal/reports"
	"footfall/tests/stacktest"
)

// TestFunnelOrder: steps of the same second count in the order they
// happened, as the collector's ids record it (event.NewID), not in the
// order of the steps nor as they lie on disk; one event is one step; the
// window is in whole seconds from the step 1 event a visitor's furthest
// chain starts at. Hits of one second are written in the order they
// happened, as the collector stamps them.
func TestFunnelOrder(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	d := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	s := d.Add(7 * time.Second) // the second of the checkouts and orders
	ms := time.Millisecond
	hit := func(at time.Time, visitor, typ, path string) stacktest.Hit {
		return stacktest.Hit{At: at, Fields: map[event.Field]string{event.Site: "shop", event.Type: typ, event.VisitorID: visitor,
			event.SessionID: visitor + "1", event.URL: "https://shop.example" + path}}
	}
	stacktest.Insert(t, store,
		// Checkout and order in the same millisecond, in both orders.
		hit(d, "inorder", "pageview", "/"),
		hit(s.Add(250*ms), "inorder", "begin_checkout", "/checkout"),
		hit(s.Add(250*ms), "inorder", "purchase", "/thanks"),
		hit(d, "reversed", "pageview", "/"),
		hit(s.Add(250*ms), "reversed", "purchase", "/thanks"),
		hit(s.Add(250*ms), "reversed", "begin_checkout", "/checkout"),
		// The same second, different milliseconds, in both orders.
		hit(d, "ms", "pageview", "/"),
		hit(s.Add(400*ms), "ms", "begin_checkout", "/checkout"),
		hit(s.Add(900*ms), "ms", "purchase", "/thanks"),
		hit(d, "msrev", "pageview", "/"),
		hit(s.Add(400*ms), "msrev", "purchase", "/thanks"),
		hit(s.Add(900*ms), "msrev", "begin_checkout", "/checkout"),
		// A 60 s window counts whole seconds: 10:00:00.9 to 10:01:00.1 is
		// in, to 10:01:01.0 is out; a later start can still make it.
		hit(d.Add(900*ms), "edge", "pageview", "/"),
		hit(d.Add(60*time.Second+100*ms), "edge", "begin_checkout", "/checkout"),
		hit(d.Add(900*ms), "late", "pageview", "/"),
		hit(d.Add(61*time.Second), "late", "begin_checkout", "/checkout"),
		hit(d, "restart", "pageview", "/"),
		hit(d.Add(50*time.Second), "restart", "pageview", "/x"),
		hit(d.Add(100*time.Second), "restart", "begin_checkout", "/checkout"),
		// One page view that fits two steps is one step; two are two.
		hit(d, "cart", "pageview", "/cart"),
		hit(d, "carts", "pageview", "/cart"),
		hit(d.Add(time.Second), "carts", "pageview", "/cart"),
	)
	// Ten steps within one second on a site of their own: /1 to /10 in
	// order, one millisecond apart or in the same one, and backwards.
	var ten []stacktest.Hit
	for i := 1; i <= 10; i++ {
		h := hit(s.Add(time.Duration(i/2)*ms), "up", "pageview", "/"+strconv.Itoa(i))
		h.Fields[event.Site] = "ten"
		ten = append(ten, h)
	}
	for i := 10; i >= 1; i-- {
		h := hit(s.Add(time.Duration(10-i)*ms), "down", "pageview", "/"+strconv.Itoa(i))
		h.Fields[event.Site] = "ten"
		ten = append(ten, h)
	}
	stacktest.Insert(t, store, ten...)
	mux := http.NewServeMux()
	api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	const period = "&from=2026-11-20&to=2026-11-21"
	for _, c := range []struct {
		name, query string
		want        [][]any
	}{
		{"checkout then order", "&step=type==pageview&step=type==begin_checkout&step=type==purchase", [][]any{
			{1., "type==pageview", 9., 1., 0.},
			{2., "type==begin_checkout", 7., 0.7778, 0.2222},
			{3., "type==purchase", 2., 0.2222, 0.7143},
		}},
		{"window of a minute", "&step=type==pageview&step=type==begin_checkout&window=60", [][]any{
			{1., "type==pageview", 9., 1., 0.},
			{2., "type==begin_checkout", 6., 0.6667, 0.3333},
		}},
		{"overlapping steps", "&step=type==pageview&step=" + url.QueryEscape("type==pageview;page==/cart"), [][]any{
			{1., "type==pageview", 9., 1., 0.},
			{2., "type==pageview;page==/cart", 1., 0.1111, 0.8889},
		}},
		{"ten steps", "&step=page==/1&step=page==/2&step=page==/3&step=page==/4&step=page==/5" +
			"&step=page==/6&step=page==/7&step=page==/8&step=page==/9&step=page==/10", [][]any{
			{1., "page==/1", 2., 1., 0.},
			{2., "page==/2", 1., 0.5, 0.5},
			{3., "page==/3", 1., 0.5, 0.},
			{4., "page==/4", 1., 0.5, 0.},
			{5., "page==/5", 1., 0.5, 0.},
			{6., "page==/6", 1., 0.5, 0.},
			{7., "page==/7", 1., 0.5, 0.},
			{8., "page==/8", 1., 0.5, 0.},
			{9., "page==/9", 1., 0.5, 0.},
			{10., "page==/10", 1., 0.5, 0.},
		}},
	} {
		site := "site=shop"
		if c.name == "ten steps" {
			site = "site=ten"
		}
		// A site this small is followed whole whatever sample says.
		for _, sample := range []string{"", "&sample=auto", "&sample=off"} {
			var tab api.Table
			if code := get(t, srv, "/api/v1/funnel?"+site+period+c.query+sample, "tok", &tab); code != 200 {
				t.Fatalf("%s%s: status %d", c.name, sample, code)
			}
			if !reflect.DeepEqual(tab.Rows, c.want) || tab.Sample != 0 {
				t.Errorf("%s%s: rows\n%v\nwant\n%v (sample %d)", c.name, sample, tab.Rows, c.want, tab.Sample)
			}
		}
	}
	var e struct{ Error string }
	if code := get(t, srv, "/api/v1/funnel?site=shop"+period+"&step=type==pageview&step=type==purchase&sample=half", "tok", &e); code != 400 || !strings.Contains(e.Error, "sample") {
		t.Errorf("sample=half: status %d %q, want 400 saying sample", code, e.Error)
	}

	// Dashboards whose funnels sample past a few events. Samples of 7
	// events: the shop's 22 make it one visitor in 4 (22/7 rounded up),
	// whose own events (4 of them, 16 once scaled) keep it. Samples of 5:
	// one in 5, whose one event says the funnel's are few, so every
	// visitor is counted again (reports.Funnel). The expected rows are
	// computed here from each visitor's level in the funnel below and Go's
	// CityHash64.
	steps := "&step=type==pageview&step=type==begin_checkout&step=type==purchase"
	levels := map[string][2]int{ // level, events that are steps
		"inorder": {3, 3}, "ms": {3, 3}, "reversed": {2, 3}, "msrev": {2, 3}, "edge": {2, 2}, "late": {2, 2},
		"restart": {2, 3}, "cart": {1, 1}, "carts": {1, 2}}
	in := func(id string, n uint64) bool { return n == 0 || city.CH64([]byte(id)) <= math.MaxUint64/n }
	round := func(x float64) float64 { return math.Round(x*10000) / 10000 }
	for _, c := range []struct{ size, first, sample uint64 }{{7, 4, 4}, {5, 5, 0}} {
		mux := http.NewServeMux()
		api.New(stacktest.Reader(t, store), store, api.Config{Token: "tok", Rules: profiles.DefaultRules, Funnels: reports.Sampling{Events: c.size}}).Register(mux)
		sampled := httptest.NewServer(mux)
		defer sampled.Close()
		n, rows := c.first, uint64(0)
		for id, l := range levels {
			if in(id, n) {
				rows += uint64(l[1])
			}
		}
		if rows*n <= 2*c.size {
			n = 0 // the funnel's own events, as the sample says, are few
		}
		if n != c.sample {
			t.Fatalf("the test's data: samples of %d events, one in %d holds %d events: want one in %d", c.size, c.first, rows, c.sample)
		}
		reached := make([]float64, 4)
		for id, l := range levels {
			for s := 1; s <= l[0] && in(id, n); s++ {
				reached[s] += float64(max(n, 1))
			}
		}
		var want [][]any
		for s, def := range []string{"type==pageview", "type==begin_checkout", "type==purchase"} {
			conv, drop := 0., 0.
			if reached[1] > 0 {
				conv = round(reached[s+1] / reached[1])
			}
			if s > 0 && reached[s] > 0 {
				drop = round(1 - reached[s+1]/reached[s])
			}
			want = append(want, []any{float64(s + 1), def, reached[s+1], conv, drop})
		}
		req, _ := http.NewRequest("GET", sampled.URL+"/api/v1/funnel?site=shop"+period+steps, nil)
		req.Header.Set("Authorization", "Bearer tok")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var tab api.Table
		err = json.NewDecoder(res.Body).Decode(&tab)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || tab.Sample != n || !reflect.DeepEqual(tab.Rows, want) {
			t.Errorf("samples of %d: status %d, %v, sample %d, rows\n%v\nwant sample %d, rows\n%v", c.size, res.StatusCode, err, tab.Sample, tab.Rows, n, want)
		}
		if h, want := res.Header.Get("Footfall-Sample"), map[bool]string{true: fmt.Sprint(n)}[n > 0]; h != want {
			t.Errorf("samples of %d: Footfall-Sample %q, want %q", c.size, h, want)
		}
		req, _ = http.NewRequest("GET", sampled.URL+"/api/v1/funnel?site=shop"+period+steps+"&format=csv", nil)
		req.Header.Set("Authorization", "Bearer tok")
		if res, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if d := res.Header.Get("Content-Disposition"); (n > 0) != strings.Contains(d, fmt.Sprintf("-sample-1-in-%d.csv", n)) {
			t.Errorf("samples of %d: CSV's Content-Disposition %q, want its name to say one in %d", c.size, d, n)
		}
		tab = api.Table{}
		if code := get(t, sampled, "/api/v1/funnel?site=shop"+period+steps+"&sample=off", "tok", &tab); code != 200 || tab.Sample != 0 ||
			len(tab.Rows) != 3 || fmt.Sprint(tab.Rows[2][2]) != "2" {
			t.Errorf("samples of %d, sample=off: status %d, sample %d, rows %v: want every visitor (2 ordered)", c.size, code, tab.Sample, tab.Rows)
		}
	}

	// A report past its time is a 503 that says what to do, not a bare 500.
	late, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	req := httptest.NewRequest("GET", "/api/v1/funnel?site=shop"+period+steps+"&sample=off", nil).WithContext(late)
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "narrow the period") {
		t.Errorf("a funnel past its time: %d %s, want 503 saying to narrow the period", rec.Code, rec.Body.String())
	}
}
