// Package delivery tests the collector's promise with its binary and the
// real Kafka: a hit answered 2xx is in Kafka after any crash of the
// collector, and after a start while Kafka was away.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// chrome is a browser's user agent: the collector drops Go's as a bot's.
const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// collectorBinary builds the collector once per test run
// (FOOTFALL_TEST_COLLECTOR names a binary built before instead).
func collectorBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("FOOTFALL_TEST_COLLECTOR"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "footfall-collector")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "collector")
		if out, err := exec.Command("go", "build", "-o", binPath, "footfall/collector").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type collector struct {
	cmd       *exec.Cmd
	addr, ops string
	done      chan struct{}
}

// start runs the collector binary on ports of its own, producing to topic
// through brokers, with its log in walDir; its output goes to the test log
// when it fails.
func start(t *testing.T, brokers, topic, walDir string, extra ...string) *collector {
	t.Helper()
	c := &collector{addr: freeAddr(t), ops: freeAddr(t), done: make(chan struct{})}
	// The collector reads its sites from ClickHouse: a database of its
	// own holds the site the hits are for.
	ch, store := stacktest.ClickHouse(t)
	stacktest.Site(t, store, "demo")
	args := append([]string{"-listen", c.addr, "-collector-ops-listen", c.ops,
		"-clickhouse-addr", ch.Addr, "-clickhouse-db", ch.Database,
		"-kafka-brokers", brokers, "-kafka-topic", topic, "-wal-dir", walDir,
		"-rate-limit-address", "0", "-rate-limit-site", "0", "-readiness-interval", "200ms"}, extra...)
	c.cmd = exec.Command(collectorBinary(t), args...)
	logf, err := os.Create(filepath.Join(t.TempDir(), "collector.log"))
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
		if t.Failed() || os.Getenv("FOOTFALL_TEST_LOG") != "" {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("collector log:\n%s", out)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, _ := get("http://" + c.ops + "/healthz"); code == 200 {
			return c
		}
		select {
		case <-c.done:
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("collector exited at start: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("collector not healthy after 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *collector) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("collector still running 20 s after %v", sig)
	}
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func get(url string) (int, string) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hit sends pixel hit n and reports whether the collector acknowledged it:
// 200 with no reason for refusing or dropping it.
func hit(addr string, n int) bool {
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/p.gif?site=demo&type=pageview&url=https%%3A%%2F%%2Fa.example%%2F&visitor_id=v%d&p.n=%d", addr, n%50, n), nil)
	req.Header.Set("User-Agent", chrome)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200 && resp.Header.Get("X-Footfall-Rejected") == "" && resp.Header.Get("X-Footfall-Dropped") == ""
}

// load sends hits from workers until stop is closed or the collector stops
// answering, and returns the numbers of the hits acknowledged.
type load struct {
	next  atomic.Int64
	acked atomic.Int64
	sent  atomic.Int64
	mu    sync.Mutex
	ok    []int
	wg    sync.WaitGroup
	stop  chan struct{}
}

func startLoad(addr string, workers int) *load {
	l := &load{stop: make(chan struct{})}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				n := int(l.next.Add(1))
				l.sent.Add(1)
				if hit(addr, n) {
					l.acked.Add(1)
					l.mu.Lock()
					l.ok = append(l.ok, n)
					l.mu.Unlock()
				}
			}
		}()
	}
	return l
}

func (l *load) end() []int {
	close(l.stop)
	l.wg.Wait()
	return l.ok
}

// inKafka reads topic from the start until every hit of want is there or
// timeout passes, and returns how many times each hit number was found.
func inKafka(t *testing.T, brokers []string, topic string, partitions int, want []int, timeout time.Duration) map[int]int {
	t.Helper()
	found := map[int]int{}
	var mu sync.Mutex
	missing := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, w := range want {
			if found[w] == 0 {
				n++
			}
		}
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for p := 0; p < partitions; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 200 * time.Millisecond})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				each := func(v []byte) {
					var e event.Event
					if event.Decode(v, &e) != nil {
						return
					}
					for _, pr := range e.Props {
						if string(pr.Key) == "n" {
							n, _ := strconv.Atoi(string(pr.Value))
							mu.Lock()
							found[n]++
							mu.Unlock()
						}
					}
				}
				if event.IsPack(m.Value) {
					event.Unpack(m.Value, each)
				} else {
					each(m.Value)
				}
			}
		}()
	}
	for missing() > 0 && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // duplicates right behind
	cancel()
	wg.Wait()
	return found
}

func segments(t *testing.T, dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, "wal-*"))
	return names
}

// TestCollectorKilledLosesNoAcknowledgedHit: the collector (disk delivery,
// the default) is SIGKILLed under load after 2,000 acknowledged hits,
// restarted on the same log, and every hit it acknowledged is in Kafka.
func TestCollectorKilledLosesNoAcknowledgedHit(t *testing.T) {
	brokers := stacktest.Brokers(t)
	const partitions = 4
	topic := stacktest.Topic(t, brokers, partitions)
	dir := filepath.Join(t.TempDir(), "wal")
	col := start(t, strings.Join(brokers, ","), topic, dir)
	l := startLoad(col.addr, 16)
	for l.acked.Load() < 2000 {
		time.Sleep(time.Millisecond)
	}
	col.signal(t, syscall.SIGKILL) // mid-load: requests in flight
	acked := l.end()
	t.Logf("sent %d, acknowledged %d before SIGKILL; %d segments in the log", l.sent.Load(), len(acked), len(segments(t, dir)))

	col = start(t, strings.Join(brokers, ","), topic, dir)
	found := inKafka(t, brokers, topic, partitions, acked, 30*time.Second)
	lost, doubled := 0, 0
	for _, n := range acked {
		if found[n] == 0 {
			lost++
		}
	}
	for _, c := range found {
		if c > 1 {
			doubled++
		}
	}
	t.Logf("in Kafka: %d distinct hits, %d of them more than once (replayed from the log; the processor drops them by event id); lost %d", len(found), doubled, lost)
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged hits lost", lost, len(acked))
	}
	// Once produced, the log is emptied: an orderly stop leaves nothing.
	col.signal(t, syscall.SIGTERM)
	if left := segments(t, dir); len(left) != 0 {
		t.Errorf("segments left after Kafka took everything and a SIGTERM: %v", left)
	}
}

// TestCollectorStartsWithoutKafka: started with Kafka unreachable the
// collector serves, acknowledges hits into its log, and fails /readyz
// saying why; restarted with Kafka there (after a SIGKILL: nothing but the
// log carries the hits over), it produces them all.
func TestCollectorStartsWithoutKafka(t *testing.T) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 2)
	dir := filepath.Join(t.TempDir(), "wal")
	nowhere := freeAddr(t) // a closed port
	col := start(t, nowhere, topic, dir)
	var acked []int
	for n := 1; n <= 300; n++ {
		if !hit(col.addr, n) {
			t.Fatalf("hit %d not acknowledged with Kafka away", n)
		}
		acked = append(acked, n)
	}
	time.Sleep(500 * time.Millisecond) // a readiness check or two
	code, body := get("http://" + col.ops + "/readyz")
	if code != 503 || !strings.Contains(body, "kafka") {
		t.Fatalf("/readyz with Kafka away: %d %q", code, body)
	}
	if code, _ := get("http://" + col.addr + "/readyz"); code != 503 {
		t.Fatalf("public /readyz with Kafka away: %d", code)
	}
	if len(segments(t, dir)) == 0 {
		t.Fatal("no log segment holds the acknowledged hits")
	}
	col.signal(t, syscall.SIGKILL)

	col = start(t, strings.Join(brokers, ","), topic, dir)
	found := inKafka(t, brokers, topic, 2, acked, 30*time.Second)
	for _, n := range acked {
		if found[n] == 0 {
			t.Fatalf("hit %d acknowledged with Kafka away is not in Kafka (%d of %d found)", n, len(found), len(acked))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body = get("http://" + col.ops + "/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with Kafka back: %d %q", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKafkaReturnsWhileRunning: Kafka away at start, then reachable, the
// same collector process produces what it logged meanwhile. The broker
// address goes through a proxy the test opens and closes.
func TestKafkaReturnsWhileRunning(t *testing.T) {
	brokers := stacktest.Brokers(t)
	topic := stacktest.Topic(t, brokers, 2)
	dir := filepath.Join(t.TempDir(), "wal")
	// Kafka advertises its own address: a proxy on the bootstrap address
	// alone is enough for the metadata request that fails while closed.
	px := newGate(t, brokers[0])
	col := start(t, px.addr(), topic, dir)
	var acked []int
	for n := 1; n <= 100; n++ {
		if hit(col.addr, n) {
			acked = append(acked, n)
		}
	}
	if len(acked) != 100 {
		t.Fatalf("%d of 100 acknowledged with Kafka away", len(acked))
	}
	px.open()
	opened := time.Now()
	// Within the writer's longest backoff (5 s) and a second: the Kafka
	// client's connections, failed while Kafka was away, are not kept.
	found := inKafka(t, brokers, topic, 2, acked, 6*time.Second)
	t.Logf("produced %v after Kafka came back", time.Since(opened).Round(10*time.Millisecond))
	for _, n := range acked {
		if found[n] == 0 {
			t.Fatalf("hit %d not produced after Kafka came back (%d found)", n, len(found))
		}
	}
}

// gate is a TCP proxy to a broker that refuses connections until opened.
type gate struct {
	ln     net.Listener
	to     string
	opened atomic.Bool
}

func newGate(t *testing.T, to string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, to: to}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			if !g.opened.Load() {
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer b.Close()
				go io.Copy(b, c)
				io.Copy(c, b)
			}()
		}
	}()
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }
func (g *gate) open()        { g.opened.Store(true) }
