// Package app is the collector program: the Kafka producer, the HTTP
// handlers and their listener, the ops listener, readiness, and an orderly
// shutdown, wired from one Config. main.go only parses flags and waits for
// a signal; tests start it in-process on random ports.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"footfall/collector/beacon"
	"footfall/collector/clientaddr"
	"footfall/collector/kafkaout"
	"footfall/collector/ratelimit"
	"footfall/internal/chsql"
	"footfall/internal/kafkaadmin"
	"footfall/internal/links"
	"footfall/internal/ops"
	"footfall/internal/sites"
)

// Config is the collector's whole configuration.
type Config struct {
	Listen           string
	Kafka            kafkaadmin.TopicConfig
	KafkaCompression string
	BatchEvents      int
	BatchBytes       int
	Linger           time.Duration
	QueueBatches     int
	Writers          int
	MaxBodyBytes     int
	MaxHeaderBytes   int
	MaxBatchEvents   int
	// MaxEventAge and FutureSkew bound the time of history sent through
	// the server API (beacon.Config).
	MaxEventAge time.Duration
	FutureSkew  time.Duration
	// CH is where the site registry is read from (internal/sites), every
	// SitesReload: hits for a site it does not hold are refused, and the
	// server API's keys are its sites'.
	CH                chsql.Config
	SitesReload       time.Duration
	KeepFullIP        bool
	TrustProxy        string
	TrustProxyHeader  string
	CookielessSecret  string
	LinkSecret        string
	LegacyTokens      bool
	RateLimits        RateLimits
	ShutdownDelay     time.Duration
	ShutdownTimeout   time.Duration
	ReadinessInterval time.Duration
	Delivery          string
	WALDir            string
	WALMaxBytes       int64
	WALSegmentBytes   int64
	WALCommitInterval time.Duration
	Ops               ops.Config
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
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", 32<<10, "largest request line and headers together; larger gets 431")
	fs.IntVar(&c.MaxBatchEvents, "max-batch-events", 100, "most events in one POST")
	fs.DurationVar(&c.MaxEventAge, "max-event-age", 400*24*time.Hour, "how old an event the server API sends with its time (history) may be; older is refused")
	fs.DurationVar(&c.FutureSkew, "future-skew", 5*time.Minute, "how far ahead of the collector's clock the time of an event the server API sends may be")
	c.CH.RegisterFlags(fs)
	fs.DurationVar(&c.SitesReload, "sites-reload", sites.DefaultReload, "how often the site registry is read again from ClickHouse: a site, a key or a domain changed in the dashboards is in force within this")
	for _, gone := range []string{"sites", "site-keys"} {
		fs.Func(gone, "removed: sites and their server API keys are in the site registry (dashboards, /api/v1/sites)", func(string) error {
			return fmt.Errorf("-%s is gone: sites and their server API keys are made in the dashboards (POST /api/v1/sites, POST /api/v1/sites/{id}/keys); the collector reads them from ClickHouse", gone)
		})
	}
	fs.BoolVar(&c.KeepFullIP, "keep-full-ip", false, "store client addresses whole instead of anonymised")
	fs.StringVar(&c.TrustProxy, "trust-proxy", "", "comma-separated networks (CIDR) or addresses of the proxies in front of the collector; the client is the right-most address of -trust-proxy-header that is none of them; empty trusts none")
	fs.StringVar(&c.TrustProxyHeader, "trust-proxy-header", "X-Forwarded-For", "the header the trusted proxies write: X-Forwarded-For or Forwarded (RFC 7239)")
	fs.StringVar(&c.CookielessSecret, "cookieless-secret", "", "salt of the daily visitor hash for hits without a visitor id; random per start when empty")
	fs.StringVar(&c.LinkSecret, "link-secret", "", "HMAC key of newsletter click and unsubscribe links (16+ bytes, the same as the dashboards'); empty turns those links off")
	fs.BoolVar(&c.LegacyTokens, "legacy-tokens", true, "queue the opens and clicks of recipient tokens the link secret did not make (an earlier version's, unsigned) as unverified, which the processor keeps only for a recipient it has; false refuses them")
	c.RateLimits.RegisterFlags(fs)
	fs.DurationVar(&c.ShutdownDelay, "shutdown-delay", 0, "on SIGTERM, how long /readyz fails before the listener closes")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 8*time.Second, "on SIGTERM, how long to wait for Kafka to take queued events (what it has not taken stays in the write-ahead log); with -shutdown-delay, keep it inside the stop grace period (10 s in Docker and Kubernetes)")
	fs.DurationVar(&c.ReadinessInterval, "readiness-interval", 2*time.Second, "how often Kafka is checked for /readyz")
	fs.StringVar(&c.Delivery, "delivery", "disk", "when a hit gets its 2xx: disk (once in the write-ahead log, fsynced), kafka (once Kafka acknowledged it), memory (once queued in memory; a crash loses what Kafka has not taken)")
	fs.StringVar(&c.WALDir, "wal-dir", "collector-wal", "the write-ahead log's directory (one collector each): every hit with -delivery=disk, in the other modes what Kafka has not taken by the shutdown deadline; produced at start; empty (memory and kafka only) counts those lost")
	fs.Int64Var(&c.WALMaxBytes, "wal-max-bytes", 1<<30, "bytes the write-ahead log holds at most with -delivery=disk (Kafka away); beyond, hits get 503")
	fs.Func("spool-dir", "the former name of -wal-dir", func(v string) error { c.WALDir = v; return nil })
	fs.Int64Var(&c.WALSegmentBytes, "wal-segment-bytes", 8<<20, "size at which a write-ahead log segment is closed and the next started; a segment is deleted once Kafka acknowledged all of it")
	fs.DurationVar(&c.WALCommitInterval, "wal-commit-interval", time.Millisecond, "with -delivery=disk, the shortest time between two fsyncs of the write-ahead log: under load the hits of that long share one (group commit); a hit after a quiet spell is committed at once")
	c.Ops.RegisterFlags(fs, "collector", "127.0.0.1:9102")
}

// Secrets names the flags Describe must not print.
var Secrets = map[string]bool{"clickhouse-password": true, "cookieless-secret": true, "link-secret": true}

// Program is a running collector.
type Program struct {
	cfg  Config
	prod *kafkaout.Producer
	h    *beacon.Handler
	srv  *fasthttp.Server
	ln   net.Listener
	ops  *ops.Server
	db   *chsql.Conn
	// stopSites ends the site registry's reloads.
	stopSites context.CancelFunc
	// kafkaErr is why Kafka is not ready (nil when it answered the last
	// check and the topic is there).
	kafkaErr atomic.Pointer[error]

	stopPing context.CancelFunc
	served   chan error

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start connects to Kafka, creating the topic if needed, and starts serving
// hits on cfg.Listen and /metrics, /healthz, /readyz on cfg.Ops.Listen. ctx
// bounds the start only.
func Start(ctx context.Context, cfg Config) (*Program, error) {
	var err error
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
	proxies, err := parseProxies(cfg.TrustProxy, cfg.TrustProxyHeader)
	if err != nil {
		return nil, err
	}
	addressLimit, siteLimit, err := cfg.RateLimits.tables(cfg.MaxBatchEvents)
	if err != nil {
		return nil, err
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 32 << 10
	}
	db, err := chsql.Open(ctx, cfg.CH)
	if err != nil {
		return nil, fmt.Errorf("site registry: %w", err)
	}
	registry := sites.NewRegistry(sites.NewStore(db))
	sitesCtx, stopSites := context.WithCancel(context.Background())
	if err := registry.Start(sitesCtx, cfg.SitesReload); err != nil {
		stopSites()
		db.Close()
		return nil, fmt.Errorf("read the site registry (the processor's migrations make it): %w", err)
	}
	closeSites := func() { stopSites(); db.Close() }
	delivery, err := kafkaout.ParseDelivery(cfg.Delivery)
	if err != nil {
		closeSites()
		return nil, fmt.Errorf("-delivery: %w", err)
	}
	if delivery == kafkaout.Disk && cfg.WALDir == "" {
		closeSites()
		return nil, errors.New("-delivery=disk needs -wal-dir")
	}
	brokers := cfg.Kafka.BrokerList()
	// Kafka away at start is an outage like any other: the collector
	// serves (with disk delivery into the log), /readyz says why it is
	// not ready, and the topic is made when Kafka answers.
	kafkaErr := cfg.Kafka.Ensure(ctx)
	if kafkaErr != nil {
		kafkaErr = fmt.Errorf("prepare kafka topic: %w", kafkaErr)
		slog.Warn("kafka unavailable at start: serving, events wait in the queue or the write-ahead log", "err", kafkaErr)
	}
	prod, err := kafkaout.New(kafkaout.Config{
		Brokers: brokers, Topic: cfg.Kafka.Topic,
		BatchEvents: cfg.BatchEvents, BatchBytes: cfg.BatchBytes, Linger: cfg.Linger,
		Batches: cfg.QueueBatches, Writers: cfg.Writers, Compression: cfg.KafkaCompression,
		Delivery: delivery, WALDir: cfg.WALDir, WALMaxBytes: cfg.WALMaxBytes, WALSegmentBytes: cfg.WALSegmentBytes,
		WALCommitInterval: cfg.WALCommitInterval,
	})
	if err != nil {
		closeSites()
		return nil, err
	}
	h := beacon.New(beacon.Config{
		Sites:      registry,
		KeepFullIP: cfg.KeepFullIP, Proxies: proxies, CookielessSecret: secret,
		MaxBatchEvents: cfg.MaxBatchEvents, MaxBodyBytes: cfg.MaxBodyBytes, Links: signer, LegacyTokens: cfg.LegacyTokens,
		MaxEventAge: cfg.MaxEventAge, FutureSkew: cfg.FutureSkew,
		AddressLimit: addressLimit, SiteLimit: siteLimit,
	}, prod, nil) // /metrics is the ops listener's, not the public port's
	if cfg.Script != nil {
		h.SetScript(cfg.Script)
	}
	s := &Program{cfg: cfg, prod: prod, h: h, db: db, stopSites: stopSites, served: make(chan error, 1)}
	s.setKafka(kafkaErr)

	if s.ops, err = ops.Start(cfg.Ops, s.ready); err != nil {
		prod.Close(context.Background())
		closeSites()
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		s.ops.Shutdown(context.Background())
		prod.Close(context.Background())
		closeSites()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	s.srv = &fasthttp.Server{
		Handler:            h.Handle,
		Name:               "footfall",
		MaxRequestBodySize: cfg.MaxBodyBytes,
		// fasthttp reads a request's line and headers into one buffer of
		// this size (4 KiB by default, less than a browser with a few
		// cookies sends a pixel with a long URL).
		ReadBufferSize:        cfg.MaxHeaderBytes,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		NoDefaultServerHeader: true,
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				beacon.TooLarge(ctx)
				return
			}
			var small *fasthttp.ErrSmallBuffer
			if errors.As(err, &small) {
				beacon.HeadersTooLarge(ctx, cfg.MaxHeaderBytes)
				return
			}
			beacon.Malformed(ctx)
		},
		// Nor do the logs quote what a client sent.
		SecureErrorLogMessage: true,
		Logger:                serverLog{},
	}
	go func() { s.served <- s.srv.Serve(s.ln) }()

	pingCtx, stop := context.WithCancel(context.Background())
	s.stopPing = stop
	go s.watchKafka(pingCtx, kafkaErr != nil)
	return s, nil
}

// Addr is the address the collector takes hits on (useful with port 0).
func (s *Program) Addr() string { return s.ln.Addr().String() }

// OpsAddr is the ops listener's address, "" when it is off.
func (s *Program) OpsAddr() string { return s.ops.Addr() }

// ready is what the ops listener's /readyz answers before shutdown.
func (s *Program) ready() error {
	if err := s.kafkaErr.Load(); err != nil {
		return *err
	}
	return nil
}

// setKafka records whether Kafka is ready (err nil) for both /readyz: the
// ops listener's, and the public port's, which load balancers in front of
// the collector check.
func (s *Program) setKafka(err error) {
	if err == nil {
		s.kafkaErr.Store(nil)
	} else {
		err = fmt.Errorf("kafka unreachable: %w", err)
		s.kafkaErr.Store(&err)
	}
	s.h.SetReady(err == nil)
}

// watchKafka keeps both /readyz in step with whether Kafka answers. Until
// the topic has been prepared (Kafka was away at start), each check tries
// that again.
func (s *Program) watchKafka(ctx context.Context, needTopic bool) {
	brokers := s.cfg.Kafka.BrokerList()
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
			var err error
			if needTopic {
				if err = s.cfg.Kafka.Ensure(pctx); err == nil {
					needTopic = false
					slog.Info("kafka answers: topic prepared, producing what waited")
				} else {
					err = fmt.Errorf("prepare kafka topic: %w", err)
				}
			} else {
				err = kafkaadmin.Ping(pctx, brokers)
			}
			cancel()
			if ctx.Err() != nil {
				return
			}
			s.setKafka(err)
		}
	}
}

// Shutdown drains the collector: /readyz fails first so load balancers stop
// sending, then after ShutdownDelay the listener closes and in-flight
// requests finish, then what is queued and what the write-ahead log holds
// is written to Kafka, and the ops listener closes last. ctx bounds the
// whole; what Kafka has not taken when it ends stays in (or goes to) the
// log for the next start, or without one is counted as lost. Calling it
// again returns the first call's result.
func (s *Program) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Program) shutdown(ctx context.Context) error {
	s.stopPing()
	s.ops.Drain()
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
	if err := s.ops.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	s.stopSites()
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close clickhouse: %w", err))
	}
	slog.Info("collector stopped")
	return errors.Join(errs...)
}

// RateLimits are the token buckets of the public endpoints, in events.
type RateLimits struct {
	Address      float64
	AddressBurst int
	Site         float64
	SiteBurst    int
	Keys         int
}

// siteKeys is how many sites' buckets are kept: more than any collector
// serves, fewer than invented ids a flood could bring, which only push
// each other out.
const siteKeys = 10_000

// RegisterFlags declares the -rate-limit-* flags.
func (r *RateLimits) RegisterFlags(fs *flag.FlagSet) {
	fs.Float64Var(&r.Address, "rate-limit-address", 100, "events a second from one client address (an IPv6 /64), beyond -rate-limit-address-burst; 0 turns it off. The server API, authenticated by its site key, has none")
	fs.IntVar(&r.AddressBurst, "rate-limit-address-burst", 1000, "events one client address may send at once")
	fs.Float64Var(&r.Site, "rate-limit-site", 5000, "events a second for one site, beyond -rate-limit-site-burst; 0 turns it off")
	fs.IntVar(&r.SiteBurst, "rate-limit-site-burst", 50000, "events one site may take at once")
	fs.IntVar(&r.Keys, "rate-limit-keys", 100_000, "client addresses whose buckets are kept (about 110 bytes each); the least recently seen are forgotten beyond")
}

// tables makes the buckets; a burst must hold a whole batch.
func (r RateLimits) tables(maxBatch int) (address, site *ratelimit.Table, err error) {
	if maxBatch <= 0 {
		maxBatch = 100
	}
	if r.Address > 0 && r.AddressBurst < maxBatch || r.Site > 0 && r.SiteBurst < maxBatch {
		return nil, nil, fmt.Errorf("-rate-limit-address-burst (%d) and -rate-limit-site-burst (%d) must hold a batch of -max-batch-events (%d)",
			r.AddressBurst, r.SiteBurst, maxBatch)
	}
	return ratelimit.New(r.Address, r.AddressBurst, max(r.Keys, 1)), ratelimit.New(r.Site, r.SiteBurst, siteKeys), nil
}

// serverLog is the listener's log. fasthttp logs every request it could
// not read, quoting the line it stumbled on: those are answered and
// counted (reason="malformed"), and a log line per bad request is one a
// client writes. The rest (accepting connections failing) goes to slog.
type serverLog struct{}

func (serverLog) Printf(format string, args ...any) {
	if strings.HasPrefix(format, "error when serving connection") {
		return
	}
	slog.Warn("http server: " + fmt.Sprintf(format, args...))
}

// parseProxies reads -trust-proxy and -trust-proxy-header.
func parseProxies(list, header string) (*clientaddr.Resolver, error) {
	switch strings.ToLower(strings.TrimSpace(list)) {
	case "true", "1", "yes", "false", "0", "no":
		// -trust-proxy was a switch that trusted any peer's header.
		return nil, fmt.Errorf("-trust-proxy=%s: give the proxies' networks instead (such as 10.0.0.0/8,127.0.0.1), or nothing to trust none", list)
	}
	nets, err := clientaddr.ParseTrusted(list)
	if err != nil {
		return nil, fmt.Errorf("-trust-proxy: %w", err)
	}
	h, err := clientaddr.ParseHeader(header)
	if err != nil {
		return nil, fmt.Errorf("-trust-proxy-header: %w", err)
	}
	return clientaddr.New(nets, h), nil
}
