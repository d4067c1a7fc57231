// Package programs_test starts the collector, the processor and the
// dashboards in this process, through the Start and Shutdown that their
// main.go use, on random ports and with signals left alone, against the
// real Kafka and ClickHouse.
package programs_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	collector "footfall/collector/app"
	dashboards "footfall/dashboards/app"
	processor "footfall/processor/app"
	"footfall/tests/stacktest"
)

// defaults sets what register declares to its defaults, as when no flag
// is given.
func defaults(t *testing.T, register func(*flag.FlagSet)) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

// chrome is a browser's user agent: the collector drops Go's as a bot's.
const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
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

func TestThreeProgramsInProcess(t *testing.T) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 2)
	ch, store := stacktest.ClickHouse(t)
	ctx := context.Background()

	var pc processor.Config
	defaults(t, pc.RegisterFlags)
	pc.Kafka.Brokers, pc.Kafka.Topic, pc.KafkaGroup = strings.Join(brokers, ","), topic, stacktest.Name(t, "g")
	pc.CH, pc.Ops.Listen = ch, "127.0.0.1:0"
	pc.FlushInterval, pc.Triggers.Interval = 100*time.Millisecond, 0
	proc, err := processor.Start(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Shutdown(ctx)

	var cc collector.Config
	defaults(t, cc.RegisterFlags)
	cc.Listen, cc.Ops.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cc.Kafka.Brokers, cc.Kafka.Topic = strings.Join(brokers, ","), topic
	cc.ShutdownDelay = time.Second
	cc.WALDir = t.TempDir()
	cc.CH = ch
	stacktest.Site(t, store, "demo")
	col, err := collector.Start(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Shutdown(ctx)

	var dc dashboards.Config
	defaults(t, dc.RegisterFlags)
	dc.Listen, dc.Ops.Listen, dc.CH, dc.Token = "127.0.0.1:0", "127.0.0.1:0", ch, "tok"
	dash, err := dashboards.Start(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	defer dash.Shutdown(ctx)

	opsOf := map[string]string{"collector": col.OpsAddr(), "processor": proc.OpsAddr(), "dashboards": dash.OpsAddr()}
	for name, addr := range opsOf {
		if code, body := get(t, "http://"+addr+"/healthz"); code != 200 || body != "ok\n" {
			t.Errorf("%s /healthz: %d %q", name, code, body)
		}
		if code, body := get(t, "http://"+addr+"/readyz"); code != 200 || body != "ready\n" {
			t.Errorf("%s /readyz: %d %q", name, code, body)
		}
		if code, body := get(t, "http://"+addr+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines ") {
			t.Errorf("%s /metrics: %d", name, code)
		}
	}
	base := "http://" + col.Addr()
	if code, _ := get(t, base+"/metrics"); code != 404 {
		t.Errorf("collector's public /metrics: %d, want 404 (it is the ops listener's)", code)
	}

	const n = 40
	hit := func(i int) int {
		code, _ := get(t, fmt.Sprintf("%s/p.gif?site=demo&visitor_id=v%d&url=https%%3A%%2F%%2Fshop.example%%2F", base, i))
		return code
	}
	for i := 0; i < n; i++ {
		if code := hit(i); code != 200 {
			t.Fatalf("hit %d: %d", i, code)
		}
	}

	// Shutdown fails /readyz first, and takes hits until ShutdownDelay
	// has passed; those reach ClickHouse too.
	stopped := make(chan error, 1)
	go func() { stopped <- col.Shutdown(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := get(t, "http://"+col.OpsAddr()+"/readyz")
		if code == 503 {
			if body != "not ready: shutting down\n" {
				t.Errorf("draining /readyz: %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the collector's /readyz still answers 200 five seconds into its shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := get(t, base+"/readyz"); code != 503 {
		t.Errorf("public /readyz while draining: %d, want 503", code)
	}
	if code := hit(n); code != 200 {
		t.Errorf("hit while draining, before the listener closes: %d", code)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("collector shutdown: %v", err)
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Error("the collector still listens after Shutdown")
	}

	stacktest.WaitCount(t, store, 60*time.Second, n+1, "SELECT count() FROM events")
	code, body := get(t, "http://"+dash.Addr()+"/api/v1/realtime?site=demo", "Authorization", "Bearer tok")
	var live struct{ Visitors, Pageviews uint64 }
	if err := json.Unmarshal([]byte(body), &live); code != 200 || err != nil {
		t.Fatalf("realtime: %d %s", code, body)
	}
	if live.Pageviews != n+1 || live.Visitors != n+1 {
		t.Errorf("realtime: %d page views by %d visitors, want %d by %d", live.Pageviews, live.Visitors, n+1, n+1)
	}

	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := proc.Shutdown(sctx); err != nil {
		t.Errorf("processor shutdown: %v", err)
	}
	if err := dash.Shutdown(sctx); err != nil {
		t.Errorf("dashboards shutdown: %v", err)
	}
	for name, addr := range opsOf {
		if _, err := client.Get("http://" + addr + "/healthz"); err == nil {
			t.Errorf("%s's ops listener still answers after Shutdown", name)
		}
	}
}
