package chaos

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/kafkaadmin"
	"footfall/internal/sites"
	"footfall/tests/stacktest"
)

// make test runs each fault briefly; make chaos runs the long version
// (go test -run TestChaos ./tests/chaos -args -chaos.long).
var (
	long     = flag.Bool("chaos.long", false, "run each fault several times under thousands of hits (make chaos)")
	delivery = flag.String("chaos.delivery", "", "the collector's -delivery mode (memory, disk, kafka); empty runs its default")
)

// Partitions of each run's topic.
const partitions = 4

// suite is what every run shares: the binaries and the suite's broker.
type suite struct {
	dir           string
	collectorBin  string
	processorBin  string
	collectorHelp string
	broker        *Broker
	db            *chsql.Conn // one database for every run; each run has its own site
	dbName        string
	chAddr        string
	runs          int
}

// scenario is one fault, injected while the load runs.
type scenario struct {
	name       string
	rate       int // hits a second
	processors int
	fault      func(r *run)
}

// run is one scenario's own topic, group, database, proxy and processes.
type run struct {
	t          *testing.T
	su         *suite
	name       string
	site       string
	topic      string
	group      string
	proxy      *Proxy
	colAddr    string
	colDir     string
	collector  *Proc
	processors []*Proc
	procs      Procs
	notes      []string
	logs       string
	began      time.Time // when the load began
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite: needs ClickHouse (make test starts it) and starts its own Kafka broker")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	su := &suite{dir: dir}
	// FOOTFALL_CHAOS_BIN names a directory with collector and processor
	// already built (another version's, say); by default they are built
	// from this tree.
	if bin := os.Getenv("FOOTFALL_CHAOS_BIN"); bin != "" {
		su.collectorBin, su.processorBin = filepath.Join(bin, "collector"), filepath.Join(bin, "processor")
	} else if su.collectorBin, su.processorBin, err = Build(dir); err != nil {
		t.Fatal(err)
	}
	help, _ := exec.Command(su.collectorBin, "-h").CombinedOutput()
	su.collectorHelp = string(help)
	if su.broker, err = NewBroker(root, filepath.Join(dir, "kafka-state")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := su.broker.Watchdog(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	// Registered before the broker starts, so it runs after the runs'
	// cleanups (which delete their topics) and before TempDir's.
	t.Cleanup(func() { su.broker.Stop(syscall.SIGTERM, 20*time.Second) })
	start := time.Now()
	if err := su.broker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("own Kafka broker on %s, up in %v; binaries in %s", su.broker.Addr(), time.Since(start).Round(time.Millisecond), dir)
	chCfg, store := stacktest.ClickHouse(t)
	su.db, su.dbName, su.chAddr = store.DB(), chCfg.Database, chCfg.Addr

	var rows []Row
	for _, sc := range scenarios(*long) {
		if *delivery != "" {
			sc.name += " [-delivery=" + *delivery + "]"
		}
		t.Run(strings.NewReplacer(" ", "_", "/", "_per_").Replace(sc.name), func(t *testing.T) {
			row := su.run(t, sc)
			rows = append(rows, row)
			t.Logf("\n%s", Table([]Row{row}))
			for _, f := range row.Failures() {
				t.Errorf("%s: %s", sc.name, f)
			}
		})
	}
	table := Table(rows)
	fmt.Printf("\nfault ledger (%s):\n%s\n", map[bool]string{true: "make chaos", false: "short"}[*long], table)
	if path := os.Getenv("FOOTFALL_CHAOS_REPORT"); path != "" {
		os.WriteFile(path, []byte(table), 0o644)
	}
}

// scenarios lists the faults; long runs each several times under more
// hits.
func scenarios(long bool) []scenario {
	n := func(short, long_ int) int {
		if long {
			return long_
		}
		return short
	}
	every := func(short, long_ time.Duration) time.Duration {
		if long {
			return long_
		}
		return short
	}
	kills := n(2, 8)
	list := []scenario{
		{name: fmt.Sprintf("collector SIGKILL x%d at 1000/s", kills), rate: 1000, processors: 1, fault: func(r *run) {
			r.loop(kills, every(time.Second, 1500*time.Millisecond), func(int) { r.killCollector(syscall.SIGKILL); r.startCollector() })
		}},
	}
	if long {
		list = append(list, scenario{name: fmt.Sprintf("collector SIGKILL x%d at 3000/s", kills), rate: 3000, processors: 1, fault: func(r *run) {
			r.loop(kills, 1500*time.Millisecond, func(int) { r.killCollector(syscall.SIGKILL); r.startCollector() })
		}})
	}
	pkills := n(2, 6)
	list = append(list,
		scenario{name: fmt.Sprintf("processor SIGKILL x%d", pkills), rate: 1000, processors: 2, fault: func(r *run) {
			r.loop(pkills, every(1500*time.Millisecond, 3*time.Second), func(i int) {
				r.mark(fmt.Sprintf("processor-%d SIGKILL", i%2))
				r.processors[i%2].Kill()
				r.startProcessor(i % 2)
			})
		}},
		scenario{name: fmt.Sprintf("ClickHouse cut x%d (proxy)", n(1, 4)), rate: 500, processors: 1, fault: func(r *run) {
			r.loop(n(1, 4), every(time.Second, 3*time.Second), func(int) {
				r.mark("ClickHouse cut")
				r.proxy.Cut()
				time.Sleep(every(2*time.Second, 8*time.Second))
				if err := r.proxy.Restore(); err != nil {
					r.t.Fatalf("restore the ClickHouse proxy: %v", err)
				}
				r.mark("ClickHouse back")
			})
		}},
	)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		list = append(list, scenario{name: fmt.Sprintf("Kafka %s x%d, restart", sigName(sig), n(1, 3)), rate: 500, processors: 1, fault: func(r *run) {
			r.loop(n(1, 3), every(time.Second, 3*time.Second), func(int) {
				r.stopBroker(sig)
				time.Sleep(every(2*time.Second, 6*time.Second))
				r.startBroker()
			})
		}})
	}
	restartSigs := []syscall.Signal{syscall.SIGKILL}
	if long {
		restartSigs = []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}
	}
	for _, sig := range restartSigs {
		list = append(list, scenario{name: fmt.Sprintf("Kafka away, collector %s, restart", sigName(sig)), rate: 500, processors: 1, fault: func(r *run) {
			time.Sleep(every(time.Second, 2*time.Second))
			r.stopBroker(syscall.SIGKILL)
			time.Sleep(every(time.Second, 4*time.Second))
			r.killCollector(sig)
			r.startCollector()
			time.Sleep(every(time.Second, 4*time.Second))
			r.startBroker()
			if r.collector.Exited() {
				r.note("collector restarted again once Kafka was back")
				r.startCollector()
			}
		}})
	}
	return list
}

func sigName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// run sets up a scenario's own topic, database, proxy, processors and
// collector, sends load while its fault runs, heals what the fault left
// broken, waits for the pipeline to drain and tallies the ledger.
func (su *suite) run(t *testing.T, sc scenario) Row {
	ctx := context.Background()
	su.runs++
	r := &run{t: t, su: su, name: sc.name, site: fmt.Sprintf("chaos%d", su.runs), logs: t.TempDir()}
	// The collector takes hits of the sites in its registry only.
	if _, err := sites.NewStore(su.db).Create(context.Background(), sites.Site{ID: r.site, Name: r.site, TimeZone: "UTC", Currency: "EUR", InactiveDays: 90}); err != nil {
		t.Fatalf("make site %s: %v", r.site, err)
	}
	t.Cleanup(r.procs.KillAll)
	r.topic = stacktest.Name(t, "chaos")
	r.group = stacktest.Name(t, "g")
	// A run that failed may have left the broker down or starting.
	if err := su.broker.Ready(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := kafkaadmin.EnsureTopic(tctx, su.broker.Brokers(), r.topic, partitions, 1)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if r.proxy, err = NewProxy(su.chAddr); err != nil {
		t.Fatal(err)
	}
	defer r.proxy.Close()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r.colAddr = fmt.Sprintf("127.0.0.1:%d", port)
	r.colDir = filepath.Join(r.logs, "collector-disk")

	for i := 0; i < sc.processors; i++ {
		r.processors = append(r.processors, nil)
		r.startProcessor(i)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = kafkaadmin.WaitAssigned(wctx, su.broker.Brokers(), r.group, sc.processors)
	cancel()
	if err != nil {
		t.Fatalf("%v (processor log: %s)", err, r.tail("processor-0"))
	}
	if !r.startCollector() {
		t.Fatalf("collector did not start: %s", r.tail("collector"))
	}

	load := &Load{Addr: r.colAddr, Site: r.site, Rate: sc.rate, Workers: 32}
	lctx, stopLoad := context.WithCancel(ctx)
	loaded := make(chan struct{})
	go func() {
		load.Run(lctx)
		close(loaded)
	}()
	r.began = time.Now()
	time.Sleep(500 * time.Millisecond)
	sc.fault(r)
	time.Sleep(time.Second)
	stopLoad()
	<-loaded
	r.mark("load stopped")

	r.heal()
	sheet := load.Ledger.Snapshot()
	drained := r.drain(sheet.States)
	r.note(fmt.Sprintf("drained in %v", drained.Round(100*time.Millisecond)))
	// Nothing may insert while the rollups and the events are counted,
	// one after the other: the processors stop first.
	for _, p := range r.processors {
		if !p.Signal(syscall.SIGTERM, 40*time.Second) {
			r.note(p.Name + " still running 40 s after SIGTERM: killed")
			p.Kill()
		}
	}
	st, err := Count(ctx, su.db, r.site)
	if err != nil {
		t.Fatal(err)
	}
	row := Tally(sc.name, sheet, st)
	row.Notes = append(r.notes, row.Notes...)
	return row
}

// loop runs fault times times, wait apart (and wait after the start).
func (r *run) loop(times int, wait time.Duration, fault func(i int)) {
	for i := 0; i < times; i++ {
		time.Sleep(wait)
		fault(i)
	}
}

func (r *run) note(s string) { r.notes = append(r.notes, s) }

// mark notes what happened when, in seconds since the load began.
func (r *run) mark(what string) {
	r.note(fmt.Sprintf("%s at %.1fs", what, time.Since(r.began).Seconds()))
}

// collectorArgs are the collector's flags for a run: its own port, the
// suite's broker, the run's topic, no rate limits (one address sends
// everything), and a directory for whatever it keeps on disk, under the
// names this build has. Its delivery mode is its default.
func (r *run) collectorArgs() []string {
	args := []string{
		"-listen", r.colAddr, "-collector-ops-listen", "",
		"-kafka-brokers", r.su.broker.Addr(), "-kafka-topic", r.topic, "-kafka-partitions", fmt.Sprint(partitions),
		"-rate-limit-address", "0", "-rate-limit-site", "0",
		// The site registry, read straight from ClickHouse, not through
		// the faults' proxy: the collector does not start without it.
		"-clickhouse-addr", r.su.chAddr, "-clickhouse-db", r.su.dbName,
	}
	// Where this build keeps hits on disk: the write-ahead log, or
	// before it the shutdown spool. Each collector its own directory,
	// kept across its restarts.
	for _, name := range []string{"wal-dir", "spool-dir"} {
		if strings.Contains(r.su.collectorHelp, "-"+name+" ") || strings.Contains(r.su.collectorHelp, "-"+name+"\n") {
			args = append(args, "-"+name, filepath.Join(r.colDir, name))
			break
		}
	}
	if *delivery != "" {
		args = append(args, "-delivery", *delivery)
	}
	return args
}

// startCollector starts the collector on the run's port and waits until
// it answers /healthz; it notes and reports false when the collector
// exits first.
func (r *run) startCollector() bool {
	p, err := Spawn("collector", r.su.collectorBin, r.logPath("collector"), r.collectorArgs()...)
	if err != nil {
		r.t.Fatal(err)
	}
	r.collector = r.procs.Add(p)
	start := time.Now()
	for time.Since(start) < 15*time.Second {
		if p.Exited() {
			r.note(fmt.Sprintf("collector exited %v after its start: %v: %s", time.Since(start).Round(time.Millisecond), p.ExitErr(), r.tail("collector")))
			return false
		}
		if healthy(r.colAddr) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("collector not answering /healthz 15 s after its start: %s", r.tail("collector"))
	return false
}

// killCollector ends the collector with sig; a SIGTERM that does not end
// it within 20 s is followed by SIGKILL, and noted.
func (r *run) killCollector(sig syscall.Signal) {
	start := time.Now()
	r.mark("collector " + sigName(sig))
	if !r.collector.Signal(sig, 20*time.Second) {
		r.note("collector still running 20 s after SIGTERM: killed")
		r.collector.Kill()
	}
	if sig == syscall.SIGTERM {
		r.note(fmt.Sprintf("collector took %v to stop after SIGTERM", time.Since(start).Round(10*time.Millisecond)))
	}
}

func (r *run) startProcessor(i int) {
	name := fmt.Sprintf("processor-%d", i)
	p, err := Spawn(name, r.su.processorBin, r.logPath(name),
		"-kafka-brokers", r.su.broker.Addr(), "-kafka-topic", r.topic, "-kafka-group", r.group,
		"-kafka-partitions", fmt.Sprint(partitions),
		"-clickhouse-addr", r.proxy.Addr(), "-clickhouse-db", r.su.dbName, "-processor-ops-listen", "",
		"-batch-size", "1000", "-flush-interval", "100ms",
		// The jobs that read the events are not what is measured.
		"-refresh-interval", "0", "-segments-interval", "0",
	)
	if err != nil {
		r.t.Fatal(err)
	}
	r.processors[i] = r.procs.Add(p)
}

func (r *run) stopBroker(sig syscall.Signal) {
	r.mark("broker " + sigName(sig))
	if err := r.su.broker.Stop(sig, 30*time.Second); err != nil {
		r.t.Fatal(err)
	}
}

func (r *run) startBroker() {
	start := time.Now()
	if err := r.su.broker.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.mark(fmt.Sprintf("broker back (start took %v)", time.Since(start).Round(100*time.Millisecond)))
}

// heal makes sure every part runs again after the fault: a program that
// exited on its own is restarted, and noted (it is part of the truth).
func (r *run) heal() {
	if r.collector.Exited() {
		r.note("collector had exited: " + r.tail("collector"))
		r.startCollector()
	}
	for i, p := range r.processors {
		if p.Exited() {
			r.note(fmt.Sprintf("processor-%d had exited: %s", i, r.tail(p.Name)))
			r.startProcessor(i)
		}
	}
}

// drain waits until every acknowledged hit is stored and the group has
// committed everything, or until nothing more arrives for a while with
// nothing left in Kafka; then a moment more, so a late duplicate is seen
// too. It gives up after a minute (three in the long run) without a hit
// more stored, or after ten minutes: what is missing then is lost.
func (r *run) drain(states []uint8) time.Duration {
	ctx := context.Background()
	start := time.Now()
	stall := map[bool]time.Duration{false: 60 * time.Second, true: 180 * time.Second}[*long]
	hardCap := start.Add(10 * time.Minute)
	quiet := map[bool]time.Duration{false: 5 * time.Second, true: 15 * time.Second}[*long]
	lastCount, lastChange := -1, time.Now()
	for time.Now().Before(hardCap) && time.Since(lastChange) < stall {
		r.heal()
		markers, err := StoredMarkers(ctx, r.su.db, r.site)
		if err != nil {
			r.t.Fatal(err)
		}
		missing := 0
		for i, s := range states {
			if s == stateAcked && markers[i] == 0 {
				missing++
			}
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		lag, lagErr := Lag(lctx, r.su.broker.Brokers(), r.topic, r.group, partitions)
		cancel()
		if len(markers) != lastCount {
			lastCount, lastChange = len(markers), time.Now()
		}
		if lagErr == nil && lag == 0 && (missing == 0 || time.Since(lastChange) > quiet) {
			took := time.Since(start)
			time.Sleep(1500 * time.Millisecond)
			return took
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.note(fmt.Sprintf("not drained: nothing more stored for %v", time.Since(lastChange).Round(time.Second)))
	return time.Since(start)
}

func (r *run) logPath(name string) string { return filepath.Join(r.logs, name+".log") }

// tail is the last line of a program's log, shortened, for a note.
func (r *run) tail(name string) string {
	b, _ := os.ReadFile(r.logPath(name))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	last := lines[len(lines)-1]
	if len(last) > 240 {
		last = last[:240] + "..."
	}
	return last
}

// healthy reports whether addr answers GET /healthz with 200.
func healthy(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	buf := make([]byte, 12)
	n, _ := c.Read(buf)
	return n >= 12 && string(buf[9:12]) == "200"
}
