package chaos

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/kafkaadmin"
	"footfall/internal/reports"
	"footfall/internal/sites"
	"footfall/tests/cluster"
	"footfall/tests/stacktest"

	"github.com/segmentio/kafka-go"
)

var clusterRun = flag.Bool("chaos.cluster", false, "run TestCluster on the cluster make test-cluster starts (deploy/cluster/cluster.sh)")

// Load of the cluster test: each collector takes its own site's hits.
const (
	clusterRate       = 200 // hits a second per collector
	clusterPartitions = 6
	clusterLoad       = 36 * time.Second
)

// TestCluster runs two collectors (delivery=disk) and two processors on
// 2 x 2 ClickHouse 18.16 (-clickhouse-cluster) and 3 Kafka brokers (topic
// replicated 3 times, min.insync.replicas 2) under load, and SIGKILLs in
// turn a ClickHouse replica, the Kafka broker leading most partitions, a
// collector and a processor, starting each again. The ledger then checks
// that every acknowledged hit is stored exactly once and that every rollup
// counts what the events hold; both replicas of each shard hold the same
// rows; and the reports read through the Distributed tables give the same
// figures as a single ClickHouse given the same events. It prints the
// ledger and how long each fault took to recover from.
func TestCluster(t *testing.T) {
	if !*clusterRun {
		t.Skip("cluster test: make test-cluster starts the cluster and runs it (-chaos.cluster)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cluster.Attach(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	colBin, procBin, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}

	// The database, migrated on the cluster before the processors start.
	stamp := time.Now().UnixNano()
	cfg := chsql.Config{Addr: strings.Join(cl.CH, ","), Database: fmt.Sprintf("cluster_%d", stamp), User: "default", Cluster: "footfall"}
	began := time.Now()
	if err := chsql.CreateDatabase(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	db, err := chsql.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := db.Driver().Exec(dctx, "DROP DATABASE IF EXISTS "+cfg.Database+" ON CLUSTER footfall"); err != nil {
			t.Logf("drop %s: %v", cfg.Database, err)
		}
		db.Close()
	})
	if err := chsql.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	t.Logf("migrations applied on the cluster in %v", time.Since(began).Round(100*time.Millisecond))

	// A site on each shard: the Distributed tables put a row on shard
	// cityHash64(site_id) % 2 + 1.
	var siteIDs []string
	for i, want := 0, uint64(0); len(siteIDs) < 2; i++ {
		id := fmt.Sprintf("cl%d_%d", stamp%100000, i)
		var shard uint64
		if err := db.Driver().QueryRow(ctx, "SELECT toUInt64(cityHash64('"+id+"') % 2)").Scan(&shard); err != nil {
			t.Fatal(err)
		}
		if shard == want {
			siteIDs = append(siteIDs, id)
			want++
		}
	}
	for _, id := range siteIDs {
		if _, err := sites.NewStore(db).Create(ctx, sites.Site{ID: id, Name: id, TimeZone: "UTC", Currency: "EUR", InactiveDays: 90}); err != nil {
			t.Fatal(err)
		}
	}

	topic, group := fmt.Sprintf("cluster_%d", stamp), fmt.Sprintf("cluster_g_%d", stamp)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = kafkaadmin.EnsureTopic(tctx, cl.Kafka, topic, clusterPartitions, 3)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		kafkaadmin.DeleteTopic(dctx, cl.Kafka, topic)
	})

	var procs Procs
	t.Cleanup(procs.KillAll)
	// The programs' logs stay with the cluster's (deploy/cluster/cluster.sh
	// up empties the directory).
	logs := filepath.Join(cl.Dir, "logs", "programs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	brokers := strings.Join(cl.Kafka, ",")
	// Each program has every ClickHouse node, in its own order.
	chOrder := [][]string{{cl.CH[0], cl.CH[2], cl.CH[1], cl.CH[3]}, {cl.CH[3], cl.CH[1], cl.CH[2], cl.CH[0]}}
	processors := make([]*Proc, 2)
	startProcessor := func(i int) {
		name := fmt.Sprintf("processor-%d", i)
		p, err := Spawn(name, procBin, filepath.Join(logs, name+".log"),
			"-kafka-brokers", brokers, "-kafka-topic", topic, "-kafka-group", group,
			"-kafka-partitions", fmt.Sprint(clusterPartitions), "-kafka-replication", "3",
			"-clickhouse-addr", strings.Join(chOrder[i], ","), "-clickhouse-db", cfg.Database, "-clickhouse-cluster", "footfall",
			"-processor-ops-listen", "", "-batch-size", "1000", "-flush-interval", "100ms",
			"-refresh-interval", "0", "-segments-interval", "0")
		if err != nil {
			t.Fatal(err)
		}
		processors[i] = procs.Add(p)
	}
	collectors := make([]*Proc, 2)
	colAddrs := make([]string, 2)
	startCollector := func(i int) time.Duration {
		name := fmt.Sprintf("collector-%d", i)
		start := time.Now()
		p, err := Spawn(name, colBin, filepath.Join(logs, name+".log"),
			"-listen", colAddrs[i], "-collector-ops-listen", "", "-delivery", "disk",
			"-wal-dir", filepath.Join(dir, name+"-wal"),
			"-kafka-brokers", brokers, "-kafka-topic", topic, "-kafka-partitions", fmt.Sprint(clusterPartitions), "-kafka-replication", "3",
			"-rate-limit-address", "0", "-rate-limit-site", "0",
			"-clickhouse-addr", strings.Join(chOrder[i], ","), "-clickhouse-db", cfg.Database, "-clickhouse-cluster", "footfall")
		if err != nil {
			t.Fatal(err)
		}
		collectors[i] = procs.Add(p)
		for time.Since(start) < 30*time.Second {
			if p.Exited() {
				t.Fatalf("%s exited: %v: %s", name, p.ExitErr(), tail(filepath.Join(logs, name+".log")))
			}
			if healthy(colAddrs[i]) {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s not healthy 30 s after its start: %s", name, tail(filepath.Join(logs, name+".log")))
		return 0
	}
	for i := range processors {
		startProcessor(i)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	err = kafkaadmin.WaitAssigned(wctx, cl.Kafka, group, 2)
	cancel()
	if err != nil {
		t.Fatalf("%v: %s", err, tail(filepath.Join(logs, "processor-0.log")))
	}
	for i := range collectors {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		colAddrs[i] = fmt.Sprintf("127.0.0.1:%d", port)
		startCollector(i)
	}

	// What is stored, sampled while the load runs: a fault's stall is the
	// longest time after it with nothing more stored.
	mon := &progress{}
	mctx, stopMon := context.WithCancel(ctx)
	go mon.watch(mctx, db, siteIDs)

	loads := make([]*Load, 2)
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range loads {
		loads[i] = &Load{Addr: colAddrs[i], Site: siteIDs[i], Rate: clusterRate, Workers: 16}
		wg.Add(1)
		go func(ld *Load) {
			defer wg.Done()
			ld.Run(lctx)
		}(loads[i])
	}
	start := time.Now()
	mon.setStart(start)
	var faults []fault
	at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
	record := func(f fault) {
		faults = append(faults, f)
		t.Logf("%5.1fs %s: %s", f.at.Seconds(), f.what, f.note)
	}

	// 1. A ClickHouse replica (shard 1's second), down 4 s.
	at(4 * time.Second)
	killAt := time.Since(start)
	if err := cl.Kill("ch2"); err != nil {
		t.Fatal(err)
	}
	at(8 * time.Second)
	took, restarts, err := cl.Start("ch2")
	if err != nil {
		t.Fatal(err)
	}
	caught := waitReplica(t, cl.CH[1], cfg.Database)
	record(fault{what: "ClickHouse ch2 (shard 1 replica) SIGKILL", at: killAt,
		note: fmt.Sprintf("restarted after 4 s, serving %v later%s, replication queue empty %v after that",
			took.Round(100*time.Millisecond), exitedWhileStarting(restarts), caught.Round(100*time.Millisecond))})

	// 2. The broker that leads most of the topic's partitions, down 5 s.
	at(14 * time.Second)
	leader := leaderOfMost(t, cl.Kafka, topic)
	node := cl.Node(leader)
	killAt = time.Since(start)
	if err := cl.Kill(node); err != nil {
		t.Fatal(err)
	}
	at(19 * time.Second)
	// A broker can take a minute to start on a loaded machine: the
	// faults go on meanwhile.
	kafkaBack := make(chan string, 1)
	go func() {
		took, restarts, err := cl.Start(node)
		if err != nil {
			kafkaBack <- err.Error()
			return
		}
		kafkaBack <- fmt.Sprintf("restarted after 5 s, serving %v later%s", took.Round(100*time.Millisecond), exitedWhileStarting(restarts))
	}()
	kafkaFault := len(faults)
	record(fault{what: "Kafka " + node + " (leader of most partitions) SIGKILL", at: killAt, note: "restarted after 5 s"})

	// 3. A collector, started again at once (its write-ahead log kept).
	at(24 * time.Second)
	killAt = time.Since(start)
	collectors[0].Kill()
	took = startCollector(0)
	record(fault{what: "collector-0 SIGKILL", at: killAt, note: fmt.Sprintf("healthy again %v after", took.Round(10*time.Millisecond))})

	// 4. A processor, started again at once.
	at(29 * time.Second)
	killAt = time.Since(start)
	processors[1].Kill()
	startProcessor(1)
	record(fault{what: "processor-1 SIGKILL", at: killAt, note: "started again at once"})

	at(clusterLoad)
	stopLoad()
	wg.Wait()
	loadTook := time.Since(start)
	faults[kafkaFault].note = <-kafkaBack

	// Drain: every acknowledged hit stored and the group caught up, or two
	// minutes without progress.
	sheets := []Sheet{loads[0].Ledger.Snapshot(), loads[1].Ledger.Snapshot()}
	drainStart := time.Now()
	lastStored, lastChange := -1, time.Now()
	for time.Since(lastChange) < 2*time.Minute {
		for i, p := range collectors {
			if p.Exited() {
				t.Logf("collector-%d had exited: %s", i, tail(filepath.Join(logs, p.Name+".log")))
				startCollector(i)
			}
		}
		for i, p := range processors {
			if p.Exited() {
				t.Logf("processor-%d had exited: %s", i, tail(filepath.Join(logs, p.Name+".log")))
				startProcessor(i)
			}
		}
		missing, stored := 0, 0
		for i, site := range siteIDs {
			markers, err := StoredMarkers(ctx, db, site)
			if err != nil {
				t.Logf("stored markers: %v", err)
				continue
			}
			stored += len(markers)
			for m, s := range sheets[i].States {
				if s == stateAcked && markers[m] == 0 {
					missing++
				}
			}
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		lag, lagErr := Lag(lctx, cl.Kafka, topic, group, clusterPartitions)
		cancel()
		if stored != lastStored {
			lastStored, lastChange = stored, time.Now()
		}
		if missing == 0 && lagErr == nil && lag == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	drained := time.Since(drainStart)
	stopMon()
	for _, p := range processors {
		if !p.Signal(syscall.SIGTERM, 40*time.Second) {
			t.Logf("%s still running 40 s after SIGTERM: killed", p.Name)
			p.Kill()
		}
	}
	for _, p := range collectors {
		p.Signal(syscall.SIGTERM, 20*time.Second)
	}

	// Both replicas of each shard hold the same rows.
	syncReplicas(t, cl.CH, cfg.Database)
	for _, table := range []string{"events_local", "events_hourly_local", "session_parts_local", "pages_daily_local", "viewed_products_local"} {
		var counts []uint64
		for _, addr := range cl.CH {
			n, err := chsql.Open(ctx, chsql.Config{Addr: addr, Database: cfg.Database, User: "default"})
			if err != nil {
				t.Fatal(err)
			}
			var c uint64
			if err := n.Driver().QueryRow(ctx, "SELECT count() FROM "+table).Scan(&c); err != nil {
				t.Fatal(err)
			}
			n.Close()
			counts = append(counts, c)
		}
		if counts[0] != counts[1] || counts[2] != counts[3] || counts[0] == 0 || counts[2] == 0 {
			t.Errorf("%s rows per node (shard 1: ch1 ch2, shard 2: ch3 ch4): %v", table, counts)
		} else {
			t.Logf("%s rows per node (shard 1: ch1 ch2, shard 2: ch3 ch4): %v", table, counts)
		}
	}

	// The ledger, through the Distributed tables.
	var rows []Row
	for i, site := range siteIDs {
		st, err := Count(ctx, db, site)
		if err != nil {
			t.Fatal(err)
		}
		row := Tally(fmt.Sprintf("cluster, site on shard %d via collector-%d", i+1, i), sheets[i], st)
		for _, f := range row.Failures() {
			t.Errorf("%s: %s", row.Fault, f)
		}
		rows = append(rows, row)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\ncluster ledger (2 collectors x %d hits/s for %v, 2 processors; 2 x 2 ClickHouse 18.16, 3 Kafka brokers):\n%s\n", clusterRate, loadTook.Round(100*time.Millisecond), Table(rows))
	fmt.Fprintf(&b, "faults (seconds since the load began; stall: the longest time after the fault with nothing more stored):\n")
	for i, f := range faults {
		end := loadTook
		if i+1 < len(faults) {
			end = faults[i+1].at
		}
		refused := 0
		for _, sh := range sheets {
			for m, s := range sh.States {
				if s == stateRefused && sh.At[m] >= f.at && sh.At[m] < end {
					refused++
				}
			}
		}
		fmt.Fprintf(&b, "- %5.1fs %s: %s; stall %v; %d hits refused until the next fault\n", f.at.Seconds(), f.what, f.note, mon.stall(f.at, end).Round(100*time.Millisecond), refused)
	}
	fmt.Fprintf(&b, "drained %v after the load; cluster memory (RSS of the 8 servers) %d MiB\n", drained.Round(100*time.Millisecond), cl.Memory()>>20)
	fmt.Print(b.String())

	// The same events on one ClickHouse (the local stack's), reports
	// compared.
	_, single := stacktest.ClickHouse(t)
	for _, site := range siteIDs {
		if err := single.DB().Driver().Exec(ctx, fmt.Sprintf("INSERT INTO events SELECT * FROM remote('%s', %s, events) WHERE site_id = '%s'", cl.CH[0], cfg.Database, site)); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	q := func(site string) reports.Query {
		return reports.Query{Site: site, From: day.Add(-24 * time.Hour), To: day.Add(48 * time.Hour)}
	}
	var figures []string
	for i, site := range siteIDs {
		clusterAnswer, singleAnswer := reportsOf(t, db, q(site)), reportsOf(t, single.DB(), q(site))
		for name, c := range clusterAnswer {
			if s := singleAnswer[name]; s != c {
				t.Errorf("site %d %s: cluster (Distributed) and one ClickHouse differ:\n cluster %s\n single  %s", i+1, name, clip(c), clip(s))
			}
		}
		st, _ := Count(ctx, single.DB(), site)
		figures = append(figures, fmt.Sprintf("site on shard %d: %d events on the cluster, %d on one ClickHouse; overview %s", i+1, rows[i].Stored, st.Distinct, clip(clusterAnswer["overview totals"])))
	}

	for _, f := range figures {
		fmt.Fprintf(&b, "%s\n", f)
		fmt.Println(f)
	}
	if path := os.Getenv("FOOTFALL_CLUSTER_REPORT"); path != "" {
		os.WriteFile(path, []byte(b.String()), 0o644)
	}
}

type fault struct {
	what string
	at   time.Duration
	note string
}

// progress samples how many events of the test's sites are stored.
type progress struct {
	mu      sync.Mutex
	start   time.Time
	at      []time.Duration
	stored  []uint64
	lastErr error
}

func (p *progress) setStart(t time.Time) {
	p.mu.Lock()
	p.start = t
	p.mu.Unlock()
}

func (p *progress) watch(ctx context.Context, db *chsql.Conn, siteIDs []string) {
	for ctx.Err() == nil {
		var total uint64
		var err error
		for _, site := range siteIDs {
			var n uint64
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if e := db.Driver().QueryRow(qctx, "SELECT count() FROM events WHERE site_id = '"+site+"'").Scan(&n); e != nil {
				err = e
			}
			cancel()
			total += n
		}
		p.mu.Lock()
		if err == nil && !p.start.IsZero() {
			p.at = append(p.at, time.Since(p.start))
			p.stored = append(p.stored, total)
		}
		p.lastErr = err
		p.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
}

// stall is the longest time within [from, to) during which the stored
// count did not grow.
func (p *progress) stall(from, to time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var worst time.Duration
	last := from
	var lastN uint64
	for i, at := range p.at {
		if at < from {
			lastN = p.stored[i]
			continue
		}
		if at >= to {
			break
		}
		if p.stored[i] > lastN {
			if d := at - last; d > worst {
				worst = d
			}
			last, lastN = at, p.stored[i]
		}
	}
	if d := to - last; d > worst {
		worst = d
	}
	return worst
}

// waitReplica waits until the replica at addr has no replication queue
// left for its tables, and says how long that took.
func waitReplica(t *testing.T, addr, database string) time.Duration {
	t.Helper()
	n, err := chsql.Open(context.Background(), chsql.Config{Addr: addr, Database: database, User: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	start := time.Now()
	for time.Since(start) < 90*time.Second {
		var behind uint64
		err := n.Driver().QueryRow(context.Background(),
			"SELECT count() FROM system.replicas WHERE database = '"+database+"' AND (is_readonly OR is_session_expired OR queue_size > 0 OR active_replicas < total_replicas)").Scan(&behind)
		if err == nil && behind == 0 {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("replica %s still behind 90 s after its start", addr)
	return time.Since(start)
}

// syncReplicas waits until every replica has fetched what its shard holds.
func syncReplicas(t *testing.T, addrs []string, database string) {
	t.Helper()
	ctx := context.Background()
	for _, addr := range addrs {
		n, err := chsql.Open(ctx, chsql.Config{Addr: addr, Database: database, User: "default"})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := n.Driver().Query(ctx, "SELECT table FROM system.replicas WHERE database = currentDatabase()")
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var name string
			rows.Scan(&name)
			tables = append(tables, name)
		}
		rows.Close()
		for _, table := range tables {
			if err := n.Driver().Exec(ctx, "SYSTEM SYNC REPLICA "+table); err != nil {
				t.Errorf("%s: SYSTEM SYNC REPLICA %s: %v", addr, table, err)
			}
		}
		n.Close()
	}
}

// leaderOfMost is the broker leading the most partitions of topic.
func leaderOfMost(t *testing.T, brokers []string, topic string) string {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, p := range parts {
		n[fmt.Sprintf("%s:%d", p.Leader.Host, p.Leader.Port)]++
	}
	var best string
	for addr, c := range n {
		if best == "" || c > n[best] || c == n[best] && addr < best {
			best = addr
		}
	}
	return best
}

// reportsOf answers the overview, three breakdowns and two funnels of q's
// site, each as JSON, by name.
func reportsOf(t *testing.T, db *chsql.Conn, q reports.Query) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tr, err := reports.OverviewOf(ctx, db, q, "hour")
	if err != nil {
		t.Fatal(err)
	}
	out["overview totals"] = fmt.Sprintf("pageviews %d, visitors %d", tr.Pageviews, tr.Visitors)
	out["overview"] = js(tr)
	for _, by := range []string{"page", "source", "browser"} {
		tab, err := reports.Breakdown(ctx, db, q, by, 100)
		if err != nil {
			t.Fatal(err)
		}
		out["breakdown by "+by] = js(tab.Rows)
	}
	// A funnel following every visitor, and one following a sample of
	// them (past twice 500 events, about 7,200 here: one visitor in 15,
	// by cityHash64(visitor_id) in PREWHERE, which a Distributed table
	// sends on to each shard): the same visitors on both.
	steps := []string{"type==pageview", "type==product_view"}
	for name, s := range map[string]reports.Sampling{"funnel": {Off: true}, "funnel sampled": {Events: 500}} {
		tab, err := reports.Funnel(ctx, db, q, steps, 3600, s)
		if err != nil {
			t.Fatal(err)
		}
		if s.Events > 0 && tab.Sample < 2 {
			t.Errorf("%s: sample %d, want a sample (one visitor in 2 or more)", name, tab.Sample)
		}
		out[name] = js(tab)
	}
	return out
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return s
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	last := lines[len(lines)-1]
	if len(last) > 300 {
		last = last[:300] + "..."
	}
	return last
}

// exitedWhileStarting is what the fault's note says of a node cluster.sh
// had to start more than once (it exited while starting, its logs kept as
// <node>.failed-<n>.*): a crash of the server's, not of the pipeline, but
// one the report must show.
func exitedWhileStarting(restarts int) string {
	if restarts == 0 {
		return ""
	}
	return fmt.Sprintf(" (it exited while starting and was started again %d time(s): see its failed-* logs)", restarts)
}
