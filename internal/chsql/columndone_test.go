package chsql_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/chsql"
)

// TestColumnDone: the migration runner takes "the column is already
// there" after an ADD COLUMN, and "the column is already gone" after a DROP
// COLUMN, as done, whichever server says it: 18.16 with code 44
// (ILLEGAL_COLUMN) for both, current ClickHouse with 15
// (DUPLICATE_COLUMN) and 10 (NOT_FOUND_COLUMN_IN_BLOCK). Any other answer,
// or another statement, stops the migration.
func TestColumnDone(t *testing.T) {
	const add = "ALTER TABLE events ADD COLUMN country String DEFAULT ''"
	const drop = "ALTER TABLE sessions DROP COLUMN entry_path"
	ex := func(code int32) error {
		return &clickhouse.Exception{Code: code, Message: fmt.Sprintf("code %d", code)}
	}
	// 18.16's messages (code 44 for every column fault of an ALTER).
	old := func(msg string) error { return &clickhouse.Exception{Code: 44, Message: msg} }
	const (
		exists = "Cannot add column country: column with this name already exists"
		gone   = "Wrong column name. Cannot find column entry_path to drop"
		after  = "Wrong column name. Cannot find column nosuch to insert after"
	)
	cases := []struct {
		name string
		stmt string
		err  error
		want bool
	}{
		{"18.16 column exists", add, old(exists), true},
		{"18.16 ADD COLUMN AFTER a column not there", add + " AFTER nosuch", old(after), false},
		{"18.16 code 44 of another fault", add, ex(44), false},
		{"current ClickHouse column exists", add, ex(15), true},
		{"wrapped, as the runner sees it", add, fmt.Errorf("migration 0012: %w", ex(15)), true},
		{"lower-case statement", "alter table events add column x UInt8", ex(15), true},
		{"another code", add, ex(16), false},
		{"table missing", add, ex(60), false},
		{"not a clickhouse exception", add, errors.New("code: 15"), false},
		{"no error", add, nil, false},
		{"not an ADD COLUMN", "CREATE TABLE t (x UInt8) ENGINE = Memory", ex(15), false},
		{"ADD COLUMN with the code of a column not found", add, ex(10), false},
		{"18.16 column gone", drop, old(gone), true},
		{"18.16 DROP COLUMN of a key column", drop, old("ALTER of key column entry_path must be metadata-only"), false},
		{"current ClickHouse column gone", drop, ex(10), true},
		{"DROP COLUMN with the code of a column there", drop, ex(15), false},
		{"DROP COLUMN of a missing table", drop, ex(60), false},
		{"DROP TABLE", "DROP TABLE sessions_mv", old(gone), false},
	}
	for _, c := range cases {
		if got := chsql.ColumnDone(c.stmt, c.err); got != c.want {
			t.Errorf("%s: ColumnDone(%q, %v) = %v, want %v", c.name, c.stmt, c.err, got, c.want)
		}
	}
}
