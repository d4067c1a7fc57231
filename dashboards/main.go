// Command dashboards serves the analysts' web dashboard and the query API
// it calls, reading the ClickHouse tables the processor maintains. The
// program itself is dashboards/app; this parses its flags, starts it and
// stops it on a signal.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"footfall/dashboards/app"
	"footfall/internal/envflag"
)

func main() {
	var cfg app.Config
	fs := flag.NewFlagSet("dashboards", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	if err := envflag.Parse(fs, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	slog.Info("dashboards starting", envflag.Describe(fs, app.Secrets)...)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := app.Start(ctx, cfg)
	if err != nil {
		slog.Error("dashboards failed to start", "err", err)
		os.Exit(1)
	}
	slog.Info("dashboards listening", "url", "http://"+p.Addr()+"/", "ops", p.OpsAddr())
	<-ctx.Done()
	stop() // a second signal now kills the process at once

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		slog.Error("dashboards shutdown", "err", err)
		os.Exit(1)
	}
}
