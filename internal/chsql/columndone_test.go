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
	cases := []struct {
		name string
		stmt string
		err  error
		want bool
	}{
		{"18.16 column exists", add, ex(44), true},
		{"current ClickHouse column exists", add, ex(15), true},
		{"wrapped, as the runner sees it", add, fmt.Errorf("migration 0012: %w", ex(15)), true},
		{"lower-case statement", "alter table events add column x UInt8", ex(15), true},
		{"another code", add, ex(16), false},
		{"table missing", add, ex(60), false},
		{"not a clickhouse exception", add, errors.New("code: 15"), false},
		{"no error", add, nil, false},
		{"not an ADD COLUMN", "CREATE TABLE t (x UInt8) ENGINE = Memory", ex(15), false},
		{"ADD COLUMN with the code of a column not found", add, ex(10), false},
		{"18.16 column gone", drop, ex(44), true},
		{"current ClickHouse column gone", drop, ex(10), true},
		{"DROP COLUMN with the code of a column there", drop, ex(15), false},
		{"DROP COLUMN of a missing table", drop, ex(60), false},
		{"DROP TABLE", "DROP TABLE sessions_mv", ex(44), false},
	}
	for _, c := range cases {
		if got := chsql.ColumnDone(c.stmt, c.err); got != c.want {
			t.Errorf("%s: ColumnDone(%q, %v) = %v, want %v", c.name, c.stmt, c.err, got, c.want)
		}
	}
}
