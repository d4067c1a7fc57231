package chsql

import "flag"

// RegisterFlags declares -clickhouse-addr, -clickhouse-db, -clickhouse-user
// and -clickhouse-password on fs, with their defaults: the same four flags
// in every program that reaches ClickHouse, so that one set of
// FOOTFALL_CLICKHOUSE_* variables configures them all.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "clickhouse-addr", "127.0.0.1:9000", "ClickHouse native protocol address (HTTP is not used)")
	fs.StringVar(&c.Database, "clickhouse-db", "footfall", "ClickHouse database (the processor creates it if missing)")
	fs.StringVar(&c.User, "clickhouse-user", "default", "ClickHouse user")
	fs.StringVar(&c.Password, "clickhouse-password", "", "ClickHouse password")
}
