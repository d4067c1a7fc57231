// Command collector takes hits from browsers, e-mails and shop backends over
// HTTP and produces them to Kafka. The program itself is collector/app;
// this parses its flags, starts it and stops it on a signal.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"footfall/collector/app"
	"footfall/internal/envflag"
	sdkjs "footfall/sdk-js"
)

func main() {
	var cfg app.Config
	fs := flag.NewFlagSet("collector", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	if err := envflag.Parse(fs, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg.Script = sdkjs.Script
	slog.Info("collector starting", envflag.Describe(fs, app.Secrets)...)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := app.Start(ctx, cfg)
	if err != nil {
		slog.Error("collector failed to start", "err", err)
		os.Exit(1)
	}
	slog.Info("collector listening", "addr", p.Addr(), "ops", p.OpsAddr())
	<-ctx.Done()
	stop() // a second signal now kills the process at once

	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		slog.Error("collector shutdown", "err", err)
		os.Exit(1)
	}
}
