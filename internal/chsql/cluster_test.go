package chsql

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Every migration statement has a cluster form: a table with site_id is
// a replicated local table and a Distributed one, a view reads and writes
// local tables, an ALTER goes to the local table ON CLUSTER (and to the
// Distributed one for a column), and nothing reaches the cluster without
// ON CLUSTER but what needs none.
func TestClusterSQL(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for _, q := range m.Statements {
			out := ClusterSQL(q.SQL(), "db", "cl")
			for _, s := range out {
				up := strings.ToUpper(s)
				ddl := !strings.HasPrefix(up, "INSERT") && !strings.HasPrefix(up, "SELECT")
				if ddl && !strings.Contains(s, " ON CLUSTER cl") && !strings.HasPrefix(up, "ALTER TABLE DB.") {
					t.Errorf("%s: DDL without ON CLUSTER: %s", q.Name(), s)
				}
				if strings.Contains(up, "MERGETREE") && !strings.Contains(up, "REPLICATED") {
					t.Errorf("%s: a MergeTree that is not replicated: %s", q.Name(), s)
				}
			}
		}
	}
	cases := []struct{ in, want string }{
		{"CREATE TABLE IF NOT EXISTS events (\n site_id String,\n time DateTime\n) ENGINE = ReplacingMergeTree\nORDER BY (site_id, time)",
			"CREATE TABLE IF NOT EXISTS db.events_local ON CLUSTER cl (\n site_id String,\n time DateTime\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/events_local', '{replica}')\nORDER BY (site_id, time)\nSETTINGS replicated_deduplication_window = 1000" +
				"\nCREATE TABLE IF NOT EXISTS db.events ON CLUSTER cl AS db.events_local ENGINE = Distributed(cl, db, events_local, cityHash64(site_id))" +
				"\nCREATE TABLE IF NOT EXISTS db.events_in_local ON CLUSTER cl AS db.events_local ENGINE = Null" +
				"\nCREATE TABLE IF NOT EXISTS db.events_in ON CLUSTER cl AS db.events_local ENGINE = Distributed(cl, db, events_in_local, cityHash64(site_id))" +
				"\nCREATE MATERIALIZED VIEW IF NOT EXISTS db.events_store ON CLUSTER cl TO db.events_local AS SELECT * FROM db.events_in_local"},
		{"CREATE TABLE IF NOT EXISTS sites (site_id String, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY site_id",
			"CREATE TABLE IF NOT EXISTS db.sites_local ON CLUSTER cl (site_id String, version UInt64) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/sites_local', '{replica}', version) ORDER BY site_id\nSETTINGS replicated_deduplication_window = 1000" +
				"\nCREATE TABLE IF NOT EXISTS db.sites ON CLUSTER cl AS db.sites_local ENGINE = Distributed(cl, db, sites_local, cityHash64(site_id))"},
		{"CREATE TABLE IF NOT EXISTS exchange_rates (day Date, rate Float64, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY day",
			"CREATE TABLE IF NOT EXISTS db.exchange_rates ON CLUSTER cl (day Date, rate Float64, version UInt64) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/db/exchange_rates', '{replica}', version) ORDER BY day\nSETTINGS replicated_deduplication_window = 1000"},
		{"CREATE MATERIALIZED VIEW IF NOT EXISTS pages_daily_mv TO pages_daily AS\nSELECT site_id, countState() AS pageviews FROM events WHERE type = 'pageview' GROUP BY site_id",
			"CREATE MATERIALIZED VIEW IF NOT EXISTS db.pages_daily_mv ON CLUSTER cl TO db.pages_daily_local AS SELECT site_id, countState() AS pageviews, max(cityHash64(reinterpretAsString(event_id))) AS _blk FROM db.events_in_local WHERE type = 'pageview' GROUP BY site_id"},
		{"CREATE MATERIALIZED VIEW IF NOT EXISTS consents_mv TO consents AS SELECT site_id, c.1 AS purpose FROM events ARRAY JOIN [(1, 2)] AS c JOIN sites USING site_id",
			"CREATE MATERIALIZED VIEW IF NOT EXISTS db.consents_mv ON CLUSTER cl TO db.consents_local AS SELECT site_id, c.1 AS purpose, cityHash64(reinterpretAsString(event_id)) AS _blk FROM db.events_in_local ARRAY JOIN [(1, 2)] AS c JOIN db.sites_local USING site_id"},
		{"CREATE TABLE IF NOT EXISTS pages_daily (site_id String, pageviews AggregateFunction(count)) ENGINE = AggregatingMergeTree ORDER BY site_id",
			"CREATE TABLE IF NOT EXISTS db.pages_daily_local ON CLUSTER cl (site_id String, pageviews AggregateFunction(count),\n    _blk UInt64\n) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/db/pages_daily_local', '{replica}') ORDER BY site_id\nSETTINGS replicated_deduplication_window = 1000" +
				"\nCREATE TABLE IF NOT EXISTS db.pages_daily ON CLUSTER cl AS db.pages_daily_local ENGINE = Distributed(cl, db, pages_daily_local, cityHash64(site_id))"},
		{"INSERT INTO events (site_id, time)", "INSERT INTO events_in (site_id, time)"},
		// A database named as a table: its tables are left alone.
		{"INSERT INTO events.erasing_1_all (node, key)", "INSERT INTO events.erasing_1_all (node, key)"},
		{"ALTER TABLE sessions DELETE WHERE session_id IN (SELECT key FROM events.erasing_1)",
			"ALTER TABLE db.sessions_local ON CLUSTER cl DELETE WHERE session_id IN (SELECT key FROM events.erasing_1)"},
		{"ALTER TABLE events ADD COLUMN country String AFTER device",
			"ALTER TABLE db.events_local ON CLUSTER cl ADD COLUMN country String AFTER device\nALTER TABLE db.events ON CLUSTER cl_each ADD COLUMN country String AFTER device" +
				"\nALTER TABLE db.events_in_local ON CLUSTER cl_each ADD COLUMN country String AFTER device\nALTER TABLE db.events_in ON CLUSTER cl_each ADD COLUMN country String AFTER device"},
		{"ALTER TABLE sessions DELETE WHERE site_id = 's' AND session_id IN (SELECT session_id FROM events WHERE site_id = 's')",
			"ALTER TABLE db.sessions_local ON CLUSTER cl DELETE WHERE site_id = 's' AND session_id IN (SELECT session_id FROM db.events_local WHERE site_id = 's')"},
		{"ALTER TABLE people_touched DROP PARTITION 20260101", "ALTER TABLE db.people_touched_local ON CLUSTER cl DROP PARTITION 20260101"},
		{"ALTER TABLE access_users DELETE WHERE name = 'a'", "ALTER TABLE db.access_users DELETE WHERE name = 'a'"},
		{"DROP TABLE IF EXISTS visitors", "DROP TABLE IF EXISTS db.visitors ON CLUSTER cl\nDROP TABLE IF EXISTS db.visitors_local ON CLUSTER cl"},
		{"DROP TABLE IF EXISTS visitors_mv", "DROP TABLE IF EXISTS db.visitors_mv ON CLUSTER cl"},
		{"TRUNCATE TABLE sources_daily", "TRUNCATE TABLE db.sources_daily_local ON CLUSTER cl"},
		{"TRUNCATE TABLE exchange_rates", "TRUNCATE TABLE db.exchange_rates"},
		{"CREATE DATABASE IF NOT EXISTS footfall", "CREATE DATABASE IF NOT EXISTS footfall ON CLUSTER cl"},
		{"CREATE TABLE visit_backfill AS events", "CREATE TABLE db.visit_backfill_local ON CLUSTER cl AS db.events_local " + strings.Replace(tables.sharded["events"], "{{path}}", "/clickhouse/tables/{shard}/db/visit_backfill_local", 1) +
			"\nCREATE TABLE IF NOT EXISTS db.visit_backfill ON CLUSTER cl AS db.visit_backfill_local ENGINE = Distributed(cl, db, visit_backfill_local, cityHash64(site_id))"},
		{"INSERT INTO pages_daily (site_id) SELECT site_id FROM events", "INSERT INTO pages_daily (site_id) SELECT site_id FROM events"},
	}
	for _, c := range cases {
		if got := strings.Join(ClusterSQL(c.in, "db", "cl"), "\n"); got != strings.Join(strings.Fields(c.want), " ") && got != c.want {
			t.Errorf("ClusterSQL(%q):\n got  %s\n want %s", c.in, got, c.want)
		}
	}
	// Every table with site_id is sharded; those without are on every node.
	for _, name := range []string{"events", "sessions", "people", "identities", "segment_members", "sites", "visitor_visits"} {
		if _, ok := tables.sharded[name]; !ok {
			t.Errorf("%s is not sharded", name)
		}
	}
	for _, name := range []string{"schema_migrations", "access_users", "access_credentials", "exchange_rates", "erasure_key"} {
		if !tables.global[name] {
			t.Errorf("%s is not on every node", name)
		}
	}
}

// ClusterEnv names the test cluster's ClickHouse addresses (comma
// separated, all four nodes; make test-cluster sets it from
// deploy/cluster/cluster.sh env). Tests that need the cluster skip without it.
const ClusterEnv = "FOOTFALL_TEST_CLUSTER_ADDRS"

// The migrations on a 2 x 2 cluster: every table of the data replicated
// and sharded, a site's rows and rollups on one shard only, both replicas
// alike; run again from nothing recorded, they change nothing.
func TestMigrateCluster(t *testing.T) {
	ctx := context.Background()
	c, cfg := clusterDatabase(t, "mig")
	start := time.Now()
	if err := Migrate(ctx, c); err != nil {
		t.Fatal(err)
	}
	t.Logf("migrated on the cluster in %v", time.Since(start).Round(time.Millisecond))
	if err := Migrate(ctx, c); err != nil {
		t.Fatalf("twice: %v", err)
	}
	// Migrations cut short before their record: run again, every
	// statement of them finds its work done or does it again alike.
	if err := c.Driver().Exec(ctx, "ALTER TABLE "+cfg.Database+".schema_migrations DELETE WHERE version >= 20"); err != nil {
		t.Fatal(err)
	}
	ms, _ := Migrations()
	again := 0
	for _, m := range ms {
		if m.Version >= 20 {
			again++
		}
	}
	waitCount(t, c, "SELECT uniqExact(version) FROM schema_migrations", uint64(len(ms)-again))
	start = time.Now()
	if err := Migrate(ctx, c); err != nil {
		t.Fatalf("again: %v", err)
	}
	t.Logf("%d migrations run again in %v", again, time.Since(start).Round(time.Millisecond))
	waitCount(t, c, "SELECT uniqExact(version) FROM schema_migrations", uint64(len(ms)))

	nodes := cfg.Addrs()
	perNode := make([]map[string]string, len(nodes))
	for i, a := range nodes {
		n, err := Open(ctx, Config{Addr: a, Database: cfg.Database, User: "default"})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		rows, err := n.Driver().Query(ctx, "SELECT name, engine FROM system.tables WHERE database = currentDatabase()")
		if err != nil {
			t.Fatal(err)
		}
		perNode[i] = map[string]string{}
		for rows.Next() {
			var name, engine string
			if err := rows.Scan(&name, &engine); err != nil {
				t.Fatal(err)
			}
			perNode[i][name] = engine
		}
		rows.Close()
	}
	// The tables a later migration drops (the last statement of the
	// migrations that creates or drops each).
	gone := map[string]bool{}
	for _, m := range ms {
		for _, q := range m.Statements {
			if c := reDrop.FindStringSubmatch(q.sql); c != nil {
				gone[c[2]] = true
			} else if c := reCreateTable.FindStringSubmatch(q.sql); c != nil {
				delete(gone, c[2])
			}
		}
	}
	for name := range tables.sharded {
		if gone[name] {
			if _, ok := perNode[0][name]; ok {
				t.Errorf("%s still there", name)
			}
			continue
		}
		for i := range nodes {
			if e := perNode[i][name+"_local"]; !strings.HasPrefix(e, "Replicated") {
				t.Errorf("node %s: %s_local is %q", nodes[i], name, e)
			}
			if e := perNode[i][name]; e != "Distributed" {
				t.Errorf("node %s: %s is %q", nodes[i], name, e)
			}
		}
	}
	for name := range tables.sources {
		for i := range nodes {
			for table, want := range map[string]string{name + "_in_local": "Null", name + "_in": "Distributed", name + "_store": "MaterializedView"} {
				if e := perNode[i][table]; e != want {
					t.Errorf("node %s: %s is %q, want %s", nodes[i], table, e, want)
				}
			}
		}
	}
	for name := range tables.global {
		for i := range nodes {
			if e := perNode[i][name]; !strings.HasPrefix(e, "Replicated") {
				t.Errorf("node %s: %s is %q", nodes[i], name, e)
			}
		}
	}
	for i := range nodes {
		if len(perNode[i]) != len(perNode[0]) {
			t.Errorf("node %s has %d tables, node %s %d", nodes[i], len(perNode[i]), nodes[0], len(perNode[0]))
		}
	}
}

// clusterDatabase makes a new database (prefix_<time>) on the test cluster
// and opens it in cluster mode, not migrated; it is dropped ON CLUSTER when
// the test ends. Without ClusterEnv the test is skipped.
func clusterDatabase(t *testing.T, prefix string) (*Conn, Config) {
	t.Helper()
	addrs := os.Getenv(ClusterEnv)
	if addrs == "" {
		t.Skipf("%s not set: make test-cluster runs this on its own cluster", ClusterEnv)
	}
	ctx := context.Background()
	cfg := Config{Addr: addrs, Database: fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()), User: "default", Cluster: "footfall"}
	if err := CreateDatabase(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Driver().Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database+" ON CLUSTER footfall")
		c.Close()
	})
	return c, cfg
}

func waitCount(t *testing.T, c *Conn, q string, want uint64) {
	t.Helper()
	var got uint64
	for i := 0; i < 50; i++ {
		if err := c.Driver().QueryRow(context.Background(), q).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %d, want %d", q, got, want)
}

// The shards query (execPerShard) on one server: no such cluster, no
// rows. It runs here so that the current-ClickHouse check replays it.
func TestShardsQueryOneServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs ClickHouse (make test starts it)")
	}
	ctx := context.Background()
	addr := os.Getenv("FOOTFALL_CLICKHOUSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	cfg := Config{Addr: addr, Database: fmt.Sprintf("test_shards_%d", time.Now().UnixNano()), User: "default"}
	if err := CreateDatabase(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer c.Driver().Exec(ctx, "DROP DATABASE IF EXISTS "+cfg.Database)
	rows, err := c.Query(ctx, qShards, Args{"cluster": "no_such_cluster"})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Errorf("a shard of a cluster that is not there")
	}
}
