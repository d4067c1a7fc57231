package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/profiles"
	"footfall/internal/refresh"
	"footfall/internal/reports"
	"footfall/internal/segments"
	"footfall/internal/sessionstats"
	"footfall/processor/attribute"
	"footfall/processor/chstore"
	"footfall/processor/enrich"
)

// benchQueries fills a database with generated events in steps, to each of
// -bench-sizes (1M then 10M; 10M then 100M for make bench-large; smaller in
// smoke mode), and times each report at every size, with its growth from
// the size before.
func benchQueries(cfg config, stamp string) error {
	ctx := context.Background()
	sizes, err := parseSizes(cfg.Sizes)
	if err != nil {
		return err
	}
	db := "bench_q_" + stamp
	if cfg.QueryDB != "" {
		db = cfg.QueryDB
	}
	store, drop, err := scratchDB(cfg, db)
	if err != nil {
		return err
	}
	if cfg.KeepDB || cfg.QueryDB != "" {
		fmt.Println("keeping database", db)
	} else {
		defer drop()
	}
	if err := chsql.Migrate(ctx, store.DB()); err != nil {
		return err
	}
	if cfg.Smoke {
		sizes = []int{20_000, 100_000}
	}
	end := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	from := end.Add(-30 * 24 * time.Hour)
	people := profiles.NewStore(store.DB(), profiles.DefaultRules)
	segs := segments.NewStore(people)
	sessions := sessionstats.NewStore(store.DB())
	bigSpenders := segments.Segment{Site: "demo", ID: "big", Conditions: []segments.Condition{
		{Field: "orders", Op: ">=", Value: json.RawMessage("2")}, {Field: "revenue", Op: ">=", Value: json.RawMessage("100")}}}
	lookers := segments.Segment{Site: "demo", ID: "lookers", Conditions: []segments.Condition{
		{Field: "viewed_section", Value: json.RawMessage(`"/shoes"`), Days: 30}, {Field: "orders", Op: "=", Value: json.RawMessage("0")}}}
	pathLookers := segments.Segment{Site: "demo", ID: "path", Conditions: []segments.Condition{
		{Field: "viewed_section", Value: json.RawMessage(`"/shoes/1"`), Days: 30}, {Field: "orders", Op: "=", Value: json.RawMessage("0")}}}
	// The reports the dashboard asks for, over 30 days, as the API runs
	// them (internal/reports; the overview adds the session statistics).
	q := reports.Query{Site: "demo", From: from, To: end}
	mobileGoogle := q
	mobileGoogle.Filters = []reports.Filter{{Dim: "device", Op: "==", Value: "mobile"}, {Dim: "source", Op: "==", Value: "google"}}
	funnelSteps := []string{"type==pageview", "type==add_to_cart", "type==begin_checkout", "type==purchase"}
	timed := []struct {
		// The targets (#7, #24) at 10M and 100M events, wall
		// time of the median run.
		name, at10M, at100M string
		run                 func(ctx context.Context) error
	}{
		{"overview (all its queries)", "< 300 ms", "< 300 ms", func(ctx context.Context) error {
			// Beside each other, as the API asks them.
			period := make(chan error, 1)
			go func() { _, err := sessions.Period(ctx, "demo", from, end); period <- err }()
			_, err := reports.Overview(ctx, store.DB(), "demo", from, end, "")
			if perr := <-period; err == nil {
				err = perr
			}
			return err
		}},
		{"breakdown: by browser, mobile google", "< 300 ms", "< 1.5 s", func(ctx context.Context) error {
			_, err := reports.Breakdown(ctx, store.DB(), mobileGoogle, "browser", 10)
			return err
		}},
		{"breakdown: by page", "< 300 ms", "< 1.5 s", func(ctx context.Context) error {
			_, err := reports.Breakdown(ctx, store.DB(), q, "page", 10)
			return err
		}},
		// Source is what the visit is credited to, a column the processor
		// wrote (processor/attribute): as cheap as by page.
		{"breakdown: by source", "< 300 ms", "< 1.5 s", func(ctx context.Context) error {
			_, err := reports.Breakdown(ctx, store.DB(), q, "source", 10)
			return err
		}},
		// Past a million events a funnel follows a sample of the visitors
		// (reports.Sampling, as the API by default); the last row is the
		// same funnel following every visitor, without a target.
		{"funnel: view, cart, checkout, order", "< 1 s", "< 5 s", func(ctx context.Context) error {
			_, err := reports.Funnel(ctx, store.DB(), q, funnelSteps, 86400, reports.Sampling{})
			return err
		}},
		{"segment: 2+ orders, 100+ EUR", "< 1 s", "< 1 s", func(ctx context.Context) error { _, err := segs.Count(ctx, bigSpenders); return err }},
		{"segment: viewed /shoes in 30 days, no order", "< 1 s", "< 1 s", func(ctx context.Context) error { _, err := segs.Count(ctx, lookers); return err }},
		{"segment: viewed /shoes/1* (raw events)", "< 1 s", "< 1 s", func(ctx context.Context) error { _, err := segs.Count(ctx, pathLookers); return err }},
		{"segment evaluation (diff with last members)", "< 1 s", "< 1 s", func(ctx context.Context) error { _, err := segs.Evaluate(ctx, bigSpenders); return err }},
		// Last: at 100M it outlives the client's 60 s (ClickHouse stops it
		// 5 s later, clickhouse-go's max_execution_time), which would weigh
		// on a row after it.
		{"funnel: the same, every visitor", "", "", func(ctx context.Context) error {
			_, err := reports.Funnel(ctx, store.DB(), q, funnelSteps, 86400, reports.Sampling{Off: true})
			return err
		}},
	}
	times := make([][]time.Duration, len(timed))
	costs := make([][]chCost, len(timed))
	// A database of an earlier run (-bench-db) gets only the events it
	// lacks.
	var stored uint64
	if err := store.DB().Driver().QueryRow(ctx, "SELECT count() FROM events").Scan(&stored); err != nil {
		return err
	}
	have := int(stored)
	if have > 0 {
		fmt.Printf("%d events there already\n", have)
	}
	perEvent := 300.0 // bytes on disk per event, all tables: measured at each size
	// With a size past 10M (make bench-large) the whole fill credits each
	// event with its own source instead of through the processor's
	// crediting, which reads every visitor's history back from ClickHouse
	// (the generated events come in no order of time): 6,700 events/s at
	// 5M, hours for 100M, against about 35,000. For these events that is
	// the same credit (each generated visitor keeps one referrer:
	// TestOwnCredits).
	own := sizes[len(sizes)-1] > 10_000_000
	if own {
		fmt.Println("filling with each event's own source as its credit (a size past 10M; the same credits, TestOwnCredits)")
	}
	for _, n := range sizes {
		if err := roomFor(cfg.CH.Addr, float64(max(n-have, 0))*perEvent); err != nil {
			return err
		}
		start := time.Now()
		if err := generate(ctx, store, have, max(n-have, 0), from, end, own); err != nil {
			return err
		}
		var profileCount uint64
		if err := store.DB().Driver().QueryRow(ctx, "SELECT uniq(visitor_id) FROM visitor_profiles").Scan(&profileCount); err != nil {
			return err
		}
		inserted := max(n-have, 0)
		have = max(have, n)
		fmt.Printf("\nqueries on %d generated events, %d profiles (%d events inserted in %s)\n", have, profileCount, inserted, time.Since(start).Round(time.Second))
		// The segment reports read the people table; bring it up to date
		// with the load first (a whole rebuild the first time), then time
		// what a refresh costs after a little more traffic.
		t := time.Now()
		id := fmt.Sprintf("%s-%d-people", db, n)
		written, err := people.Refresh(costContext(ctx, id), "demo")
		if err != nil {
			return err
		}
		fmt.Printf("%-42s %10s %22s  (%d people written) %s\n", "people table refresh after the load", ms(time.Since(t)), "", written, costNote(ctx, store, id))
		t = time.Now()
		id = fmt.Sprintf("%s-%d-sessions", db, n)
		if _, err := sessions.Refresh(costContext(ctx, id), "demo"); err != nil {
			return err
		}
		fmt.Printf("%-42s %10s %22s  %s\n", "session stats refresh after the load", ms(time.Since(t)), "", costNote(ctx, store, id))
		if perEvent, err = diskPerEvent(ctx, store, n); err != nil {
			return err
		}
		// The processor compacts the people table a few times a day
		// (processor/derive); the load's rows are then below the site's
		// base, and the refreshes below write above it, as a site's
		// refreshes between two compactions do. Nothing else writes: the
		// base is now, where the processor's lies two hours back.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		t = time.Now()
		id = fmt.Sprintf("%s-%d-compact", db, n)
		compaction, err := people.CompactUpTo(costContext(ctx, id), time.Now())
		if err != nil {
			return err
		}
		fmt.Printf("%-42s %10s %22s  (%d sites' bases moved, %d held) %s\n", "people table compaction", ms(time.Since(t)), "", compaction.Moved, compaction.Held, costNote(ctx, store, id))
		// Live traffic: 1,000 events of the last hour, then the refreshes
		// the processor's next refresh round makes.
		var small, smallSessions []float64 // seconds
		var smallIDs, smallSessionIDs []string
		for k := 0; k < 3; k++ {
			if err := generate(ctx, store, n+k*1000, 1000, time.Now().Add(-time.Hour), time.Now(), false); err != nil {
				return err
			}
			t := time.Now()
			smallIDs = append(smallIDs, fmt.Sprintf("%s-%d-people-%d", db, n, k))
			if _, err := people.Refresh(costContext(ctx, smallIDs[k]), "demo"); err != nil {
				return err
			}
			small = append(small, time.Since(t).Seconds())
			t = time.Now()
			smallSessionIDs = append(smallSessionIDs, fmt.Sprintf("%s-%d-sessions-%d", db, n, k))
			if _, err := sessions.Refresh(costContext(ctx, smallSessionIDs[k]), "demo"); err != nil {
				return err
			}
			smallSessions = append(smallSessions, time.Since(t).Seconds())
		}
		fmt.Printf("%-42s %10s %22s  %s\n", "people refresh after 1,000 new events", ms(seconds(median(small))), "", costNote(ctx, store, smallIDs...))
		fmt.Printf("%-42s %10s %22s  %s\n", "session stats refresh after 1,000 events", ms(seconds(median(smallSessions))), "", costNote(ctx, store, smallSessionIDs...))
		// The reports below then read what the refreshes left: requests
		// never refresh (the processor does), so they measure reads alone.
		time.Sleep(refresh.TouchedSlack + time.Second)
		fmt.Printf("%-42s %10s %22s  %s\n", "report (median of 3)", "wall", "growth", "ClickHouse CPU, rows read (growth)")
		for i, r := range timed {
			var runs []time.Duration
			var ids []string
			var err error
			for k := 0; k < 3 && err == nil; k++ {
				id := fmt.Sprintf("%s-%d-%d-%d", db, n, i, k)
				ids = append(ids, id)
				t := time.Now()
				err = r.run(costContext(ctx, id))
				runs = append(runs, time.Since(t))
			}
			if err != nil {
				// One report failing (a timeout at 10M) must not hide the others.
				fmt.Printf("%-42s FAILED after %s: %v\n", r.name, ms(runs[len(runs)-1]), err)
				times[i] = append(times[i], runs[len(runs)-1])
				costs[i] = append(costs[i], chCost{})
				continue
			}
			sort.Slice(runs, func(a, b int) bool { return runs[a] < runs[b] })
			times[i] = append(times[i], runs[1])
			c, cerr := medianCost(ctx, store, ids)
			costs[i] = append(costs[i], c)
			growth, cgrowth := "", ""
			if k := len(times[i]) - 1; k > 0 {
				growth = fmt.Sprintf("x%.1f for x%d rows", float64(times[i][k])/float64(times[i][k-1]), n/sizes[k-1])
				if costs[i][k-1].cpu > 0 {
					cgrowth = fmt.Sprintf(" (x%.1f)", float64(costs[i][k].cpu)/float64(costs[i][k-1].cpu))
				}
			}
			target := ""
			switch n {
			case 10_000_000:
				target = r.at10M
			case 100_000_000:
				target = r.at100M
			}
			if target != "" {
				target = "target " + target
			}
			cost := fmt.Sprintf("%s CPU, %d rows%s", ms(c.cpu), c.rows, cgrowth)
			if cerr != nil {
				cost = "ClickHouse's cost unknown: " + cerr.Error()
			}
			fmt.Printf("%-42s %10s %22s  %s  %s\n", r.name, ms(runs[1]), growth, cost, target)
		}
	}
	return nil
}

// diskPerEvent prints what the database takes on disk per event (the
// README's sizing reads it): the events table, and every table (the
// aggregates, people, sessions) together. Parts still unmerged make it
// larger than it settles to.
func diskPerEvent(ctx context.Context, store *chstore.Store, events int) (float64, error) {
	var eventsBytes, allBytes, parts uint64
	err := store.DB().Driver().QueryRow(ctx, `SELECT sumIf(bytes_on_disk, table = 'events'), sum(bytes_on_disk), count()
		FROM system.parts WHERE active AND database = currentDatabase()`).Scan(&eventsBytes, &allBytes, &parts)
	if err != nil {
		return 0, fmt.Errorf("read the database's size on disk: %w", err)
	}
	all := float64(allBytes) / float64(events)
	fmt.Printf("%-42s %10s %22s  (%d parts)\n", "on disk per event: events / all tables",
		fmt.Sprintf("%.0f B", float64(eventsBytes)/float64(events)), fmt.Sprintf("%.0f B", all), parts)
	return all, nil
}

// roomFor refuses to generate events needing more than the free space of
// the data directory of the local ClickHouse at addr, with half again for the parts a
// merge writes before it deletes the old ones: a full disk stops every
// database on the server, not only the bench's. Without a local
// ClickHouse (its data directory not found) it cannot tell and lets the
// step go on.
func roomFor(addr string, bytes float64) error {
	dir := clickhouseDataDir(addr)
	if dir == "" {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("free space of %s: %w", dir, err)
	}
	free := float64(st.Bavail) * float64(st.Bsize)
	if need := bytes * 1.5; need > free {
		return fmt.Errorf("the generated events need about %.1f GB on ClickHouse's disk (%s) and %.1f GB are free: free some, or ask for smaller -bench-sizes", need/1e9, dir, free/1e9)
	}
	return nil
}

// parseSizes reads -bench-sizes: event counts, comma separated, each
// larger than the one before (the database grows from one to the next).
func parseSizes(list string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1000 || (len(sizes) > 0 && n <= sizes[len(sizes)-1]) {
			return nil, fmt.Errorf("-bench-sizes %q: want event counts of at least 1000, comma separated, each larger than the one before", list)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// chCost is what ClickHouse spent on the statements of one report or
// refresh: CPU time (user and system, every thread) and rows read, from its
// own system.query_log. On a machine shared with other work a wall time
// grows with the load; these grow with the work.
type chCost struct {
	cpu  time.Duration
	rows uint64
}

// costContext has ClickHouse log the statements sent with it under the
// tag id (a report's or refresh's several statements). Query ids cannot
// be the tag: statements of one refresh may overlap, and ClickHouse
// refuses a query id that is still running. So the tag is the value of
// interactive_delay (how often the server sends progress and checks for a
// cancel, 0.1 s by default), 0.1 to 1 s here, which query_log keeps among
// the query's changed settings.
func costContext(ctx context.Context, id string) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"log_queries": 1, "interactive_delay": costTag(id)}))
}

var (
	costMu   sync.Mutex
	costTags = map[string]int{}
	costBase = 100_000 + rand.IntN(800_000)
)

// costTag is id's value of interactive_delay, one per id in this run.
func costTag(id string) int {
	costMu.Lock()
	defer costMu.Unlock()
	if t, ok := costTags[id]; ok {
		return t
	}
	costTags[id] = costBase + len(costTags)
	return costTags[id]
}

// queryCost sums what system.query_log holds for the statements tagged
// id. ClickHouse writes its query log every 7.5 s: SYSTEM FLUSH LOGS
// writes it now (the driver answers EOF to a statement that returns no
// block, so its error says nothing), and the count of finished statements
// is read again until it stops growing. ProfileEvents and Settings as
// pairs of arrays is ClickHouse 18.16's query_log (the stack's).
func queryCost(ctx context.Context, store *chstore.Store, id string) (chCost, error) {
	drv := store.DB().Driver()
	var c chCost
	var seen uint64
	for try := 0; try < 20; try++ {
		if rows, err := drv.Query(ctx, "SYSTEM FLUSH LOGS"); err == nil {
			rows.Close()
		}
		var us, rows, n uint64
		err := drv.QueryRow(ctx, `SELECT toUInt64(sum(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'UserTimeMicroseconds')]
			+ ProfileEvents.Values[indexOf(ProfileEvents.Names, 'SystemTimeMicroseconds')])), toUInt64(sum(read_rows)), count()
			FROM system.query_log WHERE event_date >= yesterday() AND type = 2
			AND Settings.Values[indexOf(Settings.Names, 'interactive_delay')] = ?`, strconv.Itoa(costTag(id))).Scan(&us, &rows, &n)
		if err != nil {
			return chCost{}, err
		}
		if n > 0 && n == seen {
			return c, nil
		}
		c, seen = chCost{time.Duration(us) * time.Microsecond, rows}, n
		time.Sleep(500 * time.Millisecond)
	}
	if seen == 0 {
		return chCost{}, fmt.Errorf("not in system.query_log")
	}
	return c, nil
}

// costNote says what ClickHouse spent on the run of ids with the median
// CPU time, as the bench prints it.
func costNote(ctx context.Context, store *chstore.Store, ids ...string) string {
	c, err := medianCost(ctx, store, ids)
	if err != nil {
		return "ClickHouse's cost unknown: " + err.Error()
	}
	return fmt.Sprintf("ClickHouse %s CPU, %d rows read", ms(c.cpu), c.rows)
}

// medianCost is the cost of the run of ids with the median CPU time.
func medianCost(ctx context.Context, store *chstore.Store, ids []string) (chCost, error) {
	var cs []chCost
	for _, id := range ids {
		c, err := queryCost(ctx, store, id)
		if err != nil {
			return chCost{}, err
		}
		cs = append(cs, c)
	}
	sort.Slice(cs, func(a, b int) bool { return cs[a].cpu < cs[b].cpu })
	return cs[len(cs)/2], nil
}

// fillBatch is how many generated events generate inserts at a time.
var fillBatch = 200_000

// generate inserts n events spread over [from, end), fillBatch at a time:
// one visitor per ten events (1M profiles at 10M), who mostly browse, some
// of whom subscribe, fill carts and order, each from one source, on one
// device, in two of five sections. Ids continue from offset so a second
// call adds new visitors. With own, each event is credited with its own
// source (chstore.Own, or direct), not through the processor's crediting
// (chstore.Store.Insert): the same credits for these events, as each
// visitor only ever comes from one place (TestOwnCredits).
func generate(ctx context.Context, store *chstore.Store, offset, n int, from, end time.Time, own bool) error {
	batch := fillBatch
	rng := rand.New(rand.NewPCG(uint64(offset), 42))
	en := enrich.New(0)
	span := end.Sub(from).Milliseconds()
	refs := []string{"https://www.google.com/", "", "https://t.co/x", "https://mail.google.com/", "https://www.bing.com/", "https://partner.example/"}
	agents := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
	}
	rows := make([]chstore.Row, 0, batch)
	var credits []attribute.Touch    // with own: rows' credits
	buf := make([]byte, 0, batch*64) // backs the generated strings of one batch
	keep := func(s string) []byte {
		start := len(buf)
		buf = append(buf, s...)
		return buf[start:len(buf):len(buf)]
	}
	visitors := max(n/10, 1)
	sections := []string{"shoes", "bags", "hats", "coats", "socks"}
	for i := 0; i < n; i++ {
		v := offset/10 + rng.IntN(visitors)
		at := from.UnixMilli() + rng.Int64N(span)
		var r chstore.Row
		e := &r.Event
		e.ID, e.TimeMs, e.Ingest = event.NewID(at), at, event.IngestBeacon
		e.F[event.Site] = keep("demo")
		e.F[event.VisitorID] = keep("v" + strconv.Itoa(v))
		e.F[event.UserAgent] = keep(agents[v%len(agents)])
		e.F[event.Referrer] = keep(refs[v%len(refs)])
		// Each visitor keeps to two of the five sections.
		e.F[event.URL] = keep("https://shop.example/" + sections[(v+rng.IntN(2))%len(sections)] + "/" + strconv.Itoa(rng.IntN(100)))
		// One session per visitor and half day.
		e.F[event.SessionID] = keep("s" + strconv.Itoa(v) + "-" + strconv.FormatInt(at/43_200_000, 36))
		switch x := rng.IntN(100); {
		case x < 85:
			e.F[event.Type] = keep("pageview")
		case x < 93:
			e.F[event.Type] = keep("add_to_cart")
		case x < 96:
			e.F[event.Type] = keep("begin_checkout")
		case x < 98:
			e.F[event.Type] = keep("purchase")
			e.Revenue = int64(20+rng.IntN(180)) * 1_000_000
			e.F[event.Currency] = keep("EUR")
			e.F[event.OrderID] = keep("o" + strconv.Itoa(offset+i))
		case x < 99:
			e.F[event.Type] = keep("subscribe")
			e.F[event.UserID] = keep("p" + strconv.Itoa(v) + "@example.com")
		default:
			e.F[event.Type] = keep("event")
		}
		en.Enrich(e, &r.Enriched)
		rows = append(rows, r)
		if own {
			credits = append(credits, chstore.Own(&r.Enriched).OwnOrDirect())
		}
		if len(rows) == batch || i == n-1 {
			var err error
			if own {
				err = store.InsertCredited(ctx, rows, &credits)
			} else {
				err = store.Insert(ctx, rows)
			}
			if err != nil {
				return err
			}
			rows, buf, credits = rows[:0], buf[:0], credits[:0]
		}
	}
	return nil
}
