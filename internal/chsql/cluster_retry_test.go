package chsql

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A retried insert on a cluster fills every table once. The events of a
// block stored by a replica that died before its views' parts (written
// here straight into events_local), sent again through events_in, are not
// stored twice and reach the views; two different blocks that make the
// same rollup rows (one page view of the same visitor on the same page
// and day) are both counted; a block sent twice is counted once
// everywhere. On 18.16, with the views on events_local, the retry's views
// were skipped (pages_daily 0 where 1) and, with views on a Null table
// without _blk, the second block's rollup was dropped as a copy (1 where 2).
func TestClusterRetry(t *testing.T) {
	ctx := context.Background()
	c, cfg := clusterDatabase(t, "retry")
	if err := Migrate(ctx, c); err != nil {
		t.Fatal(err)
	}
	nodes := cfg.Addrs()
	node := func(i int) *Conn {
		n, err := Open(ctx, Config{Addr: nodes[i], Database: cfg.Database, User: "default"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	first, third := node(0), node(2) // shard 1's first replica; a node of shard 2
	// A site of shard 1 (the Distributed tables' shard is cityHash64(site_id)
	// modulo the two shards' weights).
	var site string
	for i := 0; site == ""; i++ {
		var shard uint8
		s := fmt.Sprintf("site%d", i)
		if err := first.Driver().QueryRow(ctx, "SELECT cityHash64('"+s+"') % 2").Scan(&shard); err != nil {
			t.Fatal(err)
		}
		if shard == 0 {
			site = s
		}
	}
	cols := "(site_id, event_id, time, type, visitor_id, session_id, url_path, visit_source)"
	row := func(id int) string {
		return fmt.Sprintf("SELECT '%s', toUUID('00000000-0000-0000-0000-%012d'), toDateTime('2026-11-30 10:00:00'), 'pageview', 'v1', 's1', '/shoes', 'google'", site, id)
	}
	insert := func(n *Conn, table, values string) {
		t.Helper()
		// INSERT ... SELECT: the driver's Exec waits for a block after
		// an INSERT ... VALUES.
		if err := n.Driver().Exec(ctx, "INSERT INTO "+cfg.Database+"."+table+" "+cols+" "+values); err != nil {
			t.Fatalf("insert into %s: %v", table, err)
		}
	}
	check := func(step string, events, views uint64) {
		t.Helper()
		for _, q := range []struct {
			sql  string
			want uint64
		}{
			{"SELECT count() FROM events WHERE site_id = '" + site + "'", events},
			{"SELECT countMerge(pageviews) FROM pages_daily WHERE site_id = '" + site + "'", views},
			{"SELECT countIfMerge(pageviews) FROM sources_daily WHERE site_id = '" + site + "'", views},
			{"SELECT countIfMerge(pageviews) FROM events_hourly WHERE site_id = '" + site + "'", views},
			{"SELECT countIfMerge(pageviews) FROM session_parts WHERE site_id = '" + site + "'", views},
		} {
			var got uint64
			for i := 0; ; i++ {
				if err := c.Driver().QueryRow(ctx, q.sql).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got == q.want || i == 50 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got != q.want {
				t.Errorf("%s: %s: %d, want %d", step, strings.SplitN(q.sql, " WHERE", 2)[0], got, q.want)
			}
		}
	}
	// The part a killed replica committed: events without their views.
	insert(first, "events_local", row(1))
	check("events stored, views not", 1, 0)
	// The processor's retry, the same block through another node.
	insert(third, "events_in", row(1))
	check("the retry", 1, 1)
	// Another event making the same rollup rows, then it again.
	insert(third, "events_in", row(2))
	check("a second event", 2, 2)
	insert(first, "events_in", row(2))
	check("the second event again", 2, 2)
	// OPTIMIZE of a sharded table goes to one replica of each shard, as
	// migration 0016's backfill sends it.
	if err := c.Exec(ctx, optimizeBackfill, Args{"partition": uint32(202611)}); err != nil {
		t.Fatalf("optimize on the cluster: %v", err)
	}
	check("after OPTIMIZE", 2, 2)
}
