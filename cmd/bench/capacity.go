package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"footfall/internal/chsql"
	"footfall/processor/chstore"
)

// loadRun is one end-to-end run at a fixed offered rate.
type loadRun struct {
	rate         float64 // hits/s offered
	sent, stored uint64  // hits accepted, rows of the run stored within a minute of its end
	failed       int64   // hits refused or failed
	took         time.Duration
	markers      string          // prefix of the run's marker ids
	fresh        []time.Duration // the markers' freshness, sorted
}

// maxFreshness is the sustained maximum's bound on freshness p99 (issue 24).
const maxFreshness = 2 * time.Second

// kept says why r does not count as sustained ("" when it does): every
// hit offered accepted, every one stored within a minute of the run's
// end, and freshness p99 under maxFreshness.
func (r loadRun) kept() string {
	switch {
	case r.failed > 0:
		return fmt.Sprintf("%d hits refused or failed", r.failed)
	case r.stored < r.sent:
		return fmt.Sprintf("%d of %d hits stored a minute after the load", r.stored, r.sent)
	case len(r.fresh) == 0:
		return "no marker seen"
	case percentile(r.fresh, 99) >= maxFreshness:
		return fmt.Sprintf("freshness p99 %s", ms(percentile(r.fresh, 99)))
	}
	return ""
}

// sustainedMax prints the sustained maximum: the highest offered rate,
// from the step's first run up by 25% a run (at most 4 runs more, 1 in the
// smoke run), at which every hit is stored and freshness p99 stays under
// 2 s. The generator shares the machine's cores with the pipeline (about
// 20 us of CPU a hit), so on a 2-core machine this is the pipeline's
// maximum with its load generator beside it.
func sustainedMax(cfg config, first loadRun, load func(rate float64) loadRun) {
	fmt.Printf("%-34s %12s %12s\n", "offered rate (all stored, p99 < 2 s)", "rows stored", "p99")
	line := func(r loadRun) string {
		why := r.kept()
		if why == "" {
			why = "sustained"
		}
		return fmt.Sprintf("  %-32s %12d %12s  %s", fmt.Sprintf("%.0f hits/s", r.rate), r.stored, ms(percentile(r.fresh, 99)), why)
	}
	fmt.Println(line(first))
	best := 0.0
	if first.kept() == "" {
		best = first.rate
		steps := 4
		if cfg.Smoke {
			steps = 1
		}
		for rate, k := first.rate, 0; k < steps; k++ {
			rate *= 1.25
			r := load(rate)
			fmt.Println(line(r))
			if r.kept() != "" {
				break
			}
			best = rate
		}
	}
	if best == 0 {
		fmt.Printf("  %-32s %12s %12s  below the first run's rate\n", "sustained maximum", "", "")
		return
	}
	fmt.Printf("  %-32s %12s %12.0f  hits/s\n", "sustained maximum", "", best)
}

// nativeBlock is the rows per block of the Native copy: about what the
// processor inserts at a time at 20,000 hits/s (a 500 ms window).
const nativeBlock = 10_000

// nativeLimit prints ClickHouse's own insert rate on this machine, the
// figure beside the sustained maximum: the events the end-to-end runs
// stored, copied out in Native format and inserted with clickhouse-client
// into a fresh database of the same schema (materialized views and all),
// in blocks of nativeBlock rows; with the wall time, ClickHouse's CPU per
// event (the server listening on -clickhouse-addr). It says so and skips
// when clickhouse-client is not installed.
func nativeLimit(cfg config, src *chstore.Store, srcDB string) error {
	client, err := exec.LookPath("clickhouse-client")
	if err != nil {
		fmt.Printf("%-34s %12s %12s  (no clickhouse-client here)\n", "ClickHouse alone, Native insert", "", "skipped")
		return nil
	}
	ctx := context.Background()
	// What the last run left in Kafka is stored first: a copy taken
	// before would miss it, and the processor's inserts would be charged
	// to the copy's.
	var rows uint64
	for i, same := 0, 0; i < 240 && same < 4; i++ {
		var n uint64
		if err := src.DB().Driver().QueryRow(ctx, "SELECT count() FROM events").Scan(&n); err != nil {
			return fmt.Errorf("native copy: count: %w", err)
		}
		if n == rows {
			same++
		} else {
			rows, same = n, 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	host, port, err := net.SplitHostPort(cfg.CH.Addr)
	if err != nil {
		return fmt.Errorf("native copy: -clickhouse-addr %q: %w", cfg.CH.Addr, err)
	}
	dstDB := srcDB + "_native"
	dst, drop, err := scratchDB(cfg, dstDB)
	if err != nil {
		return err
	}
	defer drop()
	if err := chsql.Migrate(ctx, dst.DB()); err != nil {
		return fmt.Errorf("native copy: migrate %s: %w", dstDB, err)
	}
	dir, err := os.MkdirTemp("", "bench-native-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "events.native")
	cols := strings.Join(chstore.Columns(), ", ")
	clientCmd := func(db, query string) *exec.Cmd {
		args := []string{"--host", host, "--port", port, "--user", cfg.CH.User, "--database", db, "--query", query}
		if cfg.CH.Password != "" {
			args = append(args, "--password", cfg.CH.Password)
		}
		return exec.Command(client, args...)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	export := clientCmd(srcDB, "SELECT "+cols+" FROM events SETTINGS max_block_size = "+fmt.Sprint(nativeBlock)+" FORMAT Native")
	export.Stdout = out
	var stderr strings.Builder
	export.Stderr = &stderr
	err = export.Run()
	out.Close()
	if err != nil {
		return fmt.Errorf("native copy: export: %w: %s", err, stderr.String())
	}
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	server := serverOf(cfg.CH.Addr, "clickhouse-server")
	insert := clientCmd(dstDB, "INSERT INTO events ("+cols+") FORMAT Native")
	insert.Stdin = in
	stderr.Reset()
	insert.Stderr = &stderr
	cpu0, start := cpuOf(server), time.Now()
	err = insert.Run()
	took, cpu := time.Since(start), cpuOf(server)-cpu0
	if err != nil {
		return fmt.Errorf("native copy: insert: %w: %s", err, stderr.String())
	}
	var copied uint64
	if err := dst.DB().Driver().QueryRow(ctx, "SELECT count() FROM events").Scan(&copied); err != nil {
		return fmt.Errorf("native copy: count: %w", err)
	}
	if copied != rows {
		return fmt.Errorf("native copy: %d events copied of %d", copied, rows)
	}
	fmt.Printf("%-34s %12s %12.0f  rows/s: %d events by clickhouse-client in %s, blocks of %d rows\n",
		"ClickHouse alone, Native insert", "", float64(copied)/took.Seconds(), copied, took.Round(time.Millisecond), nativeBlock)
	fmt.Printf("  %-32s %12s %12s\n", "its CPU per event", "", us(perHit(cpu, int(max(copied, 1)))))
	return nil
}
