// Package goals keeps a site's saved goals (reports.Goal) in ClickHouse
// (migration 0027): created, listed and deleted through the dashboards'
// API; the reports package computes their figures.
package goals

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/reports"
)

// Store reads and writes goals on one connection.
type Store struct{ db *chsql.Conn }

// NewStore returns a Store on db.
func NewStore(db *chsql.Conn) *Store { return &Store{db: db} }

// ErrNotFound says the goal does not exist on the site (or was deleted).
var ErrNotFound = errors.New("no such goal")

var (
	insertGoal = chsql.New("goals.insert",
		`INSERT INTO goals (site_id, goal_id, name, kind, value, created_at, deleted, version)`)
	qGoals = chsql.New("goals.list", `SELECT goal_id, argMax(name, version), argMax(kind, version), argMax(value, version), min(created_at)
FROM goals WHERE site_id = @site GROUP BY goal_id HAVING argMax(deleted, version) = 0
ORDER BY min(version), goal_id`)
)

// Create stores a new goal, which must pass its Check, and returns it
// with its id and time of creation.
func (s *Store) Create(ctx context.Context, g reports.Goal) (reports.Goal, error) {
	if err := g.Check(); err != nil {
		return g, err
	}
	var b [8]byte
	rand.Read(b[:])
	g.ID = hex.EncodeToString(b[:])
	g.CreatedAt = time.Now().UTC().Truncate(time.Second)
	return g, s.write(ctx, g, false)
}

// Delete marks a site's goal deleted.
func (s *Store) Delete(ctx context.Context, site, id string) error {
	all, err := s.List(ctx, site)
	if err != nil {
		return err
	}
	for _, g := range all {
		if g.ID == id {
			return s.write(ctx, g, true)
		}
	}
	return ErrNotFound
}

func (s *Store) write(ctx context.Context, g reports.Goal, deleted bool) error {
	b, err := s.db.PrepareBatch(ctx, insertGoal)
	if err != nil {
		return fmt.Errorf("prepare goal write: %w", err)
	}
	defer b.Abort()
	var del uint8
	if deleted {
		del = 1
	}
	if err := b.Append(g.Site, g.ID, g.Name, g.Kind, g.Value, g.CreatedAt, del, uint64(time.Now().UnixNano())); err != nil {
		return fmt.Errorf("append goal: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write goal %s: %w", g.ID, err)
	}
	return nil
}

// List returns a site's goals in the order they were created (their
// first version, in nanoseconds: created_at is in whole seconds).
func (s *Store) List(ctx context.Context, site string) ([]reports.Goal, error) {
	rows, err := s.db.Query(ctx, qGoals, chsql.Args{"site": site})
	if err != nil {
		return nil, fmt.Errorf("list goals: %w", err)
	}
	defer rows.Close()
	out := []reports.Goal{}
	for rows.Next() {
		g := reports.Goal{Site: site}
		if err := rows.Scan(&g.ID, &g.Name, &g.Kind, &g.Value, &g.CreatedAt); err != nil {
			return nil, fmt.Errorf("read goal: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}
