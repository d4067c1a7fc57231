package profiles

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/refresh"
	"footfall/tests/stacktest"
)

// namingOnNode counts, on one node, the rows of every table that stores
// rows (the local replicated tables and those on every node; not the
// Distributed, Null or view tables) with a String or Array(String) column
// holding one of names, in site (tables without site_id: any site). A
// table added later is covered without a change here.
func namingOnNode(t *testing.T, n *chsql.Conn, site string, names []string) map[string]uint64 {
	t.Helper()
	ctx := context.Background()
	rows, err := n.Driver().Query(ctx, `SELECT table, groupArray(name), groupArray(type), max(name = 'site_id') FROM system.columns
WHERE database = currentDatabase() AND (type = 'String' OR type = 'Array(String)')
  AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree')
GROUP BY table ORDER BY table`)
	if err != nil {
		t.Fatal(err)
	}
	type table struct {
		name        string
		cols, types []string
		site        uint8
	}
	var tables []table
	for rows.Next() {
		var tb table
		if err := rows.Scan(&tb.name, &tb.cols, &tb.types, &tb.site); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tb)
	}
	rows.Close()
	if len(tables) < 20 {
		t.Fatalf("%d tables of rows on a node: not the migrated database?", len(tables))
	}
	var quoted []string
	for _, v := range names {
		quoted = append(quoted, "'"+v+"'")
	}
	out := map[string]uint64{}
	for _, tb := range tables {
		var or []string
		for i, c := range tb.cols {
			if c == "site_id" {
				continue
			}
			if tb.types[i] == "Array(String)" {
				or = append(or, "hasAny("+c+", ["+strings.Join(quoted, ", ")+"])")
			} else {
				or = append(or, c+" IN ("+strings.Join(quoted, ", ")+")")
			}
		}
		if len(or) == 0 {
			continue
		}
		where := "(" + strings.Join(or, " OR ") + ")"
		if tb.site == 1 {
			where = "site_id = '" + site + "' AND " + where
		}
		var c uint64
		if err := n.Driver().QueryRow(ctx, "SELECT count() FROM "+tb.name+" WHERE "+where).Scan(&c); err != nil {
			t.Fatalf("%s: %v", tb.name, err)
		}
		if c > 0 {
			out[tb.name] = c
		}
	}
	return out
}

// TestClusterErasure erases a person on a 2 x 2 cluster: her site's rows
// are on shard 1 (nodes 1 and 2, both replicas), another site with the
// same visitor id on shard 2. Her export and profile view read every
// identifier (the tables of identifiers are on every node: a SELECT over
// a Distributed table reads the copy of the node it runs on); after the
// erasure no node's local table holds a row of her, the other person's
// rows and the other site's are all there on every node, and no table of
// identifiers is left.
func TestClusterErasure(t *testing.T) {
	store, nodes := stacktest.ClusterStore(t, "erase")
	if len(nodes) != 4 {
		t.Fatalf("%d nodes, want the 4 of deploy/cluster", len(nodes))
	}
	ctx := context.Background()
	s := NewStore(store.DB(), DefaultRules)
	day := 24 * time.Hour
	t0 := time.Now().UTC().Truncate(time.Second).Add(-20 * day)
	hit := func(site string, at time.Time, visitor, typ string, more map[event.Field]string, revenue int64, props ...string) stacktest.Hit {
		f := map[event.Field]string{event.Site: site, event.Type: typ, event.VisitorID: visitor, event.URL: "https://shop.example/"}
		for k, v := range more {
			f[k] = v
		}
		h := stacktest.Hit{At: at, Fields: f, Revenue: revenue, Props: props}
		if f[event.UserID] != "" {
			h.Ingest = event.IngestAPI
		}
		return h
	}
	stacktest.Insert(t, store,
		hit("shop", t0, "dev-a", "pageview", map[event.Field]string{event.URL: "https://shop.example/shoes", event.SessionID: "sa1"}, 0),
		hit("shop", t0.Add(day), "dev-a", "subscribe", map[event.Field]string{event.UserID: "ann@shop.example", event.SessionID: "sa2"}, 0, "lists", "newsletter"),
		hit("shop", t0.Add(day), "dev-a", "purchase", map[event.Field]string{event.OrderID: "ann-o1", event.Currency: "EUR", event.SessionID: "sa2"}, 29_900_000),
		hit("shop", t0.Add(2*day), "", "purchase", map[event.Field]string{event.UserID: "ann@shop.example", event.OrderID: "ann-o2"}, 50_000_000),
		hit("shop", t0.Add(3*day), "dev-b", "pageview", map[event.Field]string{event.SessionID: "sb1"}, 0),
		hit("shop", t0.Add(3*day), "dev-b", "identify", map[event.Field]string{event.UserID: "ann@shop.example", event.SessionID: "sb1"}, 0),
		// Bob, on the same site and shard.
		hit("shop", t0, "dev-c", "pageview", map[event.Field]string{event.SessionID: "sc1"}, 0),
		hit("shop", t0.Add(day), "dev-c", "identify", map[event.Field]string{event.UserID: "bob@shop.example", event.SessionID: "sc1"}, 0),
		hit("shop", t0.Add(day), "dev-c", "purchase", map[event.Field]string{event.OrderID: "bob-o1", event.SessionID: "sc1"}, 10_000_000),
		// Another site, on shard 2, whose visitor dev-a is someone else.
		hit("blog", t0, "dev-a", "pageview", map[event.Field]string{event.SessionID: "sa1"}, 0),
	)
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refresh(ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	ann := []string{"dev-a", "dev-b", "ann@shop.example", "u:ann@shop.example", "ann-o1", "ann-o2", "sa1", "sa2", "sb1"}
	bob := []string{"dev-c", "bob@shop.example", "bob-o1", "sc1"}
	// Both replicas of shard 1 hold the site's rows, shard 2 none; the
	// second replica fetches them after the insert returns.
	alike := func(what string, site string, names []string, shard []int) []map[string]uint64 {
		t.Helper()
		var got []map[string]uint64
		for try := 0; ; try++ {
			got = nil
			for _, i := range shard {
				got = append(got, namingOnNode(t, nodes[i], site, names))
			}
			if fmt.Sprint(got[0]) == fmt.Sprint(got[1]) || try == 50 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
			t.Fatalf("%s: the two replicas differ:\n%v\n%v", what, got[0], got[1])
		}
		return got
	}
	annBefore := alike("Ann before", "shop", ann, []int{0, 1})
	bobBefore := alike("Bob before", "shop", bob, []int{0, 1})
	blogBefore := alike("blog before", "blog", []string{"dev-a", "sa1"}, []int{2, 3})
	for _, want := range []string{"events_local", "people_local", "identities_local"} {
		if annBefore[0][want] == 0 || bobBefore[0][want] == 0 {
			t.Fatalf("before the erasure %s of node 1 holds no row of Ann or Bob (%v, %v): the test would prove nothing", want, annBefore[0], bobBefore[0])
		}
	}
	if len(blogBefore[0]) == 0 {
		t.Fatal("the other site's dev-a has no rows")
	}
	for _, i := range []int{2, 3} {
		if n := namingOnNode(t, nodes[i], "shop", append(slices.Clone(ann), bob...)); len(n) != 0 {
			t.Fatalf("node %d, of shard 2, holds rows of site shop: %v (sharding by site_id?)", i+1, n)
		}
	}
	t.Logf("Ann's rows on each replica of shard 1 before the erasure: %v", annBefore[0])

	// The export and the profile view, several times: each statement may
	// go to any node.
	for i := 0; i < 4; i++ {
		x, err := s.Export(ctx, "shop", Ref{UserID: "ann@shop.example"})
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		if len(x.Events) != 6 || !slices.Equal(x.Visitors, []string{"dev-a", "dev-b", "u:ann@shop.example"}) || x.Profile.Orders != 2 {
			t.Errorf("export %d: %d events, visitors %v, %d orders; want 6, dev-a dev-b u:ann, 2", i, len(x.Events), x.Visitors, x.Profile.Orders)
		}
		err = s.WithPerson(ctx, "shop", Ref{VisitorID: "dev-b"}, func(p Person, visitors []string, in Visitors) error {
			if p.Key != "ann@shop.example" || p.Orders != 2 || p.Devices != 3 {
				t.Errorf("profile view %d: %+v", i, p)
			}
			ev, err := s.Events(ctx, "shop", in, 100)
			if err != nil {
				return err
			}
			if len(ev) != 6 {
				t.Errorf("profile view %d: %d events, want 6", i, len(ev))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("profile view: %v", err)
		}
	}

	// A node restarted while a table of identifiers is in use comes back
	// with its copy empty (Memory): the statements that ran there read
	// nothing, which intact finds (the erasure and withKeys then fail).
	k, err := s.createKeys(ctx, "viewing")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.put(ctx, map[string][]string{kindVisitor: {"dev-a", "dev-b"}}); err != nil {
		t.Fatal(err)
	}
	if err := k.intact(ctx); err != nil {
		t.Fatalf("copies just filled: %v", err)
	}
	for _, q := range []string{"DETACH TABLE " + k.name, "ATTACH TABLE " + k.name} {
		if err := nodes[2].Driver().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.intact(ctx); err == nil {
		t.Error("node 3's copy emptied as by a restart, and intact found nothing wrong")
	} else {
		t.Logf("node 3 restarted: %v", err)
	}
	if err := k.drop(ctx); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	e, err := s.Erase(ctx, "shop", Ref{VisitorID: "dev-b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("erased in %v: %+v", time.Since(start).Round(time.Millisecond), e)
	// Right away: Erase returned once every replica's mutations were done.
	for i, n := range nodes {
		if left := namingOnNode(t, n, "shop", ann); len(left) != 0 {
			t.Errorf("node %d still holds rows of Ann: %v", i+1, left)
		}
		want := map[string]uint64{}
		if i < 2 {
			want = bobBefore[0]
		}
		if got := namingOnNode(t, n, "shop", bob); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("node %d: Bob's rows %v, want %v as before", i+1, got, want)
		}
		if i >= 2 {
			if got := namingOnNode(t, n, "blog", []string{"dev-a", "sa1"}); fmt.Sprint(got) != fmt.Sprint(blogBefore[0]) {
				t.Errorf("node %d: the other site's dev-a %v, want %v as before", i+1, got, blogBefore[0])
			}
		}
		var kept uint64
		if err := n.Driver().QueryRow(ctx, `SELECT count() FROM system.tables WHERE database = currentDatabase()
AND match(name, '^(erasing|exporting|viewing)_')`).Scan(&kept); err != nil {
			t.Fatal(err)
		}
		if kept != 0 {
			t.Errorf("node %d keeps %d tables of identifiers", i+1, kept)
		}
	}
	if _, _, err := s.Get(ctx, "shop", Ref{UserID: "ann@shop.example"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("erased person: %v", err)
	}

	// The people refresh's old days of people_touched: listed from every
	// node's parts of people_touched_local, dropped on every replica.
	old := time.Now().UTC().Add(-refresh.TouchedKeep - 3*day)
	b, err := store.DB().Driver().PrepareBatch(ctx, "INSERT INTO people_touched (site_id, visitor_id, touched_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"shop", "blog"} {
		if err := b.Append(site, "x", old); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	touchedOld := func(n *chsql.Conn) uint64 {
		var c uint64
		if err := n.Driver().QueryRow(ctx, "SELECT count() FROM people_touched_local WHERE touched_at < now() - 3 * 86400").Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for try := 0; ; try++ {
		all := true
		for _, n := range nodes {
			all = all && touchedOld(n) == 1
		}
		if all {
			break
		}
		if try == 50 {
			t.Fatal("the old day of people_touched did not reach every replica")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		if c := touchedOld(n); c != 0 {
			t.Errorf("node %d: people_touched_local keeps %d rows of a day past refresh.TouchedKeep after a refresh", i+1, c)
		}
	}
}

// A cluster the server does not know has no nodes to hold a table of
// identifiers: an error, not a table filled on no node. (Runs on the
// single server of make test, as every registered statement must.)
func TestClusterNodesUnknown(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	n, err := clusterNodes(context.Background(), store.DB(), "no_such_cluster_each")
	if err == nil || n != 0 {
		t.Fatalf("nodes of an unknown cluster: %d, %v; want an error", n, err)
	}
}

// The check that every node answers, on one server: system.one's one row.
// (Runs on the single server of make test, as every registered statement
// must.)
func TestNodesAnswerOneServer(t *testing.T) {
	_, store := stacktest.ClickHouse(t)
	if err := nodesAnswer(context.Background(), store.DB(), 1); err != nil {
		t.Fatal(err)
	}
	if err := nodesAnswer(context.Background(), store.DB(), 2); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("2 nodes wanted of one server: %v, want ErrNodeDown", err)
	}
}

// One node of four down (the other shard's second replica): the people
// refresh still runs (the old touched days wait for a later one), and an
// export, which puts the person's identifiers on every node, answers
// ErrNodeDown at once rather than after ON CLUSTER DDL's timeouts (6
// minutes before: a reviewer's finding).
func TestClusterNodeDown(t *testing.T) {
	store, _ := stacktest.ClusterStore(t, "nodedown")
	ctx := context.Background()
	s := NewStore(store.DB(), DefaultRules)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-48 * time.Hour)
	hit := func(at time.Time, typ string) stacktest.Hit {
		return stacktest.Hit{At: at, Ingest: event.IngestAPI, Fields: map[event.Field]string{event.Site: "shop", event.Type: typ,
			event.VisitorID: "dev-a", event.UserID: "ann@shop.example", event.SessionID: "s1", event.URL: "https://shop.example/"}}
	}
	stacktest.Insert(t, store, hit(t0, "identify"))
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if x, err := s.Export(ctx, "shop", Ref{UserID: "ann@shop.example"}); err != nil || len(x.Events) != 1 {
		t.Fatalf("export, every node up: %d events, %v", len(x.Events), err)
	}
	cluster := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("../../deploy/cluster/cluster.sh", args...).CombinedOutput(); err != nil {
			t.Fatalf("cluster.sh %v: %v\n%s", args, err, out)
		}
	}
	cluster("stop", "ch4")
	t.Cleanup(func() { cluster("start", "ch4"); cluster("wait", "ch4") })

	stacktest.Insert(t, store, hit(t0.Add(time.Hour), "pageview"))
	if _, err := s.Refresh(ctx, "shop"); err != nil {
		t.Errorf("refresh with ch4 down: %v", err)
	}
	start := time.Now()
	_, err := s.Export(ctx, "shop", Ref{UserID: "ann@shop.example"})
	took := time.Since(start)
	if !errors.Is(err, ErrNodeDown) {
		t.Errorf("export with ch4 down: %v, want ErrNodeDown", err)
	}
	if took > 15*time.Second {
		t.Errorf("export with ch4 down answered after %v", took.Round(time.Millisecond))
	}
	t.Logf("export with ch4 down: %v in %v", err, took.Round(time.Millisecond))
}
