package ops

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

func get(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	var down atomic.Bool
	s, err := Start(Config{Listen: "127.0.0.1:0"}, func() error {
		if down.Load() {
			return errors.New("kafka unreachable")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())

	if code, body := get(t, s, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	if code, body := get(t, s, "/metrics"); code != 200 || !strings.Contains(body, "go_goroutines ") {
		t.Errorf("metrics: %d, no go_goroutines", code)
	}
	if code, _ := get(t, s, "/debug/pprof/cmdline"); code != 404 {
		t.Errorf("pprof without -pprof: %d, want 404", code)
	}
	if code, body := get(t, s, "/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("readyz: %d %q", code, body)
	}
	down.Store(true)
	if code, body := get(t, s, "/readyz"); code != 503 || body != "not ready: kafka unreachable\n" {
		t.Errorf("readyz when not ready: %d %q", code, body)
	}
	down.Store(false)
	s.Drain()
	if code, body := get(t, s, "/readyz"); code != 503 || body != "not ready: shutting down\n" {
		t.Errorf("readyz when draining: %d %q", code, body)
	}
	// Draining, it still answers the rest: metrics are scraped during a
	// flush.
	if code, _ := get(t, s, "/metrics"); code != 200 {
		t.Errorf("metrics when draining: %d", code)
	}
	addr := s.Addr()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("still answering after Shutdown")
	}
}

func TestPprof(t *testing.T) {
	s, err := Start(Config{Listen: "127.0.0.1:0", Pprof: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if code, _ := get(t, s, "/debug/pprof/cmdline"); code != 200 {
		t.Errorf("cmdline: %d", code)
	}
	if code, body := get(t, s, "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("index: %d", code)
	}
}

func TestOff(t *testing.T) {
	s, err := Start(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "" || s.Ready() != nil {
		t.Fatalf("addr %q, ready %v", s.Addr(), s.Ready())
	}
	s.Drain()
	if !errors.Is(s.Ready(), ErrShuttingDown) {
		t.Errorf("ready after Drain: %v", s.Ready())
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs, "processor", "127.0.0.1:9101")
	if err := fs.Parse([]string{"-pprof"}); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9101" || !c.Pprof {
		t.Errorf("%+v", c)
	}
}
