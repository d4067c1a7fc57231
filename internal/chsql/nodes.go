package chsql

import (
	"fmt"
	"regexp"
)

// What a statement about the server's own state (its mutations, parts,
// running queries) reads in cluster mode: every node's system table, under
// the names the rows live in. On one server these are the statements'
// former text, unchanged.

var systemTable = regexp.MustCompile(`^(mutations|parts|processes|tables|one)$`)

// EachCluster is the cluster definition in which every node is a shard of
// its own (<cluster>_each, see ClusterSQL): a Distributed read over it
// reads every node once, a write to shard i reaches node i only. "" on one
// server.
func (c *Conn) EachCluster() string {
	if c.cluster == "" {
		return ""
	}
	return c.cluster + "_each"
}

// System is the SQL of the system table name (mutations, parts,
// processes, tables, one) of every node the database lives on:
// system.<name> on one server, cluster('<cluster>_each', system, <name>)
// on a cluster, whose rows come from each node in turn (a replica's
// mutations and parts are its own). It panics on another name (a
// programming error).
func (c *Conn) System(name string) string {
	if !systemTable.MatchString(name) {
		panic(fmt.Sprintf("chsql: system table %q is not one a statement may read on every node", name))
	}
	if c.cluster == "" {
		return "system." + name
	}
	return fmt.Sprintf("cluster('%s', system, %s)", c.EachCluster(), name)
}

// DatabaseSQL is the database's name as the WHERE of a statement over
// System reads it: currentDatabase() on one server; on a cluster the name
// quoted (it was checked at Open), since a remote node's
// currentDatabase() is its own default one.
func (c *Conn) DatabaseSQL() string {
	if c.cluster == "" {
		return "currentDatabase()"
	}
	return "'" + c.db + "'"
}

// Stored is the name of the table that holds table's rows, as
// system.mutations and system.parts name it: table on one server; on a
// cluster <table>_local for a sharded table (see ClusterSQL), table for
// one replicated on every node.
func (c *Conn) Stored(table string) string {
	if c.cluster == "" {
		return table
	}
	if _, ok := tables.sharded[table]; ok {
		return table + "_local"
	}
	return table
}

// Logical is the table that statements name for stored, a table as
// system.tables or system.columns list it: on a cluster, <table> for
// <table>_local of a sharded table (its Distributed table), stored
// itself otherwise.
func (c *Conn) Logical(stored string) string {
	if c.cluster == "" {
		return stored
	}
	if n := len(stored) - len("_local"); n > 0 && stored[n:] == "_local" {
		if _, ok := tables.sharded[stored[:n]]; ok {
			return stored[:n]
		}
	}
	return stored
}
