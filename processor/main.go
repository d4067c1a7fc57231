// Command processor consumes events from Kafka, enriches them and writes
// them to ClickHouse. "processor migrate" only prepares the schema and the
// topic, then exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"footfall/internal/chsql"
	"footfall/internal/envflag"
	"footfall/internal/geoip"
	"footfall/internal/kafkaadmin"
	"footfall/internal/profiles"
	"footfall/internal/segments"
	"footfall/processor/chstore"
	"footfall/processor/consume"
	"footfall/processor/triggers"
)

type config struct {
	Kafka           kafkaadmin.TopicConfig
	KafkaGroup      string
	CH              chstore.Config
	BatchSize       int
	FlushInterval   time.Duration
	ShutdownTimeout time.Duration
	MetricsListen   string
	Rules           profiles.Rules
	Triggers        triggers.Config
	GeoIP           string
	Pprof           bool
}

func (c *config) register(fs *flag.FlagSet) {
	c.Kafka.RegisterFlags(fs)
	fs.StringVar(&c.KafkaGroup, "kafka-group", "footfall-processor", "consumer group; processors in one group share the partitions")
	c.CH.RegisterFlags(fs)
	fs.IntVar(&c.BatchSize, "batch-size", 50000, "events per ClickHouse insert at most (each insert has a fixed cost, so a processor that falls behind inserts larger batches, up to this)")
	fs.DurationVar(&c.FlushInterval, "flush-interval", 500*time.Millisecond, "longest an event waits before it is inserted")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, how long the final insert and commit may take")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "127.0.0.1:9101", "address of /metrics and /healthz; empty turns it off")
	fs.StringVar(&c.GeoIP, "geoip-db", "", "offline GeoIP database (.mmdb: GeoLite2-Country or -City, DB-IP Lite) giving each event its country; empty leaves countries empty")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on -metrics-listen (for benchmarks; keep it off in production)")
	c.Rules.RegisterFlags(fs)
	c.Triggers.RegisterFlags(fs)
}

func main() {
	args := os.Args[1:]
	migrateOnly := len(args) > 0 && args[0] == "migrate"
	if migrateOnly {
		args = args[1:]
	}
	var cfg config
	fs := flag.NewFlagSet("processor", flag.ExitOnError)
	cfg.register(fs)
	if err := envflag.Parse(fs, args, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	slog.Info("processor starting", envflag.Describe(fs, envflag.Secret{"clickhouse-password": true, "webhook-secret": true})...)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, stop, cfg, migrateOnly); err != nil {
		slog.Error("processor", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, stop func(), cfg config, migrateOnly bool) error {
	if err := cfg.Kafka.Ensure(ctx); err != nil {
		return fmt.Errorf("prepare kafka topic: %w", err)
	}
	store, err := chstore.Open(ctx, cfg.CH)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := chsql.Migrate(ctx, store.DB()); err != nil {
		return err
	}
	if migrateOnly {
		slog.Info("schema and topic ready", "database", cfg.CH.Database, "topic", cfg.Kafka.Topic)
		return nil
	}
	if cfg.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.Handler())
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		if cfg.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		}
		srv := &http.Server{Addr: cfg.MetricsListen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				slog.Error("metrics listener", "err", err)
			}
		}()
		defer srv.Close()
	}
	var geo *geoip.DB
	if cfg.GeoIP != "" {
		if geo, err = geoip.Open(cfg.GeoIP); err != nil {
			return err
		}
		defer geo.Close()
	}
	c := consume.New(consume.Config{
		Brokers: cfg.Kafka.BrokerList(), Topic: cfg.Kafka.Topic, Group: cfg.KafkaGroup,
		BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval, FlushTimeout: cfg.ShutdownTimeout, GeoIP: geo,
	}, store)
	if cfg.Triggers.Interval > 0 {
		n, err := triggers.New(ctx, cfg.Triggers, cfg.Kafka.BrokerList())
		if err != nil {
			return err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.Run(ctx, segments.NewStore(profiles.NewStore(store.DB(), cfg.Rules)))
		}()
		defer func() {
			<-done
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			if err := n.Close(sctx); err != nil {
				slog.Error("triggers", "err", err)
			}
		}()
	}
	slog.Info("processor consuming", "topic", cfg.Kafka.Topic, "group", cfg.KafkaGroup)
	go func() {
		<-ctx.Done()
		stop() // a second signal now kills the process at once
	}()
	return c.Run(ctx)
}
