// Command processor consumes events from Kafka, enriches them and writes
// them to ClickHouse. "processor migrate" only prepares the schema and the
// topic, then exits. The program itself is processor/app; this parses its
// flags, starts it and stops it on a signal.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"footfall/internal/envflag"
	"footfall/processor/app"
)

func main() {
	args := os.Args[1:]
	migrateOnly := len(args) > 0 && args[0] == "migrate"
	if migrateOnly {
		args = args[1:]
	}
	var cfg app.Config
	fs := flag.NewFlagSet("processor", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	if err := envflag.Parse(fs, args, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	slog.Info("processor starting", envflag.Describe(fs, app.Secrets)...)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if migrateOnly {
		if err := app.Migrate(ctx, cfg); err != nil {
			slog.Error("processor migrate", "err", err)
			os.Exit(1)
		}
		slog.Info("schema and topic ready", "database", cfg.CH.Database, "topic", cfg.Kafka.Topic)
		return
	}
	p, err := app.Start(ctx, cfg)
	if err != nil {
		slog.Error("processor failed to start", "err", err)
		os.Exit(1)
	}
	select {
	case <-ctx.Done():
	case <-p.Stopped(): // an error stopped the consumer; Shutdown returns it
	}
	stop() // a second signal now kills the process at once

	// The final insert has -shutdown-timeout of its own; the queued
	// webhook posts get as long again.
	sctx, cancel := context.WithTimeout(context.Background(), 2*cfg.ShutdownTimeout)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		slog.Error("processor", "err", err)
		os.Exit(1)
	}
}
