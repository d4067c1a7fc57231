package chsql_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/chsql"
)

// TestColumnThere: the migration runner takes "the column is already
// there" as done, whichever server says it: 18.16 with code 44
// (ILLEGAL_COLUMN), current ClickHouse with 15 (DUPLICATE_COLUMN). Any
// other answer, or another statement, stops the migration.
func TestColumnThere(t *testing.T) {
	const add = "ALTER TABLE events ADD COLUMN country String DEFAULT ''"
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
		{"DROP COLUMN", "ALTER TABLE events DROP COLUMN country", ex(44), false},
	}
	for _, c := range cases {
		if got := chsql.ColumnThere(c.stmt, c.err); got != c.want {
			t.Errorf("%s: ColumnThere(%q, %v) = %v, want %v", c.name, c.stmt, c.err, got, c.want)
		}
	}
}
