package system

// End-to-end tests: hits over HTTP into the in-process collector, through
// the real Kafka, into the processor binary as a separate process, and out
// as rows in the real ClickHouse.

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"footfall/collector/app"
	"footfall/internal/geoip/geoiptest"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// processorBinary builds the processor once per test run.
func processorBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "footfall-processor")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "processor")
		out, err := exec.Command("go", "build", "-o", binPath, "footfall/processor").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type stack struct {
	brokers []string
	topic   string
	group   string
	ch      chstore.Config
	store   *chstore.Store
	keys    map[string]string // server API key of each site made by site
}

// site makes site id in the stack's registry, once, and returns its
// server API key: the collector refuses hits for a site it does not know.
func (s *stack) site(t *testing.T, id string) string {
	t.Helper()
	if s.keys == nil {
		s.keys = map[string]string{}
	}
	if k, ok := s.keys[id]; ok {
		return k
	}
	s.keys[id] = stacktest.Site(t, s.store, id)
	return s.keys[id]
}

func newStack(t *testing.T, partitions int) *stack {
	brokers := stacktest.Brokers(t)
	ch, store := stacktest.ClickHouse(t)
	return &stack{brokers: brokers, topic: stacktest.Topic(t, brokers, partitions), group: stacktest.Name(t, "g"), ch: ch, store: store}
}

// startProcessor runs the processor binary; its log goes to the test log.
func (s *stack) startProcessor(t *testing.T, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{
		"-kafka-brokers", strings.Join(s.brokers, ","), "-kafka-topic", s.topic, "-kafka-group", s.group,
		"-clickhouse-addr", s.ch.Addr, "-clickhouse-db", s.ch.Database, "-processor-ops-listen", "",
	}, extra...)
	cmd := exec.Command(processorBinary(t), args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "level=ERROR") || strings.Contains(sc.Text(), "skipped") {
				t.Log("processor: " + sc.Text())
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// startCollector runs the collector in-process on a free port.
func (s *stack) startCollector(t *testing.T, edit func(*app.Config)) (*app.Program, string) {
	t.Helper()
	var cfg app.Config
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Ops.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Kafka.Brokers = strings.Join(s.brokers, ",")
	cfg.Kafka.Topic = s.topic
	// The tests send from one address, thousands of events a second; the
	// rate limits' own tests set them.
	cfg.RateLimits = app.RateLimits{}
	cfg.WALDir = t.TempDir() // one write-ahead log per collector
	cfg.CH, cfg.SitesReload = s.ch, 100*time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	srv, err := app.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv, "http://" + srv.Addr()
}

var client = &http.Client{Timeout: 30 * time.Second} // room for an export or an erasure on a loaded machine

func send(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", chrome)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sendOversized posts a body the collector refuses from its length alone:
// it answers 413 and closes the connection while the body is still on its
// way, so a client that writes it all before reading sees a broken pipe.
// This one reads while it writes, as a browser does. It returns the status.
func sendOversized(t *testing.T, url, body string) int {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
		u.Path, u.Host, chrome, len(body), body) // a write cut short is the point
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("oversized body: no answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metric reads one sample from the collector's /metrics, on its ops
// listener.
func metric(t *testing.T, col *app.Program, sample string) float64 {
	t.Helper()
	_, body := send(t, "GET", "http://"+col.OpsAddr()+"/metrics", "")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, sample+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, sample+" "), &v)
			return v
		}
	}
	return 0
}

func TestPipelineEndToEnd(t *testing.T) {
	s := newStack(t, 4)
	demoKey := s.site(t, "demo")
	col, base := s.startCollector(t, nil)
	// Hits come from loopback; the test database puts it in France.
	geo, err := geoiptest.WriteTestDB(t.TempDir(), map[string]string{"127.0.0.0/8": "FR"})
	if err != nil {
		t.Fatal(err)
	}
	proc := s.startProcessor(t, "-flush-interval", "100ms", "-geoip-db", geo)

	invalidPixel := `collector_requests_rejected_total{endpoint="pixel",reason="invalid"}`
	invalidBeacon := `collector_requests_rejected_total{endpoint="beacon",reason="invalid"}`
	before := [2]float64{metric(t, col, invalidPixel), metric(t, col, invalidBeacon)}

	const pixels, batches, perBatch, orders = 600, 40, 5, 10
	for i := 0; i < pixels; i++ {
		url := fmt.Sprintf("%s/p.gif?site=demo&visitor_id=v%d&url=https%%3A%%2F%%2Fshop.example%%2Fp%%2F%d&referrer=https%%3A%%2F%%2Fwww.google.fr%%2F", base, i%50, i%7)
		if code, body := send(t, "GET", url, ""); code != 200 {
			t.Fatalf("pixel %d: %d %s", i, code, body)
		}
	}
	for i := 0; i < batches; i++ {
		var items []string
		for j := 0; j < perBatch; j++ {
			items = append(items, fmt.Sprintf(`{"site":"demo","type":"add_to_cart","visitor_id":"b%d","url":"https://shop.example/cart?utm_source=Newsletter&utm_medium=email&utm_campaign=nov","props":{"sku":"S%d","qty":1}}`, i, j))
		}
		if code, body := send(t, "POST", base+"/e", "["+strings.Join(items, ",")+"]", "Content-Type", "text/plain"); code != 202 {
			t.Fatalf("beacon %d: %d %s", i, code, body)
		}
	}
	for i := 0; i < orders; i++ {
		body := fmt.Sprintf(`{"type":"purchase","order_id":"A-%d","revenue":"19.99","currency":"EUR","visitor_id":"v%d"}`, i, i)
		if code, resp := send(t, "POST", base+"/api/v1/events", body, "Authorization", "Bearer "+demoKey); code != 202 {
			t.Fatalf("order %d: %d %s", i, code, resp)
		}
	}
	// Refused: each must say why, and none may become a row.
	// The pixel answers its image (a page never shows a broken one), the
	// reason in X-Footfall-Rejected and the message in X-Footfall-Error.
	for path, want := range map[string]string{
		"/p.gif?url=https://x.example/":     "site is required",
		"/p.gif?site=demo&type=Page%20View": "type has a character outside [a-z0-9_]",
	} {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("User-Agent", chrome)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" || len(img) == 0 ||
			resp.Header.Get("X-Footfall-Rejected") != "invalid" || !strings.Contains(resp.Header.Get("X-Footfall-Error"), want) {
			t.Errorf("GET %s: %d %v, want the GIF with %q", path, resp.StatusCode, resp.Header, want)
		}
	}
	bad := []struct{ method, path, body, want string }{
		{"POST", "/e", `{"site":"demo"`, "body is not JSON"},
		{"POST", "/e", `[{"site":"demo","type":"pageview"},{"type":"pageview"}]`, "event 1: site is required"},
	}
	for _, b := range bad {
		code, body := send(t, b.method, base+b.path, b.body)
		if code != 400 || !strings.Contains(body, b.want) {
			t.Errorf("%s %s: %d %s, want 400 with %q", b.method, b.path, code, body, b.want)
		}
	}
	if code := sendOversized(t, base+"/e", `{"site":"demo","type":"x","title":"`+strings.Repeat("a", 70<<10)+`"}`); code != 413 {
		t.Errorf("oversized body: %d, want 413", code)
	}
	req, _ := http.NewRequest("GET", base+"/p.gif?site=demo", nil)
	req.Header.Set("User-Agent", "Googlebot/2.1 (+http://www.google.com/bot.html)")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Footfall-Dropped") != "bot" {
		t.Errorf("bot hit: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	const total = pixels + batches*perBatch + orders
	stacktest.WaitCount(t, s.store, 60*time.Second, total, "SELECT count() FROM events")
	checks := []struct {
		query string
		want  uint64
	}{
		{"SELECT count() FROM events WHERE ingest = 'pixel' AND type = 'pageview' AND source = 'google' AND medium = 'organic' AND url_host = 'shop.example'", pixels},
		{"SELECT uniqExact(visitor_id) FROM events WHERE ingest = 'pixel'", 50},
		{"SELECT count() FROM events WHERE ip = '127.0.0.0' AND browser = 'Chrome' AND os = 'Windows' AND device = 'desktop' AND ingest != 'api'", pixels + batches*perBatch},
		{"SELECT count() FROM events WHERE country = 'FR' AND ingest != 'api'", pixels + batches*perBatch},
		{"SELECT count() FROM events WHERE type = 'add_to_cart' AND source = 'newsletter' AND medium = 'email' AND utm_campaign = 'nov' AND has(prop_keys, 'sku')", batches * perBatch},
		{"SELECT toUInt64(sum(revenue_micros)) FROM events WHERE type = 'purchase' AND currency = 'EUR'", orders * 19_990_000},
		{"SELECT uniqExact(event_id) FROM events", total},
		{"SELECT countIfMerge(pageviews) FROM events_hourly WHERE site_id = 'demo'", pixels},
		{"SELECT uniqIfMerge(visitors) FROM events_hourly WHERE site_id = 'demo'", 50 + batches},
	}
	for _, c := range checks {
		if got := stacktest.Count(t, s.store, c.query); got != c.want {
			t.Errorf("%s = %d, want %d", c.query, got, c.want)
		}
	}
	if d := metric(t, col, invalidPixel) - before[0]; d != 2 {
		t.Errorf("pixel invalid counter grew by %v, want 2", d)
	}
	if d := metric(t, col, invalidBeacon) - before[1]; d != 2 {
		t.Errorf("beacon invalid counter grew by %v, want 2", d)
	}

	proc.Process.Signal(syscall.SIGTERM)
	if err := proc.Wait(); err != nil {
		t.Errorf("processor exit after SIGTERM: %v", err)
	}
}

func TestProcessorKilledMidStreamLosesAndDoublesNothing(t *testing.T) {
	s := newStack(t, 4)
	s.site(t, "demo")
	_, base := s.startCollector(t, nil)
	const requests, perRequest = 400, 100
	const total = requests * perRequest
	var body bytes.Buffer
	for i := 0; i < requests; i++ {
		body.Reset()
		body.WriteByte('[')
		for j := 0; j < perRequest; j++ {
			if j > 0 {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"site":"demo","type":"pageview","visitor_id":"v%d","url":"https://shop.example/%d"}`, (i*perRequest+j)%997, j)
		}
		body.WriteByte(']')
		if code, resp := send(t, "POST", base+"/e", body.String()); code != 202 {
			t.Fatalf("request %d: %d %s", i, code, resp)
		}
	}
	// Small batches so the kill lands between inserts, mid-stream.
	proc := s.startProcessor(t, "-batch-size", "500", "-flush-interval", "20ms")
	deadline := time.Now().Add(60 * time.Second)
	var atKill uint64
	for time.Now().Before(deadline) {
		if atKill = stacktest.Count(t, s.store, "SELECT count() FROM events"); atKill > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	proc.Process.Signal(syscall.SIGKILL)
	proc.Wait()
	atKill = stacktest.Count(t, s.store, "SELECT count() FROM events")
	if atKill == 0 || atKill >= total {
		t.Fatalf("killed with %d of %d events stored; the kill must land mid-stream", atKill, total)
	}
	t.Logf("killed with %d of %d events stored", atKill, total)

	s.startProcessor(t, "-batch-size", "500", "-flush-interval", "20ms")
	stacktest.WaitCount(t, s.store, 90*time.Second, total, "SELECT count() FROM events")
	if got := stacktest.Count(t, s.store, "SELECT uniqExact(event_id) FROM events"); got != total {
		t.Errorf("distinct events %d, want %d", got, total)
	}
	if got := stacktest.Count(t, s.store, "SELECT countIfMerge(pageviews) FROM events_hourly"); got != total {
		t.Errorf("rollup page views %d, want %d", got, total)
	}
}

func TestShutdownFlushesBothWays(t *testing.T) {
	s := newStack(t, 2)
	// Nothing leaves either program on its own: only shutdown can flush.
	s.site(t, "demo")
	srv, base := s.startCollector(t, func(c *app.Config) {
		c.Linger = time.Hour
		c.BatchEvents = 100000
	})
	proc := s.startProcessor(t, "-flush-interval", "1h", "-batch-size", "1000000")
	stacktest.WaitAssigned(t, s.brokers, s.group, 1)
	const n = 300
	for i := 0; i < n; i++ {
		if code, _ := send(t, "GET", fmt.Sprintf("%s/p.gif?site=demo&visitor_id=v%d", base, i), ""); code != 200 {
			t.Fatalf("hit %d: %d", i, code)
		}
	}
	if code, _ := send(t, "GET", base+"/readyz", ""); code != 200 {
		t.Fatalf("readyz before shutdown: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("collector shutdown: %v", err)
	}
	// The processor now holds the events unflushed; give it time to fetch.
	time.Sleep(2 * time.Second)
	if got := stacktest.Count(t, s.store, "SELECT count() FROM events"); got != 0 {
		t.Fatalf("%d events inserted before shutdown with an hour's flush interval", got)
	}
	proc.Process.Signal(syscall.SIGTERM)
	if err := proc.Wait(); err != nil {
		t.Fatalf("processor exit: %v", err)
	}
	if got := stacktest.Count(t, s.store, "SELECT count() FROM events"); got != n {
		t.Fatalf("after both shutdowns %d events stored, want %d", got, n)
	}
}
