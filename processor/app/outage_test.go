package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/processor/chstore"
	"footfall/tests/stacktest"
)

// proxy forwards TCP connections to a target until it is cut, then
// refuses (or, stalled, accepts and answers nothing) until it is
// restored on the same address: a ClickHouse that goes away and comes
// back, without stopping the shared one.
type proxy struct {
	target string
	addr   string

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]bool
	stalled bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.cut() })
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = true
			stalled := p.stalled
			p.mu.Unlock()
			if stalled {
				continue // held open, never answered
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// cut closes the listener and every connection: connections are refused
// until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// stall closes every connection and accepts new ones that never answer:
// a ClickHouse that hangs.
func (p *proxy) stall(t *testing.T) {
	p.cut()
	p.listen(t, true)
}

// restore closes what a stall held and forwards again on the same
// address.
func (p *proxy) restore(t *testing.T) {
	p.cut()
	p.listen(t, false)
}

func (p *proxy) listen(t *testing.T, stalled bool) {
	t.Helper()
	p.mu.Lock()
	p.stalled = stalled
	p.mu.Unlock()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after the close
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

func produceHits(t *testing.T, brokers []string, topic, site string, from, to int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
	defer w.Close()
	var msgs []kafka.Message
	now := time.Now()
	for i := from; i < to; i++ {
		e := event.Event{ID: event.NewID(now.UnixMilli()), TimeMs: now.UnixMilli(), Ingest: event.IngestBeacon}
		e.F[event.Site], e.F[event.Type] = []byte(site), []byte("pageview")
		e.F[event.VisitorID] = []byte(fmt.Sprintf("v%d", i%41))
		e.F[event.SessionID] = []byte(fmt.Sprintf("s%d", i%41))
		e.F[event.URL] = []byte(fmt.Sprintf("https://shop.example/p/%d", i))
		e.F[event.UserAgent] = []byte("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0")
		msgs = append(msgs, kafka.Message{Key: e.F[event.VisitorID], Value: event.Append(nil, &e)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric reads one unlabelled value from the ops listener's /metrics.
func metric(t *testing.T, ops, name string) float64 {
	t.Helper()
	_, body := httpGet(t, "http://"+ops+"/metrics")
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClickHouseOutage: a processor whose ClickHouse goes away (refused,
// then hanging) keeps its batch, commits nothing, fails /readyz naming the
// outage and the lag, shows both in its metrics, and when ClickHouse comes
// back stores every event once, in events and in every rollup.
func TestClickHouseOutage(t *testing.T) {
	for _, mode := range []string{"refused", "hanging"} {
		t.Run(mode, func(t *testing.T) { outage(t, mode) })
	}
}

func outage(t *testing.T, mode string) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 3)
	chcfg, store := stacktest.ClickHouse(t)
	px := newProxy(t, chcfg.Addr)

	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.Brokers, cfg.Kafka.Topic, cfg.KafkaGroup = strings.Join(brokers, ","), topic, stacktest.Name(t, "g")
	cfg.CH = chcfg
	cfg.CH.Addr = px.addr
	cfg.Ops.Listen = "127.0.0.1:0"
	cfg.FlushInterval, cfg.Triggers.Interval, cfg.Refresh.Interval = 100*time.Millisecond, 0, 0
	cfg.InsertTimeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := p.Shutdown(sctx); err != nil {
			t.Error(err)
		}
	}()
	ops := p.OpsAddr()

	const before, during = 300, 700
	produceHits(t, brokers, topic, "down", 0, before)
	stacktest.WaitCount(t, store, 60*time.Second, before, "SELECT count() FROM events")
	waitFor(t, 10*time.Second, "lag 0 before the outage", func() bool { return metric(t, ops, "processor_kafka_lag_events") == 0 })

	if mode == "refused" {
		px.cut()
	} else {
		px.stall(t)
	}
	produceHits(t, brokers, topic, "down", before, before+during)
	waitFor(t, 20*time.Second, "/readyz failing", func() bool {
		code, body := httpGet(t, "http://"+ops+"/readyz")
		return code == 503 && strings.Contains(body, "clickhouse writes failing")
	})
	// The outage lasts through several retries: nothing is committed,
	// and the lag (polled every 5 s) is every event produced meanwhile.
	waitFor(t, 20*time.Second, "lag of the events held", func() bool {
		return metric(t, ops, "processor_kafka_lag_events") == during
	})
	time.Sleep(6 * time.Second)
	if lag := metric(t, ops, "processor_kafka_lag_events"); lag != during {
		t.Errorf("lag %v during the outage, want %d: an offset was committed", lag, during)
	}
	if down := metric(t, ops, "processor_clickhouse_down_seconds"); down < 5 {
		t.Errorf("processor_clickhouse_down_seconds %v, want the outage's length", down)
	}
	_, body := httpGet(t, "http://"+ops+"/readyz")
	if !strings.Contains(body, fmt.Sprintf("group lag %d events", during)) {
		t.Errorf("/readyz does not give the lag: %q", body)
	}
	if n := stacktest.Count(t, store, "SELECT count() FROM events"); n != before {
		t.Fatalf("%d events stored during the outage, want %d", n, before)
	}

	back := time.Now()
	px.restore(t)
	stacktest.WaitCount(t, store, 30*time.Second, before+during, "SELECT count() FROM events")
	t.Logf("%s: caught up %v after ClickHouse came back", mode, time.Since(back).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "/readyz ready", func() bool {
		code, _ := httpGet(t, "http://"+ops+"/readyz")
		return code == 200
	})
	waitFor(t, 15*time.Second, "lag 0 after the outage", func() bool { return metric(t, ops, "processor_kafka_lag_events") == 0 })
	if down := metric(t, ops, "processor_clickhouse_down_seconds"); down != 0 {
		t.Errorf("processor_clickhouse_down_seconds %v after the outage", down)
	}
	checkOnce(t, store, "down", before+during)
	select {
	case <-p.Stopped():
		t.Fatal(errors.New("the consumer stopped"))
	default:
	}
}

// checkOnce fails unless raw rows, distinct ids and the rollups of site
// all count n.
func checkOnce(t *testing.T, store *chstore.Store, site string, n uint64) {
	t.Helper()
	for _, q := range []string{
		"SELECT count() FROM events WHERE site_id = ?",
		"SELECT uniqExact(event_id) FROM events WHERE site_id = ?",
		"SELECT countMerge(events) FROM events_hourly WHERE site_id = ?",
		"SELECT countMerge(pageviews) FROM pages_daily WHERE site_id = ?",
		"SELECT countIfMerge(pageviews) FROM sources_daily WHERE site_id = ?",
		"SELECT countIfMerge(pageviews) FROM session_parts WHERE site_id = ?",
		"SELECT countIfMerge(pageviews) FROM visitor_profiles WHERE site_id = ?",
	} {
		if got := stacktest.Count(t, store, q, site); got != n {
			t.Errorf("%s: %d, want %d", q, got, n)
		}
	}
}
