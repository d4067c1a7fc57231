// Command dashboards serves the analysts' web dashboard and the query API
// it calls, reading the ClickHouse tables the processor maintains.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"footfall/dashboards/api"
	"footfall/dashboards/web"
	"footfall/internal/envflag"
	"footfall/internal/links"
	"footfall/internal/profiles"
	"footfall/processor/chstore"
)

type config struct {
	Listen string
	Token  string
	CH     chstore.Config
	Rules  profiles.Rules
	// LinkSecret and CollectorURL let the API rewrite newsletter links.
	LinkSecret   string
	CollectorURL string
	Commission   api.Commission
}

func (c *config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "dashboards-listen", "127.0.0.1:8090", "address of the dashboard and query API")
	fs.StringVar(&c.Token, "api-token", "", "token the API requires (Authorization: Bearer or ?token=); empty leaves it open")
	c.CH.RegisterFlags(fs)
	c.Rules.RegisterFlags(fs)
	fs.StringVar(&c.LinkSecret, "link-secret", "", "HMAC key of newsletter click and unsubscribe links (16+ bytes, the same as the collector's)")
	fs.StringVar(&c.CollectorURL, "collector-url", "http://127.0.0.1:8080", "the collector's public address, which newsletter links and pixels point to")
	c.Commission.RegisterFlags(fs)
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("dashboards", flag.ExitOnError)
	cfg.register(fs)
	if err := envflag.Parse(fs, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	slog.Info("dashboards starting", envflag.Describe(fs, envflag.Secret{"api-token": true, "clickhouse-password": true, "link-secret": true})...)
	if cfg.Token == "" {
		slog.Warn("the query API is open: set -api-token before exposing it beyond this machine")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		slog.Error("dashboards", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	store, err := chstore.Open(ctx, cfg.CH)
	if err != nil {
		return err
	}
	defer store.Close()
	mux := http.NewServeMux()
	acfg := api.Config{Token: cfg.Token, Rules: cfg.Rules, CollectorURL: cfg.CollectorURL, Commission: cfg.Commission}
	if cfg.LinkSecret != "" {
		if acfg.Links, err = links.NewSigner(cfg.LinkSecret); err != nil {
			return fmt.Errorf("-link-secret: %w", err)
		}
	}
	api.New(store.DB(), store, acfg).Register(mux)
	mux.Handle("GET /", http.FileServerFS(web.Files))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	slog.Info("dashboards listening", "url", "http://"+ln.Addr().String()+"/")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
