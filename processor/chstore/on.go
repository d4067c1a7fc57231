package chstore

import "footfall/internal/chsql"

// On returns a Store writing through conn, a connection to a database that
// already exists: for a program that writes a few events beside its own
// work (the dashboards' recipient imports) and creates nothing.
func On(conn *chsql.Conn) *Store {
	return newStore(conn, conn.Database())
}
