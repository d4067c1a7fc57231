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
// every node over the local tables and writes into the local replicated
// table: each shard keeps its own rollups as its rows arrive.

// layout is what cluster mode knows of each table, from the migrations.
type layout struct {
	sharded map[string]string // sharded table -> its engine clause, {{path}} for the ZooKeeper path
	global  map[string]bool   // tables without site_id: replicated on every node
}

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
	reTableRef    = regexp.MustCompile(`(?i)\b(FROM|JOIN)(\s+)(\w+)\b`)
	reSiteColumn  = regexp.MustCompile(`(?m)(^|[(,])\s*site_id\s+\w`)
)

// tables is the layout of the migrations' tables.
var tables = classify()

func classify() layout {
	l := layout{sharded: map[string]string{}, global: map[string]bool{"schema_migrations": true}}
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
	return fmt.Sprintf("ENGINE = Replicated%sMergeTree(%s)%s", kind, params, rest)
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
			path := fmt.Sprintf("/clickhouse/tables/{shard}/%s/%s_local", db, name)
			return []string{
				fmt.Sprintf("CREATE TABLE %s%s%s %s %s", c[1], local(name), on, cols, strings.Replace(engine, "{{path}}", path, 1)),
				distributed(name),
			}
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
		return []string{fmt.Sprintf("CREATE MATERIALIZED VIEW %s%s%s TO %s AS %s", c[1], dist(c[2]), on, target(c[3], db), localRefs(c[4], db))}
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

// localRefs points every FROM and JOIN of a known table in sql at the
// node's own table, qualified with db (a view's query, an ALTER's
// subquery): rows of one site are all on one shard.
func localRefs(sql, db string) string {
	return reTableRef.ReplaceAllStringFunc(sql, func(m string) string {
		c := reTableRef.FindStringSubmatch(m)
		if _, ok := tables.sharded[c[3]]; ok || tables.global[c[3]] {
			return c[1] + c[2] + target(c[3], db)
		}
		return m
	})
}
