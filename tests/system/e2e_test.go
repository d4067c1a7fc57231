package system

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"footfall/collector/app"
	"footfall/processor/chstore"
	"footfall/processor/consume"
	sdkjs "footfall/sdk-js"
	"footfall/tests/stacktest"
)

// TestBrowserJourney loads the demo shop in headless Chromium, with the
// snippet served by the real collector, and checks every event that reached
// ClickHouse through Kafka and the processor.
func TestBrowserJourney(t *testing.T) {
	store, _, ops, shop := browserShop(t)
	cmd := exec.Command("node", "e2e/journey.mjs", shop)
	cmd.Dir = "../../sdk-js"
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser journey: %v", err)
	}
	var res struct{ Visitor string }
	if err := json.Unmarshal(out, &res); err != nil || res.Visitor == "" {
		t.Fatalf("journey printed %q: %v", out, err)
	}

	const total = 14
	defer func() {
		if t.Failed() {
			logEvents(t, store)
			logRejections(t, ops)
		}
	}()
	stacktest.WaitCount(t, store, 30*time.Second, total, "SELECT count() FROM events WHERE site_id = 'shop'")
	expect := []struct {
		what string
		want uint64
	}{
		{"type = 'pageview' AND url_path = '/'", 2},
		{"type = 'pageview' AND url_path = '/product.html' AND referrer_host = '127.0.0.1'", 1},
		{"type = 'pageview' AND url_path = '/checkout'", 1},
		{"type = 'engagement'", 4},
		{"type = 'engagement' AND url_path = '/checkout'", 1},
		{"type = 'product_view' AND name = 'Trail Runner' AND has(prop_keys, 'price')", 1},
		{"type = 'add_to_cart' AND url_path = '/product.html'", 1},
		{"type = 'begin_checkout' AND url_path = '/checkout'", 1},
		{"type = 'subscribe' AND user_id = 'ann@example.com'", 1}, // the processor lower-cases e-mail addresses
		{"type = 'purchase' AND order_id = 'E2E-1' AND revenue_micros = 89900000 AND currency = 'EUR'", 1},
		{"type = 'outbound' AND has(prop_values, 'https://partner.example/offer')", 1},
		// Landing campaign tags stay with every event of the session, and the
		// returning browser is the same visitor in the same session.
		{"utm_source = 'newsletter' AND utm_campaign = 'nov' AND source = 'newsletter' AND medium = 'email'", total},
		{"visitor_id = '" + res.Visitor + "'", total},
		{"browser = 'Chrome' AND ingest = 'beacon' AND is_bot = 0", total},
	}
	for _, e := range expect {
		if got := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop' AND "+e.what); got != e.want {
			t.Errorf("%s: %d events, want %d", e.what, got, e.want)
		}
	}
	if got := stacktest.Count(t, store, "SELECT uniqExact(session_id) FROM events"); got != 1 {
		t.Errorf("%d sessions, want 1", got)
	}
}

// TestBrowserSPA runs single-page apps in Chromium, through the collector,
// Kafka and the processor into ClickHouse. A page is its path: a landing
// URL tidied by replaceState and the same path pushed again, a list's
// ?page=2 and a #section are one view, and the visit stays a bounce. Each
// route is stored with the title the app gave it, even one set a second
// after the URL, and a view still waiting for its title when the visitor
// leaves is sent; back and forward count; a hash router's routes count
// when the site says so (data-hash); the back button onto a page the
// browser kept in its back-forward cache counts.
func TestBrowserSPA(t *testing.T) {
	store, _, ops, shop := browserShop(t)
	cmd := exec.Command("node", "e2e/spa.mjs", shop)
	cmd.Dir = "../../sdk-js"
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	var res struct{ Landed, Browsed, Hashed, Returned string }
	if err := json.Unmarshal(out, &res); err != nil || res.Landed == "" || res.Browsed == "" || res.Hashed == "" || res.Returned == "" {
		t.Fatalf("spa.mjs printed %q: %v", out, err)
	}
	defer func() {
		if t.Failed() {
			logEvents(t, store)
			logRejections(t, ops)
		}
	}()
	// A: one page view and its engagement; B: seven page views, C four, D
	// three, each with its engagement.
	stacktest.WaitCount(t, store, 30*time.Second, 2+14+8+6, "SELECT count() FROM events WHERE site_id = 'shop'")
	landed, browsed := "visitor_id = '"+res.Landed+"' AND ", "visitor_id = '"+res.Browsed+"' AND "
	hashed, returned := "visitor_id = '"+res.Hashed+"' AND ", "visitor_id = '"+res.Returned+"' AND "
	page := "type = 'pageview' AND "
	expect := []struct {
		what string
		want uint64
	}{
		{landed + "type = 'pageview'", 1},
		{landed + page + "url_path = '/spa.html' AND utm_source = 'news' AND title = 'Landing' AND referrer = ''", 1},
		{landed + "type = 'engagement' AND utm_source = 'news'", 1},

		{browsed + "type = 'pageview'", 7},
		{browsed + "type = 'engagement'", 7},
		{browsed + page + "url_path = '/spa.html' AND title = 'Landing'", 1},
		{browsed + page + "url_path = '/about' AND title = 'About us'", 1},
		{browsed + page + "url_path = '/contact' AND title = 'Contact'", 2}, // and again with the back button
		{browsed + page + "url_path = '/late' AND title = 'Late' AND referrer = '" + shop + "/contact'", 1},
		{browsed + page + "url_path = '/plain' AND title = 'Contact'", 1}, // an app's one title
		{browsed + page + "url_path = '/slow' AND title = 'Contact'", 1},  // left before its title came
		{browsed + "type = 'engagement' AND url_path = '/slow'", 1},

		{hashed + "type = 'pageview'", 4},
		{hashed + page + "url = '" + shop + "/hash.html#/' AND title = 'Home'", 2},
		{hashed + page + "url = '" + shop + "/hash.html#/cart' AND title = 'Cart'", 1},
		{hashed + page + "url = '" + shop + "/hash.html#/checkout' AND title = 'Checkout'", 1},

		{returned + "type = 'pageview'", 3},
		{returned + page + "url_path = '/spa.html'", 2},
		{returned + page + "url_path = '/index.html'", 1},
		{returned + "type = 'engagement'", 3},
	}
	for _, e := range expect {
		if got := stacktest.Count(t, store, "SELECT count() FROM events WHERE site_id = 'shop' AND "+e.what); got != e.want {
			t.Errorf("%s: %d events, want %d", e.what, got, e.want)
		}
	}
	// The landing's session is a bounce: one page view (session_parts: a
	// session's states per hour, merged).
	bounce := "SELECT count() FROM (SELECT session_id, anyMerge(visitor_id) AS visitor, countIfMerge(pageviews) AS views " +
		"FROM session_parts WHERE site_id = 'shop' GROUP BY session_id) WHERE visitor = '" + res.Landed + "' AND views = 1"
	if got := stacktest.Count(t, store, bounce); got != 1 {
		t.Errorf("sessions of the landing with one page view: %d, want 1", got)
	}
}

// browserShop starts the collector serving the snippet, a processor into
// ClickHouse, and the demo shop (sdk-js/e2e/shop) on another origin, as in
// production. It returns the store, the collector's and its ops
// listener's base URLs, and the shop's.
func browserShop(t *testing.T) (store *chstore.Store, collector, ops, shop string) {
	t.Helper()
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 2)
	chcfg, store := stacktest.ClickHouse(t)
	if _, err := os.Stat("../../sdk-js/node_modules/playwright-core"); err != nil {
		t.Fatal("sdk-js/node_modules is missing: run make test (it runs npm ci in sdk-js)")
	}

	var cfg app.Config
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	fs.Parse(nil)
	cfg.Listen, cfg.Ops.Listen, cfg.Kafka.Brokers, cfg.Kafka.Topic, cfg.Script = "127.0.0.1:0", "127.0.0.1:0", strings.Join(brokers, ","), topic, sdkjs.Script
	cfg.CH = chcfg
	cfg.WALDir = t.TempDir() // not the default ./collector-wal in the package's directory
	stacktest.Site(t, store, "shop")
	col, err := app.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Shutdown(context.Background()) })
	collector = "http://" + col.Addr()

	ctx, cancel := context.WithCancel(context.Background())
	proc := consume.New(consume.Config{Brokers: brokers, Topic: topic, Group: stacktest.Name(t, "g"), FlushInterval: 100 * time.Millisecond}, store)
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" || name == "checkout" {
			name = "index.html"
		}
		page, err := os.ReadFile(filepath.Join("../../sdk-js/e2e/shop", filepath.Base(name)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		html := strings.NewReplacer("{{SITE}}", "shop", "{{COLLECTOR}}", collector).Replace(string(page))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(html))
	}))
	t.Cleanup(srv.Close)
	return store, collector, "http://" + col.OpsAddr(), srv.URL
}

// logEvents prints what did arrive, to make a failure readable.
func logEvents(t *testing.T, store *chstore.Store) {
	rows, err := store.DB().Driver().Query(context.Background(),
		"SELECT type, url_path, toString(count()) FROM events GROUP BY type, url_path ORDER BY type, url_path")
	if err != nil {
		t.Log(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var typ, path, n string
		rows.Scan(&typ, &path, &n)
		t.Logf("stored: %s %s x%s", typ, path, n)
	}
}

// logRejections prints the collector's non-zero reject and drop counters,
// from its ops listener at ops.
func logRejections(t *testing.T, ops string) {
	resp, err := http.Get(ops + "/metrics")
	if err != nil {
		t.Log(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if (strings.Contains(line, "rejected") || strings.Contains(line, "dropped")) && !strings.HasPrefix(line, "#") && !strings.HasSuffix(line, " 0") {
			t.Log("collector: " + line)
		}
	}
}
