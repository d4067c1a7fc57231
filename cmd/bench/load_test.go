package main

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"footfall/collector/beacon"
)

// The open-loop generator must send every request whole, at the rate asked,
// count a 200 as a latency and anything else as a failure, and survive a
// server that closes connections.
func TestOpenLoop(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int]bool{}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		i, err := strconv.Atoi(string(ctx.QueryArgs().Peek("i")))
		if err != nil || string(ctx.UserAgent()) != userAgent {
			ctx.Error("bad request", fasthttp.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[i] = true
		mu.Unlock()
		switch {
		case i%50 == 7:
			ctx.Error(strings.Repeat("busy ", 300), fasthttp.StatusServiceUnavailable)
		case i%50 == 9:
			ctx.SetConnectionClose()
			ctx.SetBody(beacon.GIF)
		default:
			ctx.SetBody(beacon.GIF)
		}
	}}
	go srv.Serve(ln)
	defer srv.Shutdown()

	const rate, d = 4000.0, 500 * time.Millisecond
	start := time.Now()
	lat, failed := openLoop(ln.Addr().String(), rate, d, func(i int, _ time.Time) string {
		return "/p.gif?i=" + strconv.Itoa(i) + "&url=" + strings.Repeat("x", i%700)
	})
	took := time.Since(start)
	total := int(rate * d.Seconds())
	want503 := total / 50
	if failed != int64(want503) {
		t.Errorf("failed = %d, want the %d answered 503", failed, want503)
	}
	if len(lat) != total-want503 {
		t.Errorf("%d latencies, want %d", len(lat), total-want503)
	}
	if len(seen) != total {
		t.Errorf("server saw %d distinct requests, want %d", len(seen), total)
	}
	if took < d || took > d+2*time.Second {
		t.Errorf("run took %s for %s of requests", took, d)
	}
	for i := 1; i < len(lat); i++ {
		if lat[i] < lat[i-1] {
			t.Fatal("latencies are not sorted")
		}
	}
}
