package main

import (
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// closedLoop sends as fast as conns connections allow for d and returns
// requests per second that got a 200. It uses wrk when installed (a C
// generator that outruns any server on one core here), else our own.
func closedLoop(addr, uri string, conns int, d time.Duration) (float64, error) {
	if _, err := exec.LookPath("wrk"); err == nil {
		return wrk(addr, uri, conns, d)
	}
	return goLoop(addr, uri, conns, d)
}

// wrk runs wrk with two threads and returns the rate of 200 answers: a
// collector whose queue is full answers 503 quickly, and those must not
// count as throughput. Socket errors fail the run.
func wrk(addr, uri string, conns int, d time.Duration) (float64, error) {
	secs := max(int(d.Seconds()), 1)
	out, err := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s",
		"-H", "User-Agent: "+userAgent, "http://"+addr+uri).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v: %s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "Socket errors") {
		return 0, fmt.Errorf("wrk saw socket errors:\n%s", text)
	}
	var total, refused float64
	var elapsed time.Duration
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			total, _ = strconv.ParseFloat(f[0], 64)
			elapsed, _ = time.ParseDuration(strings.TrimSuffix(f[3], ","))
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:"):
			refused, _ = strconv.ParseFloat(f[len(f)-1], 64)
		}
	}
	if total == 0 || elapsed == 0 {
		return 0, fmt.Errorf("no request count in wrk output:\n%s", text)
	}
	if refused > 0 {
		fmt.Printf("  (%s refused %.0f of %.0f requests, counted out)\n", addr, refused, total)
	}
	return (total - refused) / elapsed.Seconds(), nil
}

func goLoop(addr, uri string, conns int, d time.Duration) (float64, error) {
	c := &fasthttp.HostClient{Addr: addr, MaxConns: conns, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	var ok, failed atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI(uri)
			req.Header.SetHost(addr)
			req.Header.SetUserAgent(userAgent)
			for time.Now().Before(deadline) {
				if err := c.Do(req, resp); err == nil && resp.StatusCode() == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > ok.Load()/100 {
		return 0, errTooManyFailures(f)
	}
	return float64(ok.Load()) / time.Since(start).Seconds(), nil
}

// openLoop sends at a fixed rate for d. Latency counts from when a request
// was due, not when it left, so a stalled server shows in the tail instead
// of slowing the generator (no coordinated omission). uriFor may vary the
// request; sent(i, t) is told when request i was due.
func openLoop(addr string, rate float64, d time.Duration, uriFor func(i int) string) (latencies []time.Duration, failed int64) {
	const workers = 64
	c := &fasthttp.HostClient{Addr: addr, MaxConns: workers, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	total := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now().Add(50 * time.Millisecond)
	var mu sync.Mutex
	var fails atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.Header.SetHost(addr)
			req.Header.SetUserAgent(userAgent)
			local := make([]time.Duration, 0, total/workers+1)
			for i := w; i < total; i += workers {
				due := start.Add(time.Duration(i) * interval)
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				req.SetRequestURI(uriFor(i))
				if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					fails.Add(1)
					continue
				}
				local = append(local, time.Since(due))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	return latencies, fails.Load()
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}
