// Package server wires the collector together: the Kafka producer, the HTTP
// handlers and their listener, readiness, and an orderly shutdown. Tests
// start it in-process on a random port.
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"footfall/collector/beacon"
	"footfall/collector/kafkaout"
	"footfall/internal/kafkaadmin"
	"footfall/internal/links"
)

// Config is the collector's whole configuration.
type Config struct {
	Listen            string
	Kafka             kafkaadmin.TopicConfig
	KafkaCompression  string
	BatchEvents       int
	BatchBytes        int
	Linger            time.Duration
	QueueBatches      int
	Writers           int
	MaxBodyBytes      int
	MaxBatchEvents    int
	Sites             string
	SiteKeys          string
	KeepFullIP        bool
	TrustProxy        bool
	CookielessSecret  string
	LinkSecret        string
	ShutdownDelay     time.Duration
	ShutdownTimeout   time.Duration
	ReadinessInterval time.Duration
	Pprof             bool
	SpoolDir          string
	// Script is served at /t.js when set (the built sdk-js snippet).
	Script []byte
}

// RegisterFlags declares the collector's flags on fs, with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address the collector listens on")
	c.Kafka.RegisterFlags(fs)
	fs.StringVar(&c.KafkaCompression, "kafka-compression", "lz4", "compression of produced batches: none, gzip, snappy, lz4, zstd")
	fs.IntVar(&c.BatchEvents, "batch-events", 1000, "events per Kafka batch at most")
	fs.IntVar(&c.BatchBytes, "batch-bytes", 1<<20, "bytes per Kafka batch at most")
	fs.DurationVar(&c.Linger, "linger", 20*time.Millisecond, "longest wait before a partly filled batch is sent")
	fs.IntVar(&c.QueueBatches, "queue-batches", 64, "batches held in memory at most; beyond, hits get 503")
	fs.IntVar(&c.Writers, "writers", 4, "batches written to Kafka concurrently")
	fs.IntVar(&c.MaxBodyBytes, "max-body-bytes", 64<<10, "largest POST body accepted; larger gets 413")
	fs.IntVar(&c.MaxBatchEvents, "max-batch-events", 100, "most events in one POST")
	fs.StringVar(&c.Sites, "sites", "", "comma-separated site ids accepted; empty accepts any")
	fs.StringVar(&c.SiteKeys, "site-keys", "demo=demo-secret-key", "server API keys as site=key,site=key")
	fs.BoolVar(&c.KeepFullIP, "keep-full-ip", false, "store client addresses whole instead of anonymised")
	fs.BoolVar(&c.TrustProxy, "trust-proxy", false, "take the client address from X-Forwarded-For")
	fs.StringVar(&c.CookielessSecret, "cookieless-secret", "", "salt of the daily visitor hash for hits without a visitor id; random per start when empty")
	fs.StringVar(&c.LinkSecret, "link-secret", "", "HMAC key of newsletter click and unsubscribe links (16+ bytes, the same as the dashboards'); empty turns those links off")
	fs.DurationVar(&c.ShutdownDelay, "shutdown-delay", 0, "on SIGTERM, how long /readyz fails before the listener closes")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "on SIGTERM, how long to wait for Kafka to take queued events")
	fs.DurationVar(&c.ReadinessInterval, "readiness-interval", 2*time.Second, "how often Kafka is checked for /readyz")
	fs.StringVar(&c.SpoolDir, "spool-dir", "", "where events Kafka has not taken by the shutdown deadline are kept, and replayed from at start; empty counts them lost")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ (for benchmarks; keep it off in production)")
}

// Secrets names the flags Describe must not print.
var Secrets = map[string]bool{"site-keys": true, "cookieless-secret": true, "link-secret": true}

// Server is a running collector.
type Server struct {
	cfg  Config
	prod *kafkaout.Producer
	h    *beacon.Handler
	srv  *fasthttp.Server
	ln   net.Listener

	stopPing context.CancelFunc
	served   chan error

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start connects to Kafka, creating the topic if needed, and starts serving.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	keys, err := parseSiteKeys(cfg.SiteKeys)
	if err != nil {
		return nil, err
	}
	secret := []byte(cfg.CookielessSecret)
	if len(secret) == 0 {
		secret = randomSecret()
	}
	var signer *links.Signer
	if cfg.LinkSecret != "" {
		if signer, err = links.NewSigner(cfg.LinkSecret); err != nil {
			return nil, fmt.Errorf("-link-secret: %w", err)
		}
	}
	brokers := cfg.Kafka.BrokerList()
	if err := cfg.Kafka.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("prepare kafka topic: %w", err)
	}
	prod, err := kafkaout.New(kafkaout.Config{
		Brokers: brokers, Topic: cfg.Kafka.Topic,
		BatchEvents: cfg.BatchEvents, BatchBytes: cfg.BatchBytes, Linger: cfg.Linger,
		Batches: cfg.QueueBatches, Writers: cfg.Writers, Compression: cfg.KafkaCompression,
		SpoolDir: cfg.SpoolDir,
	})
	if err != nil {
		return nil, err
	}
	h := beacon.New(beacon.Config{
		Sites: setOf(splitList(cfg.Sites)), SiteKeys: keys,
		KeepFullIP: cfg.KeepFullIP, TrustProxy: cfg.TrustProxy, CookielessSecret: secret,
		MaxBatchEvents: cfg.MaxBatchEvents, MaxBodyBytes: cfg.MaxBodyBytes, Links: signer,
	}, prod, fasthttpadaptor.NewFastHTTPHandler(promhttp.Handler()))
	if cfg.Script != nil {
		h.SetScript(cfg.Script)
	}
	h.SetReady(true) // Kafka answered EnsureTopic just now

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		prod.Close(context.Background())
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, prod: prod, h: h, ln: ln, served: make(chan error, 1)}
	handler := h.Handle
	if cfg.Pprof {
		handler = withPprof(handler)
	}
	s.srv = &fasthttp.Server{
		Handler:               handler,
		Name:                  "footfall",
		MaxRequestBodySize:    cfg.MaxBodyBytes,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		NoDefaultServerHeader: true,
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				beacon.TooLarge(ctx)
				return
			}
			ctx.Error("bad request: "+err.Error()+"\n", fasthttp.StatusBadRequest)
		},
	}
	go func() { s.served <- s.srv.Serve(ln) }()

	pingCtx, stop := context.WithCancel(context.Background())
	s.stopPing = stop
	go s.watchKafka(pingCtx, brokers)
	return s, nil
}

// Addr is the address the collector listens on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// watchKafka keeps /readyz in step with whether Kafka answers.
func (s *Server) watchKafka(ctx context.Context, brokers []string) {
	interval := s.cfg.ReadinessInterval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, interval)
			err := kafkaadmin.Ping(pctx, brokers)
			cancel()
			if ctx.Err() != nil {
				return
			}
			s.h.SetReady(err == nil)
		}
	}
}

// Shutdown drains the collector: /readyz fails first so load balancers stop
// sending, then after ShutdownDelay the listener closes and in-flight
// requests finish, then everything queued is written to Kafka. ctx bounds
// the whole; events still queued when it ends are counted as lost. Calling
// it again returns the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.stopPing()
	s.h.SetReady(false)
	if s.cfg.ShutdownDelay > 0 {
		t := time.NewTimer(s.cfg.ShutdownDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	var errs []error
	if err := s.srv.ShutdownWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop http server: %w", err))
	}
	if err := <-s.served; err != nil {
		errs = append(errs, fmt.Errorf("serve: %w", err))
	}
	if err := s.prod.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	slog.Info("collector stopped")
	return errors.Join(errs...)
}

func parseSiteKeys(s string) (map[string]string, error) {
	keys := map[string]string{}
	for _, kv := range splitList(s) {
		site, key, ok := strings.Cut(kv, "=")
		if !ok || site == "" || len(key) < 8 {
			return nil, fmt.Errorf("-site-keys entry %q: want site=key with a key of 8 characters or more", kv)
		}
		keys[key] = site
	}
	return keys, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func setOf(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]bool, len(list))
	for _, v := range list {
		m[v] = true
	}
	return m
}
