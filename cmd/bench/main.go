// Command bench measures the pipeline on this machine and prints each figure
// beside its baseline, measured in the same run:
//
//	bench run     collector vs a bare fasthttp GIF handler, latency at half
//	              the collector's maximum, its memory, and end-to-end freshness
//	bench bare    the baseline: a fasthttp server that only answers the GIF
//
// The servers under test are pinned to CPU 0 and the load generator to the
// other CPUs, so both contenders face the same generator. Everything runs on
// loopback, bounded in time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"

	"footfall/collector/beacon"
	"footfall/internal/chsql"
	"footfall/internal/envflag"
	"footfall/internal/kafkaadmin"
	"footfall/processor/chstore"
)

const userAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// hit is a realistic pixel request.
const hit = "/p.gif?site=bench&visitor_id=%s&url=https%%3A%%2F%%2Fshop.example%%2Fshoes%%2Ftrail-runner&referrer=https%%3A%%2F%%2Fwww.google.com%%2F&title=Trail+Runner&p.sku=TR-42"

type errTooManyFailures int64

func (e errTooManyFailures) Error() string { return fmt.Sprintf("%d requests failed", int64(e)) }

type config struct {
	Bin      string
	Duration time.Duration
	Conns    int
	E2ERate  float64
	Smoke    bool
	Steps    string
	KeepDB   bool
	QueryDB  string
	Sizes    string
	Settle   time.Duration
	Brokers  string
	// CH.Database is not used: every step makes a database of its own.
	CH chsql.Config
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "bare" {
		bare(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "latency" {
		latency(os.Args[2:])
		return
	}
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&cfg.Bin, "bench-bin", "bin", "folder with the collector, processor and bench binaries")
	fs.DurationVar(&cfg.Duration, "bench-duration", 10*time.Second, "length of each measurement")
	fs.IntVar(&cfg.Conns, "bench-connections", 64, "connections of the closed-loop throughput runs")
	fs.Float64Var(&cfg.E2ERate, "bench-e2e-rate", 20000, "hits per second of the end-to-end run")
	fs.BoolVar(&cfg.Smoke, "bench-smoke", false, "a one-second run of every step, for make test")
	fs.BoolVar(&cfg.KeepDB, "bench-keep-db", false, "keep the generated query database (bench_q_<time>) to look into it")
	fs.StringVar(&cfg.QueryDB, "bench-db", "", "the queries step's database: one an earlier run kept (-bench-keep-db) the same day, kept again, filled only with the events it lacks")
	fs.StringVar(&cfg.Sizes, "bench-sizes", "1000000,10000000", "event counts the queries step fills its database to, in turn, timing the reports at each (make bench-large: 10000000,100000000)")
	fs.DurationVar(&cfg.Settle, "bench-settle", 8*time.Minute, "with ClickHouse's data on ext4 without a journal, how long the end-to-end step may wait for file creation there to be cheap again after deletions (0: start at once)")
	fs.StringVar(&cfg.Steps, "bench-steps", "collector,e2e,queries", "which steps to run: collector (throughput, latency, memory), e2e (freshness), queries (1M and 10M events)")
	fs.StringVar(&cfg.Brokers, "kafka-brokers", "127.0.0.1:9092", "Kafka bootstrap brokers")
	cfg.CH.RegisterFlags(fs)
	if err := envflag.Parse(fs, args, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// The processors the bench starts take the password from their
	// environment, where ps does not show it.
	os.Setenv(envflag.EnvName("clickhouse-password"), cfg.CH.Password)
	if cfg.Smoke {
		cfg.Duration, cfg.Conns, cfg.E2ERate = time.Second, 8, 500
	}
	// The store's progress lines (a line per migration of every scratch
	// database) would break up the figures; warnings still show.
	slog.SetLogLoggerLevel(slog.LevelWarn)
	if err := run(cfg); err != nil {
		slog.Error("bench", "err", err)
		os.Exit(1)
	}
}

// bare serves the GIF and nothing else: the most a fasthttp server on this
// machine can answer, the collector's practical limit.
func bare(args []string) {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	fs.Parse(args)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("image/gif")
		ctx.Response.Header.Set("Cache-Control", "no-store, max-age=0")
		ctx.SetBody(beacon.GIF)
	}, NoDefaultServerHeader: true}
	if err := srv.ListenAndServe(*listen); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// latency runs the open-loop generator against a running server, for
// trying one setting at a time: bench latency -addr 127.0.0.1:8080 -rate 20000
func latency(args []string) {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "server address")
	rate := fs.Float64("rate", 20000, "requests per second")
	d := fs.Duration("duration", 10*time.Second, "how long")
	fs.Parse(args)
	uri := fmt.Sprintf(hit, "v-1")
	lat, failed := openLoop(*addr, *rate, *d, func(int, time.Time) string { return uri })
	fmt.Printf("%.0f/s for %s: p50 %s p90 %s p99 %s p99.9 %s max %s, %d failed\n", *rate, *d,
		ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99)), ms(percentile(lat, 99.9)), ms(percentile(lat, 100)), failed)
}

func run(cfg config) error {
	brokers := strings.Split(cfg.Brokers, ",")
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	steps := map[string]bool{}
	for _, s := range strings.Split(cfg.Steps, ",") {
		steps[strings.TrimSpace(s)] = true
	}
	tool := "wrk"
	if _, err := exec.LookPath("wrk"); err != nil {
		tool = "the Go generator (install wrk for a faster one)"
	}
	fmt.Printf("footfall bench: %d CPUs (%s), %s per step, %d connections, load by %s\n\n", runtime.NumCPU(), cpuModel(), cfg.Duration, cfg.Conns, tool)
	if (steps["collector"] || steps["e2e"]) && !cfg.Smoke {
		warnYoungBroker(cfg.Brokers)
	}
	journalless := ""
	if steps["e2e"] && !cfg.Smoke {
		if journalless = journallessClickHouse(cfg.CH.Addr); journalless != "" {
			fmt.Printf("note: ClickHouse's data (%s) is on ext4 without a journal, where every file\n"+
				"creation skips the inodes freed in the last minutes: give it a journal in production\n"+
				"(docs/perf.md, \"The filesystem under ClickHouse\").\n\n", journalless)
		}
	}
	if steps["collector"] {
		if err := collectorStep(cfg, brokers, stamp); err != nil {
			return err
		}
	}
	if steps["e2e"] {
		// End to end: collector, Kafka, processor, ClickHouse on this machine.
		if err := endToEnd(cfg, brokers, stamp, journalless); err != nil {
			return err
		}
	}
	if steps["queries"] {
		// Report queries on generated data, at each of -bench-sizes.
		return benchQueries(cfg, stamp)
	}
	return nil
}

// deliveries are the collector's -delivery modes, measured side by side;
// memory first: the others are compared with it.
var deliveries = []string{"memory", "disk", "kafka"}

func collectorStep(cfg config, brokers []string, stamp string) error {
	// The generator keeps off CPU 0, where the server under test runs.
	if err := pinSelf(1, runtime.NumCPU()); err != nil {
		return err
	}
	defer pinSelf(0, runtime.NumCPU())
	// The collector takes hits of the sites its registry holds: a database
	// of the step's own holds the bench's.
	cfg.CH.Database = "bench_sites_" + stamp
	dropSites, err := sitesDB(cfg, cfg.CH.Database, "bench")
	if err != nil {
		return err
	}
	defer dropSites()
	uri := fmt.Sprintf(hit, "v-1")
	// 1. Baseline and a collector per delivery mode, same generator, same
	// connections, measured in alternating rounds so that a noisy
	// neighbour hurts all alike.
	bareAddr := freeAddr()
	b, err := start(cfg, serverCPU, filepath.Join(cfg.Bin, "bench"), "bare", "-listen", bareAddr)
	if err != nil {
		return err
	}
	defer b.stop()
	if err := waitHTTP(bareAddr, "/p.gif"); err != nil {
		return err
	}
	type server struct {
		name           string
		p              *proc
		addr           string
		rates, busy    []float64
		p50, p99       []float64
		cpu            time.Duration
		hits           int
		failed         int64
		rate, rss      float64
		cpuPerHit      time.Duration
		medP50, medP99 time.Duration
	}
	servers := []*server{{name: "bare", p: b, addr: bareAddr}}
	for _, d := range deliveries {
		topic := "bench-" + stamp + "-" + d
		defer kafkaadmin.DeleteTopic(context.Background(), brokers, topic)
		col, addr, err := startCollector(cfg, serverCPU, topic, "-delivery", d)
		if err != nil {
			return err
		}
		defer col.stop()
		servers = append(servers, &server{name: d, p: col, addr: addr})
	}
	// Kafka and ClickHouse run here too; in production they run elsewhere.
	// Keep them off the servers' core for the measurement.
	restore := keepStackOffCPU0()
	defer restore()
	// Five short rounds rather than three long ones: on a shared machine a
	// neighbour's burst lasts seconds and spoils a round, and the median of
	// five shrugs off two of them.
	const rounds = 5
	for r := 0; r < rounds; r++ {
		for _, sv := range servers {
			x, busy, err := measureMax(sv.addr, uri, cfg, rounds, sv.p.cmd.Process.Pid)
			if err != nil {
				return fmt.Errorf("%s: %w", sv.name, err)
			}
			sv.rates, sv.busy = append(sv.rates, x), append(sv.busy, busy)
		}
	}
	for _, sv := range servers {
		sv.rate = median(sv.rates)
		if sv.name != "bare" {
			sv.rss = peakRSS(sv.p.cmd.Process.Pid)
		}
	}
	// Latency at half of each server's own maximum (the bare handler at
	// memory mode's): a hit that waits for a group commit or for Kafka's
	// acknowledgement holds its connection, so the modes' maxima differ.
	// Like the throughput, it is measured in alternating rounds, and each
	// figure is the median of the rounds' percentiles. CPU time per hit at
	// that rate is steadier than maximum throughput on a shared machine.
	half := func(sv *server) float64 {
		if sv.name == "bare" {
			return servers[1].rate / 2
		}
		return sv.rate / 2
	}
	for r := 0; r < rounds; r++ {
		for _, sv := range servers {
			pid := sv.p.cmd.Process.Pid
			c0 := cpuTime(pid)
			l, f := openLoop(sv.addr, half(sv), cfg.Duration/rounds, func(int, time.Time) string { return uri })
			sv.cpu += cpuTime(pid) - c0
			sv.hits += len(l)
			sv.failed += f
			sv.p50, sv.p99 = append(sv.p50, float64(percentile(l, 50))), append(sv.p99, float64(percentile(l, 99)))
		}
	}
	for _, sv := range servers {
		sv.cpuPerHit = perHit(sv.cpu, sv.hits)
		sv.medP50, sv.medP99 = time.Duration(median(sv.p50)), time.Duration(median(sv.p99))
		if sv.name != "bare" {
			sv.p.stop()
		}
	}
	b.stop()
	restore()
	bare, memory := servers[0], servers[1]
	fmt.Printf("%-22s %10s %10s %10s %10s  %s\n", "-delivery", "baseline", "memory", "disk", "kafka", "target")
	row := func(label string, cell func(*server) string, target string) {
		fmt.Printf("%-22s", label)
		for _, sv := range servers {
			fmt.Printf(" %10s", cell(sv))
		}
		fmt.Printf("  %s\n", target)
	}
	row("pixel hits/s (1 core)", func(sv *server) string { return fmt.Sprintf("%.0f", sv.rate) }, "")
	row("  / bare handler", func(sv *server) string { return fmt.Sprintf("%.2f", sv.rate/bare.rate) }, ">= 0.70 of the bare handler")
	row("  / memory mode", func(sv *server) string {
		if sv == bare {
			return ""
		}
		return fmt.Sprintf("%.2f", sv.rate/memory.rate)
	}, "default >= 0.80 of memory mode")
	row("half load, hits/s", func(sv *server) string { return fmt.Sprintf("%.0f", half(sv)) }, "")
	row("  latency p50", func(sv *server) string { return ms(sv.medP50) }, "")
	row("  latency p99", func(sv *server) string { return ms(sv.medP99) }, fmt.Sprintf("< 5 ms (median of %d rounds)", rounds))
	row("  CPU per hit", func(sv *server) string { return us(sv.cpuPerHit) }, "")
	row("  failed requests", func(sv *server) string { return fmt.Sprint(sv.failed) }, "")
	row("peak RSS at max rate", func(sv *server) string {
		if sv == bare {
			return ""
		}
		return fmt.Sprintf("%.0f MB", sv.rss)
	}, "< 150 MB")
	fmt.Printf("\n%-10s %-28s %-22s %s\n", "rounds", "hits/s", "core busy", "p99 at half load, ms")
	for _, sv := range servers {
		fmt.Printf("%-10s %-28s %-22s %s\n", sv.name, spread(sv.rates), pctSpread(sv.busy), msSpread(sv.p99))
	}
	return nil
}

// measureMax warms up, then measures closed-loop throughput for a share of
// the step's duration, and how busy the server (pid) kept its core: a round
// where it was far from 100% measured the generator's side of the machine.
func measureMax(addr, uri string, cfg config, share int, pid int) (rate, busy float64, err error) {
	if _, err := closedLoop(addr, uri, cfg.Conns, cfg.Duration/10); err != nil {
		return 0, 0, err
	}
	c0, t0 := cpuTime(pid), time.Now()
	rate, err = closedLoop(addr, uri, cfg.Conns, cfg.Duration/time.Duration(share))
	return rate, (cpuTime(pid) - c0).Seconds() / time.Since(t0).Seconds(), err
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func msSpread(v []float64) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, fmt.Sprintf("%.1f", x/float64(time.Millisecond)))
	}
	return strings.Join(parts, " ")
}

func spread(v []float64) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, fmt.Sprintf("%.0fk", x/1000))
	}
	return strings.Join(parts, " ")
}

func pctSpread(v []float64) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, fmt.Sprintf("%.0f%%", 100*x))
	}
	return strings.Join(parts, " ")
}

// pinSelf moves every thread of this process (the load generator, and the
// programs it starts, such as wrk) to CPUs [from, to). Setting the affinity
// of the calling thread alone would leave the runtime's other threads, and
// the children they fork, free to run on the server's core.
func pinSelf(from, to int) error {
	if to-from < 1 || runtime.NumCPU() < 2 {
		return nil
	}
	var set unix.CPUSet
	for c := from; c < to; c++ {
		set.Set(c)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("pin the load generator: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		// A thread may have exited since the listing.
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pin the load generator: %w", err)
		}
	}
	return nil
}

// keepStackOffCPU0 moves the local Kafka broker's and ClickHouse's threads
// to the other CPUs and returns how to undo it. ClickHouse is idle in the
// collector step, but its background merges of earlier steps' parts would
// otherwise take turns on the servers' core. Without a local stack it does
// nothing.
func keepStackOffCPU0() func() {
	var pids []string
	for _, name := range []string{"kafka.Kafka", "clickhouse-server"} {
		out, _ := exec.Command("pgrep", "-f", name).Output()
		pids = append(pids, strings.Fields(string(out))...)
	}
	if len(pids) == 0 || runtime.NumCPU() < 2 {
		return func() {}
	}
	others := fmt.Sprintf("1-%d", runtime.NumCPU()-1)
	all := fmt.Sprintf("0-%d", runtime.NumCPU()-1)
	for _, pid := range pids {
		exec.Command("taskset", "-a", "-p", "-c", others, pid).Run()
	}
	return func() {
		for _, pid := range pids {
			exec.Command("taskset", "-a", "-p", "-c", all, pid).Run()
		}
	}
}

// endToEnd runs the end-to-end step. chData is the local ClickHouse's
// data directory when it is on ext4 without a journal, where the step
// first waits for the filesystem to settle.
func endToEnd(cfg config, brokers []string, stamp, chData string) error {
	topic, db := "bench-e2e-"+stamp, "bench_e2e_"+stamp
	defer kafkaadmin.DeleteTopic(context.Background(), brokers, topic)
	ctx := context.Background()
	store, drop, err := scratchDB(cfg, db)
	if err != nil {
		return err
	}
	defer drop()
	// Everything shares both cores here, as the scheduler sees fit: pinning
	// the collector and the processor to one core starved the processor.
	procAddr := freeAddr()
	proc, err := start(cfg, "", filepath.Join(cfg.Bin, "processor"), "-kafka-brokers", cfg.Brokers, "-kafka-topic", topic,
		"-kafka-group", "bench-"+stamp, "-clickhouse-addr", cfg.CH.Addr, "-clickhouse-user", cfg.CH.User, "-clickhouse-db", db,
		"-processor-ops-listen", procAddr, "-pprof")
	if err != nil {
		return err
	}
	defer proc.stop()
	// The collector reads its sites from the step's database, which the
	// processor makes: the bench's, and its markers' (markerSite below).
	if err := waitTable(store); err != nil {
		return err
	}
	if err := makeSites(store, "bench", "bench-marker"); err != nil {
		return err
	}
	cfg.CH.Database = db
	col, addr, err := startCollector(cfg, "", topic)
	if err != nil {
		return err
	}
	defer col.stop()
	if err := waitTable(store); err != nil {
		return err
	}
	// The load starts once the processor holds the partitions: what is
	// produced before waits in Kafka for the group to form, and the first
	// seconds' markers measured that wait instead of the pipeline.
	actx, acancel := context.WithTimeout(ctx, 60*time.Second)
	err = kafkaadmin.WaitAssigned(actx, brokers, "bench-"+stamp, 1)
	acancel()
	if err != nil {
		return err
	}
	if chData != "" && cfg.Settle > 0 {
		// Probed in the events table's directory, where ext4 will look
		// for the inodes of the step's parts.
		settleFilesystem(filepath.Join(chData, "data", db, "events"), cfg.Settle)
	}

	// Every 500th hit is a marker with its own visitor id; a poller notes
	// when each marker becomes queryable. Markers have a site of their own,
	// first in the primary key, so that polling 20 times a second reads a
	// few granules: a poll that scanned every visitor id of the run grew
	// with the run's rows, and was most of what the run charged to
	// ClickHouse.
	const markerSite = "bench-marker"
	const every = 500
	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	seenAt := map[string]time.Time{}
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			// One thread: a poll this small costs ClickHouse less CPU so
			// than with its default of a thread per core, and the poll's
			// CPU is charged to the pipeline's figures.
			rows, err := store.DB().Driver().Query(ctx, "SELECT visitor_id FROM events WHERE site_id = '"+markerSite+"' SETTINGS max_threads = 1")
			if err != nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			for rows.Next() {
				var v string
				if rows.Scan(&v) == nil {
					if _, ok := seenAt[v]; !ok {
						seenAt[v] = now
					}
				}
			}
			mu.Unlock()
			rows.Close()
		}
	}()
	// CPU time per event of each part, from the start of the load until
	// every row is stored: steadier than rates on a shared machine, and it
	// says where the machine's two cores went.
	parts := []struct {
		name string
		pids []int
	}{
		{"collector", []int{col.cmd.Process.Pid}},
		{"kafka broker", serverOf(brokers[0], "kafka.Kafka")},
		{"processor", []int{proc.cmd.Process.Pid}},
		{"clickhouse", serverOf(cfg.CH.Addr, "clickhouse-server")},
		{"load generator (this bench)", []int{os.Getpid()}},
	}
	cpu0 := make([]time.Duration, len(parts))
	for i, p := range parts {
		cpu0[i] = cpuOf(p.pids)
	}
	// Allocations over the same span, from each Go process's own counters:
	// the whole process, client libraries and all, where the
	// microbenchmarks count only our code.
	goParts := []struct{ name, addr string }{{"collector", col.ops}, {"processor", procAddr}}
	allocs0 := make([]allocCount, len(goParts))
	for i, p := range goParts {
		if allocs0[i], err = allocsOf(p.addr); err != nil {
			return err
		}
	}
	// The ordinary hits' URIs are made before the load: formatting one per
	// hit was CPU the pipeline's share of the machine paid for.
	const visitors = 5000
	uris := make([]string, visitors)
	for v := range uris {
		uris[v] = fmt.Sprintf(hit, "v-"+strconv.Itoa(v))
	}
	// load offers rate hits/s for the step's duration, then waits up to
	// a minute for every hit accepted to be stored; freshness reads its
	// markers' times 100 ms later, two of the poller's rounds.
	var storedBefore uint64 // rows of the runs before
	runs := 0
	load := func(rate float64) loadRun {
		runs++
		r := loadRun{rate: rate, markers: "m" + strconv.Itoa(runs) + "-"}
		start := time.Now()
		lat, failed := openLoop(addr, rate, cfg.Duration, func(i int, due time.Time) string {
			if i%every == 0 {
				// From when the hit was due, not sent: a generator held
				// back by a slow collector is the pipeline's delay too.
				id := r.markers + strconv.Itoa(i)
				mu.Lock()
				sentAt[id] = due
				mu.Unlock()
				return strings.Replace(fmt.Sprintf(hit, id), "site=bench&", "site="+markerSite+"&", 1)
			}
			return uris[i%visitors]
		})
		r.sent, r.failed = uint64(len(lat)), failed
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			var all uint64
			if err := store.DB().Driver().QueryRow(ctx, "SELECT count() FROM events").Scan(&all); err == nil && all >= storedBefore {
				r.stored = all - storedBefore
				if r.stored >= r.sent {
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		storedBefore += r.stored
		r.took = time.Since(start)
		return r
	}
	freshness := func(r *loadRun) {
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		for id, t := range sentAt {
			if s, ok := seenAt[id]; ok && strings.HasPrefix(id, r.markers) {
				r.fresh = append(r.fresh, s.Sub(t))
			}
		}
		sort.Slice(r.fresh, func(i, j int) bool { return r.fresh[i] < r.fresh[j] })
	}
	stopPoller := sync.OnceFunc(func() {
		close(stop)
		<-polled
	})
	defer stopPoller()
	first := load(cfg.E2ERate)
	sent, stored, failed, allIn := first.sent, first.stored, first.failed, first.took
	cpu1 := make([]time.Duration, len(parts))
	for i, p := range parts {
		cpu1[i] = cpuOf(p.pids)
	}
	allocs1 := make([]allocCount, len(goParts))
	for i, p := range goParts {
		if allocs1[i], err = allocsOf(p.addr); err != nil {
			return err
		}
	}
	freshness(&first)
	fresh := first.fresh
	fmt.Printf("\nend to end, %.0f hits/s offered for %s (collector, Kafka, processor, ClickHouse on this machine)\n", cfg.E2ERate, cfg.Duration)
	fmt.Printf("%-34s %12d %12d\n", "hits accepted / rows stored", sent, stored)
	if failed > 0 {
		fmt.Printf("%-34s %12d\n", "hits refused or failed", failed)
	}
	fmt.Printf("%-34s %12s %12.0f\n", "sustained rows/s into ClickHouse", "", float64(stored)/allIn.Seconds())
	fmt.Printf("%-34s %12s %12s %8s  %s\n", "freshness p50 (hit to queryable)", "", ms(percentile(fresh, 50)), "", "")
	fmt.Printf("%-34s %12s %12s %8s  %s\n", "freshness p99", "", ms(percentile(fresh, 99)), "", "< 2 s at 20000 hits/s")
	fmt.Printf("%-34s\n", "CPU per event, load start to all stored")
	var total time.Duration
	for i, p := range parts {
		d := cpu1[i] - cpu0[i]
		total += d
		fmt.Printf("  %-32s %12s %12s\n", p.name, "", us(perHit(d, int(max(stored, 1)))))
	}
	fmt.Printf("  %-32s %12s %12s  (%.2f of %d cores over %.1f s)\n", "all", "", us(perHit(total, int(max(stored, 1)))),
		total.Seconds()/allIn.Seconds(), runtime.NumCPU(), allIn.Seconds())
	// The processor's whole CPU time, Kafka and ClickHouse client libraries
	// and garbage collection included: BenchmarkProcessBatch counts only
	// decoding, enrichment and building the insert's columns.
	if d := cpu1[2] - cpu0[2]; d > 0 {
		fmt.Printf("%-34s %12s %12.0f %8s  %s\n", "processor events per CPU second", "", float64(stored)/d.Seconds(), "", ">= 100k per core, ClickHouse's own time excluded")
	}
	fmt.Printf("%-34s\n", "allocations per event, whole process")
	for i, p := range goParts {
		n := float64(max(stored, 1))
		fmt.Printf("  %-32s %12s %12.2f  (%.0f bytes)\n", p.name, "",
			(allocs1[i].mallocs-allocs0[i].mallocs)/n, (allocs1[i].bytes-allocs0[i].bytes)/n)
	}
	if sent == 0 {
		return fmt.Errorf("no hit of the end-to-end run was accepted (%d failed)", failed)
	}
	// More rows than accepted hits is no loss: the generator gave up on
	// requests (its timeout) that the collector took after all.
	if stored < sent {
		return fmt.Errorf("%d hits accepted but %d rows stored", sent, stored)
	}
	if stored > sent {
		fmt.Printf("%-34s %12d  (requests the generator gave up on, which the collector took)\n", "rows stored beyond hits accepted", stored-sent)
	}
	sustainedMax(cfg, first, func(rate float64) loadRun {
		r := load(rate)
		freshness(&r)
		return r
	})
	stopPoller()
	if why := nativeLimit(cfg, store, db); why != "" {
		fmt.Printf("%-34s %12s %12s  %s\n", "ClickHouse alone, Native insert", "", "skipped", why)
	}
	return nil
}

func waitTable(store *chstore.Store) error {
	ms, err := chsql.Migrations()
	if err != nil {
		return err
	}
	// Every migration, not the events table alone: the site registry
	// (0021) comes later, and the bench writes its sites there at once.
	for i := 0; i < 600; i++ {
		var n uint64
		if store.DB().Driver().QueryRow(context.Background(), "SELECT uniqExact(version) FROM schema_migrations").Scan(&n) == nil && n >= uint64(len(ms)) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the processor did not apply the %d migrations in 60 s", len(ms))
}

// startCollector runs the collector binary producing to topic and waits
// until it is ready. It returns the address hits go to; the ops listener's
// is the proc's.
func startCollector(cfg config, cpus, topic string, extra ...string) (*proc, string, error) {
	addr, ops := freeAddr(), freeAddr()
	// Its write-ahead log in a directory of its own, removed at its stop.
	wal, err := os.MkdirTemp("", "bench-collector-wal-")
	if err != nil {
		return nil, "", err
	}
	// The load comes from one address, as fast as the collector takes it:
	// no rate limit.
	args := append([]string{"-listen", addr, "-collector-ops-listen", ops, "-wal-dir", wal,
		"-clickhouse-addr", cfg.CH.Addr, "-clickhouse-user", cfg.CH.User, "-clickhouse-db", cfg.CH.Database,
		"-kafka-brokers", cfg.Brokers, "-kafka-topic", topic, "-rate-limit-address", "0", "-rate-limit-site", "0"}, extra...)
	col, err := start(cfg, cpus, filepath.Join(cfg.Bin, "collector"), args...)
	if err != nil {
		os.RemoveAll(wal)
		return nil, "", err
	}
	col.ops, col.dir = ops, wal
	if err := waitHTTP(ops, "/readyz"); err != nil {
		col.stop()
		return nil, "", err
	}
	return col, addr, nil
}

// scratchDB opens a fresh ClickHouse database and returns how to drop it.
func scratchDB(cfg config, db string) (*chstore.Store, func(), error) {
	ctx := context.Background()
	ch := cfg.CH
	ch.Database = db
	store, err := chstore.Open(ctx, ch)
	if err != nil {
		return nil, nil, err
	}
	return store, func() {
		store.DB().Driver().Exec(ctx, "DROP DATABASE IF EXISTS "+db)
		store.Close()
	}, nil
}

type proc struct {
	cmd *exec.Cmd
	ops string // its ops listener's address, when it has one
	dir string // removed once it has stopped, when set
	// stopped makes stop idempotent.
	stopped sync.Once
}

// serverCPU is where the servers under test run in the collector step.
const serverCPU = "0"

// start runs a program, pinned to cpus unless that is empty, logging to a
// file next to it.
func start(cfg config, cpus, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	if cpus != "" {
		cmd = exec.Command("taskset", append([]string{"-c", cpus, bin}, args...)...)
	}
	logf, err := os.CreateTemp("", "bench-"+filepath.Base(bin)+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the bench is killed, its servers go with it instead of lingering
	// on their ports (the setting survives taskset's exec).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return &proc{cmd: cmd}, nil
}

func (p *proc) stop() {
	p.stopped.Do(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		if p.dir != "" {
			os.RemoveAll(p.dir)
		}
	})
}

func waitHTTP(addr, path string) error {
	for i := 0; i < 300; i++ {
		code, _, err := fasthttp.Get(nil, "http://"+addr+path)
		if err == nil && code == 200 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing answered at %s%s", addr, path)
}

// allocCount is a Go process's allocations so far, as its /metrics says.
type allocCount struct{ mallocs, bytes float64 }

// allocsOf scrapes the Go runtime's allocation counters from the /metrics
// at addr. The scrape itself allocates in that process: a few thousand
// allocations, a hundredth of one per event over a run.
func allocsOf(addr string) (allocCount, error) {
	code, body, err := fasthttp.Get(nil, "http://"+addr+"/metrics")
	if err != nil {
		return allocCount{}, fmt.Errorf("metrics at %s: %w", addr, err)
	}
	if code != fasthttp.StatusOK {
		return allocCount{}, fmt.Errorf("metrics at %s: status %d", addr, code)
	}
	var c allocCount
	var found int
	for _, line := range strings.Split(string(body), "\n") {
		name, v, _ := strings.Cut(line, " ")
		dst := &c.mallocs
		switch name {
		case "go_memstats_mallocs_total":
		case "go_memstats_alloc_bytes_total":
			dst = &c.bytes
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(v, 64); err != nil {
			return allocCount{}, fmt.Errorf("metrics at %s: %s: %w", addr, name, err)
		}
		found++
	}
	if found != 2 {
		return allocCount{}, fmt.Errorf("metrics at %s: no go_memstats_mallocs_total and go_memstats_alloc_bytes_total", addr)
	}
	return c, nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// peakRSS reads the high-water mark of a process's resident memory, in MB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			return strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
		}
	}
	return "unknown CPU"
}

// cpuTime is a process's user plus system CPU time so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// warnYoungBroker says so when the Kafka broker at brokers (the process
// listening on the first address, serverOf) started less than ten
// minutes ago. Its JVM is still compiling then: after a restart the broker
// costs far more CPU per event in the first end-to-end runs than once
// warm, and the collector refused hits at full rate in its first seconds of
// load.
// Warming it inside the bench did not work: after a warm-up at full rate,
// with a reader fetching, the next end-to-end run still paid for a cold
// broker (docs/perf.md, "A young broker"). A broker that started long ago
// but has carried no load is as cold, and goes unnoticed here.
func warnYoungBroker(brokers string) {
	pids := serverOf(brokers, "kafka.Kafka")
	up, err := os.ReadFile("/proc/uptime")
	if len(pids) == 0 || err != nil {
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pids[0]))
	if err != nil {
		return
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	started, _ := strconv.ParseFloat(f[19], 64) // clock ticks after boot
	uptime, _ := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	if age := time.Duration((uptime - started/100) * float64(time.Second)); age < 10*time.Minute {
		fmt.Printf("note: the Kafka broker started %s ago. A young broker's JVM is still compiling, and the\n"+
			"figures that include it (collector throughput, end to end) come out worse for its first\n"+
			"minutes of load (docs/perf.md, \"A young broker\").\n\n", age.Round(time.Second))
	}
}

// cpuOf sums the CPU time of pids.
func cpuOf(pids []int) time.Duration {
	var d time.Duration
	for _, pid := range pids {
		d += cpuTime(pid)
	}
	return d
}

// pgrep lists the processes whose command line matches pattern (none when
// the local stack is not running here).
func pgrep(pattern string) []int {
	out, _ := exec.Command("pgrep", "-f", pattern).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func perHit(cpu time.Duration, hits int) time.Duration {
	if hits == 0 {
		return 0
	}
	return cpu / time.Duration(hits)
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f us", float64(d)/float64(time.Microsecond)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
