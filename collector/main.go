// Command collector takes hits from browsers, e-mails and shop backends over
// HTTP and produces them to Kafka.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"footfall/collector/server"
	"footfall/internal/envflag"
	sdkjs "footfall/sdk-js"
)

func main() {
	var cfg server.Config
	fs := flag.NewFlagSet("collector", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	if err := envflag.Parse(fs, os.Args[1:], nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg.Script = sdkjs.Script
	slog.Info("collector starting", envflag.Describe(fs, server.Secrets)...)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s, err := server.Start(ctx, cfg)
	if err != nil {
		slog.Error("collector failed to start", "err", err)
		os.Exit(1)
	}
	slog.Info("collector listening", "addr", s.Addr())
	<-ctx.Done()
	stop() // a second signal now kills the process at once

	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		slog.Error("collector shutdown", "err", err)
		os.Exit(1)
	}
}
