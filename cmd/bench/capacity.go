package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// sustainedMax prints the sustained maximum: the highest offered rate at
// which every hit is stored and freshness p99 stays under 2 s. From the
// step's first run it goes up by 25% a run while runs hold, or down by 20%
// a run until one does (at most 4 runs more, 1 in the smoke run); when
// every run held, the figure is a floor, and it says so. The generator
// shares the machine's cores with the pipeline (about 20 us of CPU a
// hit), so on a 2-core machine this is the pipeline's maximum with its
// load generator beside it.
func sustainedMax(cfg config, first loadRun, load func(rate float64) loadRun) {
	fmt.Printf("%-34s %12s %12s\n", "offered (all stored, p99 < 2 s)", "rows stored", "p99")
	line := func(r loadRun) {
		why := r.kept()
		if why == "" {
			why = "held"
		}
		fmt.Printf("  %-32s %12d %12s  %s\n", fmt.Sprintf("%.0f hits/s", r.rate), r.stored, ms(percentile(r.fresh, 99)), why)
	}
	line(first)
	steps := 4
	if cfg.Smoke {
		steps = 1
	}
	up := first.kept() == ""
	best, failed, rate := 0.0, !up, first.rate
	if up {
		best = rate
	}
	for k := 0; k < steps; k++ {
		if up {
			rate *= 1.25
		} else {
			rate *= 0.8
		}
		r := load(rate)
		line(r)
		held := r.kept() == ""
		if held {
			best = max(best, rate)
		} else {
			failed = true
		}
		if held != up {
			break
		}
	}
	switch {
	case best == 0:
		fmt.Printf("  %-32s %12s %12s  below %.0f hits/s\n", "sustained maximum", "", "none held", rate)
	case !failed:
		fmt.Printf("  %-32s %12s %12s  hits/s (every run held: a floor)\n", "sustained maximum", "", fmt.Sprintf(">= %.0f", best))
	default:
		fmt.Printf("  %-32s %12s %12.0f  hits/s\n", "sustained maximum", "", best)
	}
}

// nativeBlock is the rows per block of the Native copy: about what the
// processor inserts at a time at 20,000 hits/s (a 500 ms window).
const nativeBlock = 10_000

// nativeLimit prints ClickHouse's own insert rate on this machine, the
// figure beside the sustained maximum: the events the end-to-end runs
// stored, copied out in Native format and inserted with clickhouse-client
// into a fresh database of the same schema (materialized views and all),
// a part per block of nativeBlock rows as the processor's inserts make
// (min_insert_block_size_rows and _bytes 0: by default ClickHouse squashes
// the blocks of one INSERT into a part of up to a million rows); with the
// wall time, ClickHouse's CPU per event when the server listening on
// -clickhouse-addr is on this machine. It copies once the source's
// inserts and merges are over. It answers why it skipped the copy ("" when
// it did not): no clickhouse-client, no room for the copy, a failed step.
func nativeLimit(cfg config, src *chstore.Store, srcDB string) (skipped string) {
	client, err := exec.LookPath("clickhouse-client")
	if err != nil {
		return "no clickhouse-client here"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	drv := src.DB().Driver()
	// What the last run left in Kafka is stored first, and the source's
	// merges end: a copy taken before would miss rows, and their work
	// would be charged to the copy's.
	var rows uint64
	for i, same := 0, 0; i < 240 && same < 4; i++ {
		var n, merging uint64
		if err := drv.QueryRow(ctx, "SELECT count() FROM events").Scan(&n); err != nil {
			return fmt.Sprintf("count the events: %v", err)
		}
		if err := drv.QueryRow(ctx, "SELECT count() FROM system.merges WHERE database = '"+srcDB+"'").Scan(&merging); err != nil {
			return fmt.Sprintf("read system.merges: %v", err)
		}
		if n == rows && merging == 0 {
			same++
		} else {
			rows, same = n, 0
		}
		time.Sleep(500 * time.Millisecond)
	}
	addrs := cfg.CH.Addrs()
	if len(addrs) == 0 {
		return "no -clickhouse-addr"
	}
	host, port, err := net.SplitHostPort(addrs[0])
	if err != nil {
		return fmt.Sprintf("-clickhouse-addr %q: %v", addrs[0], err)
	}
	dir, err := os.MkdirTemp("", "bench-native-")
	if err != nil {
		return fmt.Sprintf("temporary directory: %v", err)
	}
	defer os.RemoveAll(dir)
	// About 600 bytes a row in Native format, uncompressed, and twice
	// that free.
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil || fs.Bavail*uint64(fs.Bsize) < rows*1200 {
		return fmt.Sprintf("not %d MB free in %s for the copy", rows*1200>>20, os.TempDir())
	}
	// The password goes in a client configuration only this user reads,
	// not on the command line, where ps shows it.
	conf := filepath.Join(dir, "client.xml")
	var x strings.Builder
	x.WriteString("<config><user>")
	xml.EscapeText(&x, []byte(cfg.CH.User))
	x.WriteString("</user><password>")
	xml.EscapeText(&x, []byte(cfg.CH.Password))
	x.WriteString("</password></config>\n")
	if err := os.WriteFile(conf, []byte(x.String()), 0o600); err != nil {
		return fmt.Sprintf("client configuration: %v", err)
	}
	run := func(db, query string, stdin, stdout *os.File, args ...string) error {
		cmd := exec.CommandContext(ctx, client, append([]string{"--config-file", conf, "--host", host, "--port", port,
			"--database", db, "--query", query}, args...)...)
		var stderr strings.Builder
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return nil
	}
	dstDB := srcDB + "_native"
	dst, drop, err := scratchDB(cfg, dstDB)
	if err != nil {
		return fmt.Sprintf("database %s: %v", dstDB, err)
	}
	defer drop()
	if err := chsql.Migrate(ctx, dst.DB()); err != nil {
		return fmt.Sprintf("migrate %s: %v", dstDB, err)
	}
	file := filepath.Join(dir, "events.native")
	out, err := os.Create(file)
	if err != nil {
		return fmt.Sprintf("copy file: %v", err)
	}
	cols := strings.Join(chstore.Columns(), ", ")
	err = run(srcDB, "SELECT "+cols+" FROM events FORMAT Native", nil, out, "--max_block_size", fmt.Sprint(nativeBlock))
	out.Close()
	if err != nil {
		return fmt.Sprintf("export: %v", err)
	}
	in, err := os.Open(file)
	if err != nil {
		return fmt.Sprintf("copy file: %v", err)
	}
	defer in.Close()
	server := []int{}
	if p, err := strconv.Atoi(port); err == nil {
		if pid := listener(p); pid > 0 {
			server = []int{pid}
		}
	}
	cpu0, start := cpuOf(server), time.Now()
	err = run(dstDB, "INSERT INTO events ("+cols+") FORMAT Native", in, nil,
		"--min_insert_block_size_rows", "0", "--min_insert_block_size_bytes", "0")
	took, cpu := time.Since(start), cpuOf(server)-cpu0
	if err != nil {
		return fmt.Sprintf("insert: %v", err)
	}
	var copied uint64
	if err := dst.DB().Driver().QueryRow(ctx, "SELECT count() FROM events").Scan(&copied); err != nil {
		return fmt.Sprintf("count the copy: %v", err)
	}
	fmt.Printf("%-34s %12s %12.0f  rows/s: %d events by clickhouse-client in %s, a part per %d rows\n",
		"ClickHouse alone, Native insert", "", float64(copied)/took.Seconds(), copied, took.Round(time.Millisecond), nativeBlock)
	if len(server) == 0 {
		fmt.Printf("  %-32s %12s %12s  (ClickHouse is not on this machine)\n", "its CPU per event", "", "not measured")
	} else {
		fmt.Printf("  %-32s %12s %12s\n", "its CPU per event", "", us(perHit(cpu, int(max(copied, 1)))))
	}
	return ""
}
