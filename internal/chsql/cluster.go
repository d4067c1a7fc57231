package chsql

import (
	"fmt"
	"regexp"
	"strings"
)

// Cluster mode (Config.Cluster, -clickhouse-cluster): the same migrations
// and statements, rewritten as they are sent, for a ClickHouse cluster of
// shards and replicas. There is one source of every table: the numbered
// migrations; a cluster gets them through ClusterSQL.
//
// Each table of the migrations whose columns hold site_id is sharded by
// cityHash64(site_id): its rows live in <table>_local, a
// Replicated*MergeTree at /clickhouse/tables/{shard}/<db>/<table>_local with
// the {replica} macro, and <table> is a Distributed table over them, the one
// every statement reads and inserts into. A site's rows, and so each
// visitor's and each person's (a person is linked within a site), are all
// on one shard: per-visitor and per-person joins, the people, sessions and
// segments tables, and ReplacingMergeTree's merging by key stay right
// shard by shard (distributed_product_mode = 'local' lets a subquery read the
// shard's own rows). A table without site_id (schema_migrations, the access
// tables, exchange_rates, erasure_key) is small and read whole by joins on
// every shard: it is one Replicated*MergeTree whose replicas are all the
// nodes (/clickhouse/tables/all/<db>/<table>), with no Distributed table.
//
// DDL goes ON CLUSTER <name>: CREATE and DROP run on every node; an ALTER of
// a sharded table runs on its local table once per shard (the replicas
// follow through ZooKeeper) and, for a column, on the Distributed table on
// every node through the cluster <name>_each, in which each node is a shard
// of its own (18.16 refuses an ALTER ON CLUSTER on a non-replicated table of
// a cluster with replicas, code 371). A materialized view is created on
// every node and writes into the local replicated table: each shard keeps
// its own rollups as its rows arrive.
//
// A table that views read (events) is written through a Null table, so
// that a retried insert fills every table exactly once. ClickHouse 18.16
// writes a block to the table, then to each view's table, and skips the
// views for a block its replicated table already holds: a replica killed
// between the two kept the events without their rollups, and the retry,
// finding the block there, never wrote them (one run of TestCluster in
// five). So in cluster mode the programs insert into <t>_in, a Distributed
// table over the Null <t>_in_local; the view <t>_store copies each block
// into <t>_local and every other view reads <t>_in_local too. Each target
// is then a replicated table of its own that drops a block it already
// holds (insert_deduplicate), and the processor resends a failed batch
// unchanged (processor/consume), so every table takes the retry's block
// once. A view's block is deduplicated by its content alone, and two
// different inserts can make the same rollup block (one page view of the
// same visitor on the same page and day): every view's table has a column
// _blk, the largest hash of the event ids of each of its rows, which makes
// their blocks differ. Each replicated table remembers the hashes of its
// last dedupWindow blocks (18.16's default, 100, is seconds of inserts).

// layout is what cluster mode knows of each table, from the migrations.
type layout struct {
	sharded map[string]string // sharded table -> its engine clause, {{path}} for the ZooKeeper path
	global  map[string]bool   // tables without site_id: replicated on every node
	sources map[string]bool   // tables views read: written through <t>_in
	targets map[string]bool   // tables views write: with a _blk column
}

// dedupWindow is how many of its last blocks' hashes each replicated
// table keeps, to drop a retried one.
const dedupWindow = 1000

// blkColumn is the column of a view's table that tells its blocks apart.
const blkColumn = "_blk UInt64"

var (
	reCreateTable = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s*(\(.*\))\s*ENGINE\s*=\s*(\w*)MergeTree\b(?:\s*\(([^()]*)\))?(.*)$`)
	reCreateAs    = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s+AS\s+(\w+)\s*$`)
	reCreateView  = regexp.MustCompile(`(?is)^CREATE\s+MATERIALIZED\s+VIEW\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s+TO\s+(\w+)\s+AS\s+(.*)$`)
	reDrop        = regexp.MustCompile(`(?is)^DROP\s+TABLE\s+(IF\s+EXISTS\s+)?(\w+)\s*$`)
	reTruncate    = regexp.MustCompile(`(?is)^TRUNCATE\s+TABLE\s+(IF\s+EXISTS\s+)?(\w+)\s*$`)
	reAlter       = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+(\w+)\s+(.*)$`)
	reOptimize    = regexp.MustCompile(`(?is)^OPTIMIZE\s+TABLE\s+(\w+)(.*)$`)
	reCreateDB    = regexp.MustCompile(`(?is)^CREATE\s+DATABASE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s*$`)
	reColumnDDL   = regexp.MustCompile(`(?is)^(ADD|DROP|MODIFY|COMMENT)\s+COLUMN\b`)
	reTableRef    = regexp.MustCompile(`(?i)\b(FROM|JOIN)(\s+)(\w+)\b(\.?)`)
	reSiteColumn  = regexp.MustCompile(`(?m)(^|[(,])\s*site_id\s+\w`)
	reViewSource  = regexp.MustCompile(`(?is)^(.*?)\s+FROM(\s+)(\w+)\b(.*)$`)
	reGroupBy     = regexp.MustCompile(`(?i)\bGROUP\s+BY\b`)
	reSettings    = regexp.MustCompile(`(?i)\bSETTINGS\b`)
	reInsert      = regexp.MustCompile(`(?is)^INSERT\s+INTO\s+(\w+)\b(.*)$`)
)

// tables is the layout of the migrations' tables.
var tables = classify()

func classify() layout {
	l := layout{sharded: map[string]string{}, global: map[string]bool{"schema_migrations": true},
		sources: map[string]bool{}, targets: map[string]bool{}}
	for _, m := range all {
		for _, q := range m.Statements {
			if c := reCreateView.FindStringSubmatch(q.sql); c != nil {
				l.targets[c[3]] = true
				if v := reViewSource.FindStringSubmatch(c[4]); v != nil {
					l.sources[v[3]] = true
				}
			}
		}
	}
	for _, m := range all {
		for _, q := range m.Statements {
			if c := reCreateTable.FindStringSubmatch(q.sql); c != nil {
				name := c[2]
				if reSiteColumn.MatchString(c[3]) {
					l.sharded[name] = replicated(c[4], c[5], c[6])
				} else {
					l.global[name] = true
				}
			} else if c := reCreateAs.FindStringSubmatch(q.sql); c != nil {
				if e, ok := l.sharded[c[3]]; ok {
					l.sharded[c[2]] = e
				}
			}
		}
	}
	return l
}

// replicated is the engine clause of a Replicated*MergeTree in place of
// kind+MergeTree(args) rest, its ZooKeeper path left as {{path}}.
func replicated(kind, args, rest string) string {
	params := "'{{path}}', '{replica}'"
	if a := strings.TrimSpace(args); a != "" {
		params += ", " + a
	}
	window := fmt.Sprintf("replicated_deduplication_window = %d", dedupWindow)
	if rest = strings.TrimRight(rest, " \t\n;"); reSettings.MatchString(rest) {
		rest += ", " + window
	} else {
		rest += "\nSETTINGS " + window
	}
	return fmt.Sprintf("ENGINE = Replicated%sMergeTree(%s)%s", kind, params, rest)
}

// withBlk is a table's column list cols with the _blk column added.
func withBlk(cols string) string {
	i := strings.LastIndex(cols, ")")
	return strings.TrimRight(cols[:i], " \t\n") + ",\n    " + blkColumn + "\n)"
}

// ClusterSQL is what cluster mode sends for the statement sql in database
// db on cluster: one or more statements, in order. A statement that needs
// no change (a SELECT, an INSERT into a Distributed table) comes back as it
// is.
func ClusterSQL(sql, db, cluster string) []string {
	sql = strings.TrimSpace(sql)
	local := func(t string) string { return db + "." + t + "_local" }
	dist := func(t string) string { return db + "." + t }
	on := " ON CLUSTER " + cluster
	each := " ON CLUSTER " + cluster + "_each"
	distributed := func(t string) string {
		return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s AS %s ENGINE = Distributed(%s, %s, %s_local, cityHash64(site_id))",
			dist(t), on, local(t), cluster, db, t)
	}
	if c := reCreateDB.FindStringSubmatch(sql); c != nil {
		return []string{"CREATE DATABASE " + c[1] + c[2] + on}
	}
	if c := reCreateTable.FindStringSubmatch(sql); c != nil {
		name, cols := c[2], c[3]
		engine := replicated(c[4], c[5], c[6])
		if _, ok := tables.sharded[name]; ok || reSiteColumn.MatchString(cols) {
			if tables.targets[name] {
				cols = withBlk(cols)
			}
			path := fmt.Sprintf("/clickhouse/tables/{shard}/%s/%s_local", db, name)
			out := []string{
				fmt.Sprintf("CREATE TABLE %s%s%s %s %s", c[1], local(name), on, cols, strings.Replace(engine, "{{path}}", path, 1)),
				distributed(name),
			}
			if tables.sources[name] {
				// Written through <name>_in: see the comment at the top.
				out = append(out,
					fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s_in_local%s AS %s ENGINE = Null", dist(name), on, local(name)),
					fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s_in%s AS %s ENGINE = Distributed(%s, %s, %s_in_local, cityHash64(site_id))",
						dist(name), on, local(name), cluster, db, name),
					fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s_store%s TO %s AS SELECT * FROM %s_in_local",
						dist(name), on, local(name), dist(name)))
			}
			return out
		}
		path := fmt.Sprintf("/clickhouse/tables/all/%s/%s", db, name)
		return []string{fmt.Sprintf("CREATE TABLE %s%s%s %s %s", c[1], dist(name), on, cols, strings.Replace(engine, "{{path}}", path, 1))}
	}
	if c := reCreateAs.FindStringSubmatch(sql); c != nil {
		if engine, ok := tables.sharded[c[3]]; ok {
			path := fmt.Sprintf("/clickhouse/tables/{shard}/%s/%s_local", db, c[2])
			return []string{
				fmt.Sprintf("CREATE TABLE %s%s%s AS %s %s", c[1], local(c[2]), on, local(c[3]), strings.Replace(engine, "{{path}}", path, 1)),
				distributed(c[2]),
			}
		}
	}
	if c := reCreateView.FindStringSubmatch(sql); c != nil {
		return []string{fmt.Sprintf("CREATE MATERIALIZED VIEW %s%s%s TO %s AS %s", c[1], dist(c[2]), on, target(c[3], db), viewQuery(c[4], db))}
	}
	if c := reInsert.FindStringSubmatch(sql); c != nil && tables.sources[c[1]] && !strings.HasPrefix(c[2], ".") {
		return []string{"INSERT INTO " + c[1] + "_in" + c[2]}
	}
	if c := reDrop.FindStringSubmatch(sql); c != nil {
		if _, ok := tables.sharded[c[2]]; ok {
			return []string{"DROP TABLE " + c[1] + dist(c[2]) + on, "DROP TABLE " + c[1] + local(c[2]) + on}
		}
		return []string{"DROP TABLE " + c[1] + dist(c[2]) + on}
	}
	if c := reTruncate.FindStringSubmatch(sql); c != nil {
		if _, ok := tables.sharded[c[2]]; ok {
			return []string{"TRUNCATE TABLE " + c[1] + local(c[2]) + on}
		}
		// Every node a replica of it: the others follow the one that takes
		// it (sent ON CLUSTER, the four replicas' truncations waited for
		// each other for ever).
		return []string{"TRUNCATE TABLE " + c[1] + dist(c[2])}
	}
	if c := reAlter.FindStringSubmatch(sql); c != nil {
		name, rest := c[1], localRefs(c[2], db)
		if _, ok := tables.sharded[name]; !ok {
			// Replicated on every node: the replicas follow the one that
			// takes the ALTER.
			return []string{"ALTER TABLE " + dist(name) + " " + rest}
		}
		out := []string{"ALTER TABLE " + local(name) + on + " " + rest}
		if reColumnDDL.MatchString(rest) {
			out = append(out, "ALTER TABLE "+dist(name)+each+" "+c[2])
			if tables.sources[name] {
				// The Null table and its Distributed table alike (the
				// view <name>_store copies them by name).
				out = append(out, "ALTER TABLE "+dist(name)+"_in_local"+each+" "+c[2], "ALTER TABLE "+dist(name)+"_in"+each+" "+c[2])
			}
		}
		return out
	}
	if c := reOptimize.FindStringSubmatch(sql); c != nil {
		if _, ok := tables.sharded[c[1]]; ok {
			return []string{"OPTIMIZE TABLE " + local(c[1]) + on + c[2]}
		}
	}
	return []string{sql}
}

// target is the table a view writes, or a TRUNCATE empties: the local one
// of a sharded table.
func target(t, db string) string {
	if _, ok := tables.sharded[t]; ok {
		return db + "." + t + "_local"
	}
	return db + "." + t
}

// viewQuery is a view's query as a cluster runs it: it reads the Null
// table its source is written through (<t>_in_local), JOINs read the
// node's own tables, and it adds _blk, the largest hash of the event ids
// of each row it makes (see the comment at the top).
func viewQuery(sql, db string) string {
	v := reViewSource.FindStringSubmatch(sql)
	if v == nil || !tables.sources[v[3]] {
		return localRefs(sql, db)
	}
	blk := "cityHash64(reinterpretAsString(event_id))"
	if reGroupBy.MatchString(v[4]) {
		blk = "max(" + blk + ")"
	}
	return localRefs(v[1], db) + ", " + blk + " AS _blk FROM" + v[2] + db + "." + v[3] + "_in_local" + localRefs(v[4], db)
}

// localRefs points every FROM and JOIN of a known table in sql at the
// node's own table, qualified with db (a view's query, an ALTER's
// subquery): rows of one site are all on one shard.
func localRefs(sql, db string) string {
	return reTableRef.ReplaceAllStringFunc(sql, func(m string) string {
		c := reTableRef.FindStringSubmatch(m)
		if c[4] != "" {
			return m // a database's name (db.table), not a table's
		}
		if _, ok := tables.sharded[c[3]]; ok || tables.global[c[3]] {
			return c[1] + c[2] + target(c[3], db)
		}
		return m
	})
}
