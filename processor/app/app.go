// Package app is the processor program: the topic and the schema made
// ready, the Kafka consumer that enriches and inserts, the refresh of the
// derived tables, the trigger loop, the ops listener, and an orderly
// shutdown, wired from one Config. main.go only parses flags and waits for
// a signal; tests start it in-process on random ports.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/envflag"
	"footfall/internal/erasure"
	"footfall/internal/geoip"
	"footfall/internal/kafkaadmin"
	"footfall/internal/ops"
	"footfall/internal/profiles"
	"footfall/internal/segments"
	"footfall/internal/sites"
	"footfall/processor/chstore"
	"footfall/processor/consume"
	"footfall/processor/derive"
	"footfall/processor/enrich"
	"footfall/processor/retention"
	"footfall/processor/triggers"
)

// Config is the processor's whole configuration.
type Config struct {
	Kafka           kafkaadmin.TopicConfig
	KafkaGroup      string
	CH              chsql.Config
	BatchSize       int
	FlushInterval   time.Duration
	ShutdownTimeout time.Duration
	Ops             ops.Config
	Rules           profiles.Rules
	// SitesReload is how often the site registry (each site's lifecycle
	// rules) is read again.
	SitesReload time.Duration
	Triggers    triggers.Config
	Refresh     derive.Config
	GeoIP       string
	Enrich      enrich.Config
	// ErasureSecret keys the tombstones of erased people, as the
	// dashboards' (internal/erasure).
	ErasureSecret string
	// Retention drops what is past each site's retention_days.
	Retention retention.Config

	// DedupIDs, InsertTimeout and the group's timeouts: see
	// consume.Config.
	DedupIDs          int
	InsertTimeout     time.Duration
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
}

// RegisterFlags declares the processor's flags on fs, with their defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Kafka.RegisterFlags(fs)
	fs.StringVar(&c.KafkaGroup, "kafka-group", "footfall-processor", "consumer group; processors in one group share the partitions")
	c.CH.RegisterFlags(fs)
	fs.IntVar(&c.BatchSize, "batch-size", 50000, "events per ClickHouse insert at most (each insert has a fixed cost, so a processor that falls behind inserts larger batches, up to this)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", 500*time.Millisecond, "longest an event waits before it is inserted")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long the final insert and commit may take")
	fs.IntVar(&c.DedupIDs, "dedup-ids", 100000, "event ids remembered per partition to drop copies (a producer retry, a replayed log) without asking ClickHouse; ids older than the memory are looked up")
	fs.DurationVar(&c.InsertTimeout, "insert-timeout", time.Minute, "longest one attempt at writing a batch may take before it is retried (a ClickHouse that hangs)")
	fs.DurationVar(&c.SessionTimeout, "kafka-session-timeout", 6*time.Second, "a group member not heard from for this long is dead and its partitions go to the others (the broker's group.min.session.timeout.ms, 6s by default, is the least it accepts)")
	fs.DurationVar(&c.HeartbeatInterval, "kafka-heartbeat-interval", 500*time.Millisecond, "how often a member tells the group it lives, and learns of a rebalance (at most a third of the session timeout)")
	c.Ops.RegisterFlags(fs, "processor", "127.0.0.1:9101")
	fs.StringVar(&c.GeoIP, "geoip-db", "", "offline GeoIP database (.mmdb: GeoLite2-Country or -City, DB-IP Lite) giving each event its country; empty leaves countries empty")
	c.Enrich.RegisterFlags(fs)
	c.Rules.RegisterFlags(fs)
	c.Retention.RegisterFlags(fs)
	fs.DurationVar(&c.SitesReload, "sites-reload", sites.DefaultReload, "how often the site registry is read again from ClickHouse: a site, a key or a domain changed in the dashboards is in force within this")
	c.Triggers.RegisterFlags(fs)
	c.Refresh.RegisterFlags(fs)
	erasure.RegisterFlag(fs, &c.ErasureSecret)
}

// Secrets names the flags the start-up log must not print.
var Secrets = envflag.Secret{"clickhouse-password": true, "erasure-secret": true, "webhook-secret": true, "webhook-urls": true} // URLs may carry credentials (user:password@, a token in the path or query)

// Migrate makes the topic and the schema ready: what "processor migrate"
// does, and what Start does first.
func Migrate(ctx context.Context, cfg Config) error {
	store, err := prepare(ctx, cfg)
	if err != nil {
		return err
	}
	return store.Close()
}

// prepare creates the topic and the database if missing, migrates the
// schema, and returns the open store.
func prepare(ctx context.Context, cfg Config) (*chstore.Store, error) {
	if err := cfg.Kafka.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("prepare kafka topic: %w", err)
	}
	store, err := chstore.Open(ctx, cfg.CH)
	if err != nil {
		return nil, err
	}
	if err := chsql.Migrate(ctx, store.DB()); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// Program is a running processor.
type Program struct {
	cfg   Config
	store *chstore.Store
	geo   *geoip.DB
	ops   *ops.Server
	// notifier is nil when triggers are off.
	notifier *triggers.Notifier

	// stop ends the consumer, the refresh job and the trigger loop; all
	// are done when running is.
	stop    context.CancelFunc
	running sync.WaitGroup
	// consumed is closed when the consumer has returned, with its error in
	// consumeErr.
	consumed   chan struct{}
	consumeErr error

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start makes the topic and the schema ready, then consumes. ctx bounds
// the start only.
func Start(ctx context.Context, cfg Config) (*Program, error) {
	if err := erasure.CheckSecret(cfg.ErasureSecret); err != nil {
		return nil, err
	}
	store, err := prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p := &Program{cfg: cfg, store: store, consumed: make(chan struct{})}
	if cfg.GeoIP != "" {
		if p.geo, err = geoip.Open(cfg.GeoIP); err != nil {
			store.Close()
			return nil, err
		}
	}
	if cfg.Triggers.Interval > 0 {
		if p.notifier, err = triggers.New(ctx, cfg.Triggers, cfg.Kafka); err != nil {
			p.closeStores()
			return nil, err
		}
	}
	// The site registry, read again every SitesReload: each site's
	// classification rules, and its domains, internal referrers to the
	// enrichment.
	reg := sites.NewRegistry(sites.NewStore(store.DB()))
	if err := reg.Reload(ctx); err != nil {
		slog.Warn("site registry: first read failed; trying again", "err", err)
	}
	enrichCfg := cfg.Enrich
	enrichCfg.Sites = reg
	c := consume.New(consume.Config{
		Brokers: cfg.Kafka.BrokerList(), Topic: cfg.Kafka.Topic, Group: cfg.KafkaGroup,
		BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval, FlushTimeout: cfg.ShutdownTimeout, GeoIP: p.geo,
		Enrich: enrichCfg, ErasureSecret: cfg.ErasureSecret, DedupIDs: cfg.DedupIDs, InsertTimeout: cfg.InsertTimeout,
		SessionTimeout: cfg.SessionTimeout, HeartbeatInterval: cfg.HeartbeatInterval,
	}, store)
	// /readyz fails while ClickHouse writes fail (with how long, the batch
	// held and the group's lag), and when shutting down.
	if p.ops, err = ops.Start(cfg.Ops, c.Ready); err != nil {
		c.Close()
		if p.notifier != nil {
			p.notifier.Close(ctx)
		}
		p.closeStores()
		return nil, err
	}

	runCtx, stop := context.WithCancel(context.Background())
	p.stop = stop
	p.running.Add(1)
	go func() {
		defer p.running.Done()
		p.consumeErr = c.Run(runCtx)
		close(p.consumed)
	}()
	// One people store for the refresh job and the trigger round, so that
	// their refreshes of the people table take turns.
	people := profiles.NewStore(store.DB(), cfg.Rules)
	// Each site is classified by its own rules, the site registry's; until
	// the first read, and for a site it does not hold, by -loyal-orders
	// and the others.
	people.SetSiteRules(profiles.SiteRules(reg))
	p.running.Add(1)
	go func() {
		defer p.running.Done()
		reg.Run(runCtx, cfg.SitesReload)
	}()
	if cfg.Retention.Interval > 0 {
		// Each round reads the registry itself: a round that cannot read
		// it drops nothing, rather than take a site's 0 (kept for ever)
		// for the default.
		siteStore := sites.NewStore(store.DB())
		j := retention.New(store.DB(), cfg.Retention, func(ctx context.Context) (map[string]int, error) {
			list, err := siteStore.Load(ctx)
			if err != nil {
				return nil, err
			}
			days := map[string]int{}
			for _, s := range list {
				days[s.ID] = s.RetentionDays
			}
			return days, nil
		})
		p.running.Add(1)
		go func() {
			defer p.running.Done()
			j.Run(runCtx)
		}()
	}
	if cfg.Refresh.Interval > 0 {
		r := derive.New(people, cfg.Refresh)
		p.running.Add(1)
		go func() {
			defer p.running.Done()
			r.Run(runCtx)
		}()
	}
	if p.notifier != nil {
		p.running.Add(1)
		go func() {
			defer p.running.Done()
			p.notifier.Run(runCtx, segments.NewStore(people))
		}()
	}
	slog.Info("processor consuming", "topic", cfg.Kafka.Topic, "group", cfg.KafkaGroup, "ops", p.ops.Addr())
	return p, nil
}

// OpsAddr is the ops listener's address, "" when it is off.
func (p *Program) OpsAddr() string { return p.ops.Addr() }

// Stopped is closed when the consumer has stopped on its own, which only
// an error makes it do; Shutdown then returns that error.
func (p *Program) Stopped() <-chan struct{} { return p.consumed }

// Shutdown stops the processor: /readyz fails first, then the consumer
// stops fetching, inserts what it holds and commits it (bounded by
// ShutdownTimeout), the refresh job and the trigger loop end and the
// trigger loop's queued webhook posts get up to ctx to go out, and the ops
// listener closes last. If ctx ends before the consumer is done, Shutdown
// returns without closing the database under it. Calling it again returns
// the first call's result.
func (p *Program) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() { p.shutdownErr = p.shutdown(ctx) })
	return p.shutdownErr
}

func (p *Program) shutdown(ctx context.Context) error {
	p.ops.Drain()
	p.stop()
	done := make(chan struct{})
	go func() { p.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("processor still flushing at the shutdown deadline: %w", ctx.Err())
	}
	var errs []error
	if p.consumeErr != nil {
		errs = append(errs, p.consumeErr)
	}
	if p.notifier != nil {
		if err := p.notifier.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("triggers: %w", err))
		}
	}
	if err := p.closeStores(); err != nil {
		errs = append(errs, err)
	}
	if err := p.ops.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	slog.Info("processor stopped")
	return errors.Join(errs...)
}

func (p *Program) closeStores() error {
	if p.geo != nil {
		p.geo.Close()
	}
	if err := p.store.Close(); err != nil {
		return fmt.Errorf("close clickhouse: %w", err)
	}
	return nil
}
