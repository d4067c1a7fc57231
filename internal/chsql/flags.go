package chsql

import "flag"

// RegisterFlags declares -clickhouse-addr, -clickhouse-db, -clickhouse-user,
// -clickhouse-password and -clickhouse-cluster on fs, with their defaults: the same flags
// in every program that reaches ClickHouse, so that one set of
// FOOTFALL_CLICKHOUSE_* variables configures them all.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "clickhouse-addr", "127.0.0.1:9000", "ClickHouse native protocol address (HTTP is not used); several, comma separated, are used in turn, passing over one that does not answer")
	fs.StringVar(&c.Database, "clickhouse-db", "footfall", "ClickHouse database (the processor creates it if missing)")
	fs.StringVar(&c.User, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.Password, "clickhouse-password", "", "ClickHouse password")
	fs.StringVar(&c.Cluster, "clickhouse-cluster", "", "ClickHouse cluster (remote_servers) the database lives on: replicated, sharded tables created ON CLUSTER; empty for one server")
}
