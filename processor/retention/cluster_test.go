package retention

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/tests/stacktest"
)

// TestClusterRetentionPending: on a 2 x 2 cluster (FOOTFALL_TEST_CLUSTER_ADDRS,
// set by make test-cluster), a deletion still under way on the replicas
// (their merges stopped, so its mutation stays undone) is seen by the
// next round, which sends none again: the wait reads every node's
// system.mutations under the local table's name (events_local), where the
// mutations of a sharded table are. Once the replicas merge again the
// rows are gone from both.
func TestClusterRetentionPending(t *testing.T) {
	ctx := context.Background()
	store, nodes := stacktest.ClusterStore(t, "ret")
	if len(nodes) != 4 {
		t.Fatalf("%d nodes, want the 4 of deploy/cluster", len(nodes))
	}
	// Sites short and keep are on shard 1 (nodes 1 and 2: cityHash64 % 2 = 0).
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var hits []stacktest.Hit
	for site, at := range map[string][]time.Time{"short": {date(2026, 10, 20), date(2026, 11, 20)}, "keep": {date(2026, 10, 21)}} {
		for i, a := range at {
			v := fmt.Sprintf("%s-%d", site, i)
			hits = append(hits, stacktest.Hit{At: a, Fields: map[event.Field]string{event.Site: site, event.Type: "pageview",
				event.VisitorID: v, event.SessionID: v + "-s", event.URL: "https://" + site + ".example/"}})
		}
	}
	stacktest.Insert(t, store, hits...)
	old := func(n *chsql.Conn) uint64 {
		var c uint64
		if err := n.Driver().QueryRow(ctx, "SELECT count() FROM events_local WHERE site_id = 'short' AND time < '2026-10-31 00:00:00'").Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for try := 0; old(nodes[0]) != 1 || old(nodes[1]) != 1; try++ {
		if try == 50 {
			t.Fatal("short's old event did not reach both replicas of shard 1")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Both replicas leave the deletion undone.
	for _, n := range nodes[:2] {
		if err := n.Driver().Exec(ctx, "SYSTEM STOP MERGES "+store.DB().Database()+".events_local"); err != nil {
			t.Fatal(err)
		}
	}
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		for _, n := range nodes[:2] {
			if err := n.Driver().Exec(ctx, "SYSTEM START MERGES "+store.DB().Database()+".events_local"); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer start()
	j := New(store.DB(), Config{Days: 90, Interval: time.Hour}, func(context.Context) (map[string]int, error) {
		return map[string]int{"short": 30, "keep": 0}, nil
	})
	j.now = func() time.Time { return now }
	res, err := j.Round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Deleted, "events:short") {
		t.Fatalf("first round: deleted %v, want events:short", res.Deleted)
	}
	mutations := func() uint64 {
		var c uint64
		if err := store.DB().Driver().QueryRow(ctx, "SELECT count() FROM cluster('footfall_each', system, mutations) WHERE database = '"+
			store.DB().Database()+"' AND table = 'events_local'").Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Each node lists the mutation once it has read it from ZooKeeper
	// (an ALTER ON CLUSTER of a local table goes to every shard).
	for try := 0; mutations() < 4; try++ {
		if try == 50 {
			t.Fatalf("events_local: %d mutations listed, want one on each node", mutations())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for round := 2; round <= 3; round++ {
		res, err = j.Round(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(res.Deleted, "events:short") {
			t.Errorf("round %d sent the deletion again while it was under way: %v", round, res.Deleted)
		}
	}
	if n := mutations(); n != 4 {
		t.Errorf("events_local: %d mutations on the nodes, want 4 (one deletion, on every node)", n)
	}
	start()
	for try := 0; old(nodes[0])+old(nodes[1]) != 0; try++ {
		if try == 100 {
			t.Fatalf("short's old event still on the replicas (%d, %d) once they merge again", old(nodes[0]), old(nodes[1]))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
