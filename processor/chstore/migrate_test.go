package chstore_test

import (
	"context"
	"testing"

	"footfall/internal/stacktest"
	"footfall/processor/chstore"
)

func TestMigrationsNumberedAndSplit(t *testing.T) {
	ms, err := chstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 3 {
		t.Fatalf("%d migrations", len(ms))
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %s has version %d, want %d: numbers must run without gaps", m.Name, m.Version, i+1)
		}
		if len(m.Statements) == 0 {
			t.Errorf("migration %s has no statements", m.Name)
		}
	}
	if n := len(ms[1].Statements); n != 2 {
		t.Errorf("0002 splits into %d statements, want 2 (table and view)", n)
	}
}

func TestMigrateTwiceIsHarmless(t *testing.T) {
	_, store := stacktest.ClickHouse(t) // migrated once already
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	ms, _ := chstore.Migrations()
	if got := stacktest.Count(t, store, "SELECT uniqExact(version) FROM schema_migrations"); got != uint64(len(ms)) {
		t.Errorf("schema_migrations records %d versions, want %d", got, len(ms))
	}
	if got := stacktest.Count(t, store, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('events', 'events_hourly', 'events_hourly_mv', 'events_rejected')"); got != 4 {
		t.Errorf("%d of 4 tables exist", got)
	}
}
