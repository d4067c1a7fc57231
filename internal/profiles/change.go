package profiles

import (
	"context"
	"fmt"
	"time"

	"footfall/internal/chsql"
)

// Override is what a person's manual changes are: a class that wins over
// the computed one ("" for none) and populations.
type Override struct {
	Class       string   `json:"class"`
	Populations []string `json:"populations"`
}

var (
	qOverride = chsql.New("profiles.override", `SELECT argMax(class, version), argMax(populations, version)
FROM profile_overrides WHERE site_id = @site AND person_key = @key GROUP BY person_key`)
	insertOverride = chsql.New("profiles.insert_override",
		`INSERT INTO profile_overrides (site_id, person_key, class, populations, updated_at, version)`)
)

// SetOverride changes a person's manual class and/or populations; a nil
// field is left as it was. Recomputed classes never touch these.
func (s *Store) SetOverride(ctx context.Context, site, key string, class *string, populations []string) (Override, error) {
	cur, err := s.Manual(ctx, site, key)
	if err != nil {
		return cur, err
	}
	if class != nil {
		if *class != "" && !IsClass(*class) {
			return cur, fmt.Errorf("class %q: want one of %v, or empty for the computed class", *class, Classes)
		}
		cur.Class = *class
	}
	if populations != nil {
		cur.Populations = populations
	}
	if cur.Populations == nil {
		cur.Populations = []string{}
	}
	b, err := s.db.PrepareBatch(ctx, insertOverride)
	if err != nil {
		return cur, fmt.Errorf("prepare override: %w", err)
	}
	defer b.Abort()
	// The wall clock, not s.now (the classification clock): versions must
	// grow with every change.
	now := time.Now()
	if err := b.Append(site, key, cur.Class, cur.Populations, now.UTC(), uint64(now.UnixNano())); err != nil {
		return cur, fmt.Errorf("append override: %w", err)
	}
	if err := b.Send(); err != nil {
		return cur, fmt.Errorf("write override: %w", err)
	}
	return cur, nil
}

// Manual reads a person's manual changes.
func (s *Store) Manual(ctx context.Context, site, key string) (Override, error) {
	cur := Override{Populations: []string{}}
	err := s.each(ctx, qOverride, chsql.Args{"site": site, "key": key}, func(r scanner) error {
		return r.Scan(&cur.Class, &cur.Populations)
	})
	if err != nil {
		return cur, fmt.Errorf("read manual changes: %w", err)
	}
	return cur, nil
}
