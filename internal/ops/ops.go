// Package ops is a program's operations listener, apart from its public
// port: /metrics for Prometheus, /healthz (the process is up), /readyz (it
// can do its work and is not shutting down) and, when asked for, Go's
// profiles at /debug/pprof/. The collector, the processor and the
// dashboards each start one, the same way.
package ops

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config says where the ops listener listens and what it serves.
type Config struct {
	// Listen is the listener's address; empty starts none.
	Listen string
	// Pprof serves Go's profiles at /debug/pprof/.
	Pprof bool
}

// RegisterFlags declares -<program>-ops-listen, defaulting to def, and
// -pprof on fs. The address flag is named for its program because the
// three programs may run on one machine, each with its own port, while a
// flag's environment variable configures every program that has the flag.
func (c *Config) RegisterFlags(fs *flag.FlagSet, program, def string) {
	fs.StringVar(&c.Listen, program+"-ops-listen", def, "address of /metrics, /healthz, /readyz (and /debug/pprof/ with -pprof); empty turns it off")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the ops listener (for benchmarks)")
}

// ErrShuttingDown is what /readyz answers once Drain was called.
var ErrShuttingDown = errors.New("shutting down")

// Server is a running ops listener. Its methods are safe for concurrent
// use.
type Server struct {
	ready    func() error
	draining atomic.Bool
	srv      *http.Server // nil when Config.Listen is empty
	ln       net.Listener
	served   chan error

	stopOnce sync.Once
	stopErr  error
}

// Start listens on cfg.Listen and serves. /readyz answers 200 while ready
// returns nil (ready may be nil: always ready) and Drain was not called,
// else 503 with the reason. With an empty cfg.Listen nothing listens, and
// Drain and Ready still work.
func Start(cfg Config, ready func() error) (*Server, error) {
	s := &Server{ready: ready}
	if cfg.Listen == "" {
		return s, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.serveReady)
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("ops listener on %s: %w", cfg.Listen, err)
	}
	s.ln = ln
	s.served = make(chan error, 1)
	// No write timeout: a CPU profile or a trace streams for as long as
	// it was asked to.
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the listener listens on (useful with port 0), or ""
// when none was started.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Drain makes /readyz fail from now on, so that load balancers stop
// sending before the program stops listening. It is a program's first
// step of shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// Ready is what /readyz answers: nil when ready, else why not.
func (s *Server) Ready() error {
	if s.draining.Load() {
		return ErrShuttingDown
	}
	if s.ready != nil {
		return s.ready()
	}
	return nil
}

func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.Ready(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Shutdown drains, then stops the listener, waiting up to ctx for requests
// in flight (a scrape, a profile). A program calls it last, so that its
// metrics can be scraped while it flushes. Calling it again returns the
// first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	if s.srv == nil {
		return nil
	}
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *Server) shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close() // a profile still streaming: cut it
	}
	if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("stop ops listener: %w", err)
	}
	return nil
}
