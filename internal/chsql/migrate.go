package chsql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migration is one numbered schema step.
type Migration struct {
	Version    int
	Name       string
	Statements []*Query // registered as migrate.<file>_s<n>
}

// all is every migration, registered at start so that the
// current-ClickHouse check knows each statement.
var all, errMigrations = load()

// Migrations lists the embedded migrations in order.
func Migrations() ([]Migration, error) { return all, errMigrations }

func load() ([]Migration, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, f := range files {
		base := strings.TrimPrefix(f, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and _", base)
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m := Migration{Version: v, Name: base}
		for i, stmt := range splitStatements(string(body)) {
			name := fmt.Sprintf("migrate.%s_s%d", strings.TrimSuffix(base, ".sql"), i+1)
			m.Statements = append(m.Statements, New(name, stmt))
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("two migrations numbered %d", out[i].Version)
		}
	}
	return out, nil
}

// splitStatements cuts a file at semicolons that end a line, dropping
// comment lines; the native protocol takes one statement per query.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

var (
	createMigrationsTable = New("migrate.create_schema_migrations", `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    UInt32,
    name       String,
    applied_at DateTime
) ENGINE = ReplacingMergeTree ORDER BY version`)
	selectApplied = New("migrate.applied", `SELECT DISTINCT version FROM schema_migrations`)
	// A batch insert, not INSERT ... VALUES with arguments: ClickHouse 18.16
	// waits for a data block after the latter and the query never returns.
	insertMigration = New("migrate.record", `INSERT INTO schema_migrations (version, name, applied_at)`)
)

// after are the steps in Go that some migrations take after their
// statements, by version (backfill.go registers them): a migration cut
// short runs both again.
var after = map[int]func(context.Context, *Conn) error{}

// Migrate applies every migration not yet recorded to c's database: its
// statements, then the step in Go some need (after, backfill.go). Each is
// idempotent (IF NOT EXISTS), so processors starting together, or a
// migration cut short, do no harm when run again.
//
// On a cluster (Conn from Config.Cluster) the statements go ON CLUSTER as
// ClusterSQL rewrites them, and schema_migrations is created only when it
// cannot be read: ON CLUSTER DDL waits for every node, and a program
// starting while a node is down must start on what is already there.
func Migrate(ctx context.Context, c *Conn) error {
	var rows driver.Rows
	var err error
	if c.cluster != "" {
		rows, err = c.Query(ctx, selectApplied, nil)
	}
	if c.cluster == "" || err != nil {
		if c.cluster != "" {
			slog.Info("schema_migrations not read; creating it on the cluster", "cluster", c.cluster, "err", err)
		}
		if err := c.Exec(ctx, createMigrationsTable, nil); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rows, err = c.Query(ctx, selectApplied, nil)
	}
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[int(v)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if errMigrations != nil {
		return errMigrations
	}
	for _, m := range all {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if err := c.Exec(ctx, stmt, nil); err != nil && !ColumnDone(stmt.SQL(), err) {
				return fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
			}
		}
		if step := after[m.Version]; step != nil {
			if err := step(ctx, c); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		if err := record(ctx, c, m); err != nil {
			return fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		slog.Info("applied migration", "name", m.Name, "database", c.db)
	}
	return nil
}

func record(ctx context.Context, c *Conn, m Migration) error {
	b, err := c.PrepareBatch(ctx, insertMigration)
	if err != nil {
		return err
	}
	defer b.Abort()
	if err := b.Append(uint32(m.Version), m.Name, time.Now().UTC()); err != nil {
		return err
	}
	return b.Send()
}

// ColumnDone says whether err is an ALTER that finds its column as the
// statement would leave it: an ADD COLUMN finding the column there, a DROP
// COLUMN finding it gone. 18.16 has no ADD COLUMN IF NOT EXISTS nor DROP
// COLUMN IF EXISTS, and a migration cut short, or two processors starting
// at once, must be able to run it again. The servers say so with different
// codes: 18.16 with 44 (ILLEGAL_COLUMN) for both, current ClickHouse with
// 15 (DUPLICATE_COLUMN) and 10 (NOT_FOUND_COLUMN_IN_BLOCK).
func ColumnDone(stmt string, err error) bool {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return false
	}
	// 18.16 says 44 for other faults of an ALTER too (ADD COLUMN ... AFTER
	// a column that is not there, a key column): its message tells them
	// apart.
	switch up := strings.ToUpper(stmt); {
	case strings.Contains(up, "ADD COLUMN"):
		return ex.Code == codeDuplicateColumn ||
			ex.Code == codeIllegalColumn && strings.Contains(ex.Message, "column with this name already exists")
	case strings.Contains(up, "DROP COLUMN"):
		return ex.Code == codeNotFoundColumn ||
			ex.Code == codeIllegalColumn && strings.Contains(ex.Message, "to drop")
	}
	return false
}

const (
	codeNotFoundColumn  = 10 // current ClickHouse
	codeDuplicateColumn = 15 // current ClickHouse
	codeIllegalColumn   = 44 // 18.16
)
