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
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 2)
	_, store := stacktest.ClickHouse(t)
	if _, err := os.Stat("../../sdk-js/node_modules/playwright-core"); err != nil {
		t.Fatal("sdk-js/node_modules is missing: run make test (it runs npm ci in sdk-js)")
	}

	var cfg app.Config
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	fs.Parse(nil)
	cfg.Listen, cfg.Ops.Listen, cfg.Kafka.Brokers, cfg.Kafka.Topic, cfg.Script = "127.0.0.1:0", "127.0.0.1:0", strings.Join(brokers, ","), topic, sdkjs.Script
	col, err := app.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Shutdown(context.Background())
	collector := "http://" + col.Addr()

	ctx, cancel := context.WithCancel(context.Background())
	proc := consume.New(consume.Config{Brokers: brokers, Topic: topic, Group: stacktest.Name(t, "g"), FlushInterval: 100 * time.Millisecond}, store)
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// The shop is another origin than the collector, as in production.
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	defer shop.Close()

	cmd := exec.Command("node", "e2e/journey.mjs", shop.URL)
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
			logRejections(t, "http://"+col.OpsAddr())
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

// logEvents prints what did arrive, to make a failure readable.
func logEvents(t *testing.T, store *chstore.Store) {
	rows, err := store.DB().Raw().Query(context.Background(),
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
