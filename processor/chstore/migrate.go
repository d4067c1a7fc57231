package chstore

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
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migration is one numbered schema step.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

// Migrations lists the embedded migrations in order.
func Migrations() ([]Migration, error) {
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
		out = append(out, Migration{Version: v, Name: base, Statements: splitStatements(string(body))})
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

const (
	createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    UInt32,
    name       String,
    applied_at DateTime
) ENGINE = ReplacingMergeTree ORDER BY version`
	selectApplied = `SELECT DISTINCT version FROM schema_migrations`
	// A batch insert, not INSERT ... VALUES with arguments: ClickHouse 18.16
	// waits for a data block after the latter and the query never returns.
	insertMigration = `INSERT INTO schema_migrations (version, name, applied_at)`
)

// Migrate applies every migration not yet recorded. Each statement is
// idempotent (IF NOT EXISTS), so processors starting together, or a
// migration cut short, do no harm when run again.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.conn.Exec(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := s.conn.Query(ctx, selectApplied)
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
	all, err := Migrations()
	if err != nil {
		return err
	}
	for _, m := range all {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if err := s.conn.Exec(ctx, stmt); err != nil && !ColumnThere(stmt, err) {
				return fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
			}
		}
		if err := s.record(ctx, m); err != nil {
			return fmt.Errorf("record migration %s: %w", m.Name, err)
		}
		slog.Info("applied migration", "name", m.Name, "database", s.db)
	}
	return nil
}

func (s *Store) record(ctx context.Context, m Migration) error {
	b, err := s.conn.PrepareBatch(batchContext(ctx), insertMigration)
	if err != nil {
		return err
	}
	defer b.Abort()
	if err := b.Append(uint32(m.Version), m.Name, time.Now().UTC()); err != nil {
		return err
	}
	return b.Send()
}

// ColumnThere says whether err is an ADD COLUMN statement finding its
// column already there (ClickHouse code 44): 18.16 has no ADD COLUMN IF NOT
// EXISTS, and a migration cut short must be able to run again.
func ColumnThere(stmt string, err error) bool {
	var ex *clickhouse.Exception
	return strings.Contains(strings.ToUpper(stmt), "ADD COLUMN") && errors.As(err, &ex) && ex.Code == 44
}
