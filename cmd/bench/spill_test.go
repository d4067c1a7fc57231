package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/chsql"
	"footfall/internal/profiles"
	"footfall/internal/sessionstats"
	"footfall/tests/stacktest"
)

// qTestPeople lists the people table as a whole rebuild leaves it.
var qTestPeople = chsql.New("bench.test_people", `SELECT person_key, sessions, pageviews, carts, orders, revenue
FROM people FINAL WHERE site_id = 'demo' AND deleted = 0 ORDER BY person_key`)

// TestRebuildsSpill: the whole rebuilds of the people table and of the
// session statistics give the same answers when ClickHouse spills their
// GROUP BY to disk, as the users.xml of deploy/ has it do past 4 GB
// (max_bytes_before_external_group_by; at 100M events they group 10M
// visitors and 90M sessions). Here every GROUP BY spills.
func TestRebuildsSpill(t *testing.T) {
	ctx := context.Background()
	end := time.Now().UTC().Truncate(24 * time.Hour)
	from := end.Add(-30 * 24 * time.Hour)
	rebuild := func(ctx context.Context) ([]string, sessionstats.Stats) {
		_, store := stacktest.ClickHouse(t)
		if err := generate(context.Background(), store, 0, 30_000, from, end, true); err != nil {
			t.Fatal(err)
		}
		if _, err := profiles.NewStore(store.DB(), profiles.DefaultRules).Refresh(ctx, "demo"); err != nil {
			t.Fatal(err)
		}
		sessions := sessionstats.NewStore(store.DB())
		if _, err := sessions.Refresh(ctx, "demo"); err != nil {
			t.Fatal(err)
		}
		st, err := sessions.Period(context.Background(), "demo", from, end)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := store.DB().Query(context.Background(), qTestPeople, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var people []string
		for rows.Next() {
			var key string
			var sessions, pageviews, carts, orders uint64
			var revenue int64
			if err := rows.Scan(&key, &sessions, &pageviews, &carts, &orders, &revenue); err != nil {
				t.Fatal(err)
			}
			people = append(people, fmt.Sprint(key, sessions, pageviews, carts, orders, revenue))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return people, st
	}
	people, stats := rebuild(ctx)
	tag := t.Name() + "-spilled"
	spill := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_bytes_before_external_group_by": 1, "group_by_two_level_threshold": 1, "group_by_two_level_threshold_bytes": 1,
		"log_queries": 1, "interactive_delay": costTag(tag),
	}))
	spilledPeople, spilledStats := rebuild(spill)
	if len(people) < 2000 || stats.Sessions < 20_000 {
		t.Fatalf("%d people, %d sessions: too few to say anything", len(people), stats.Sessions)
	}
	if spilledStats != stats {
		t.Errorf("session stats spilled %+v, in memory %+v", spilledStats, stats)
	}
	if len(spilledPeople) != len(people) {
		t.Fatalf("%d people spilled, %d in memory", len(spilledPeople), len(people))
	}
	for i := range people {
		if spilledPeople[i] != people[i] {
			t.Fatalf("person %d: spilled %q, in memory %q", i, spilledPeople[i], people[i])
		}
	}
	// That they did spill: ClickHouse's own count of the parts of
	// aggregation it wrote to disk, for the statements sent spilled.
	_, store := stacktest.ClickHouse(t)
	drv := store.DB().Driver()
	if rows, err := drv.Query(ctx, "SYSTEM FLUSH LOGS"); err == nil {
		rows.Close()
	}
	var parts uint64
	if err := drv.QueryRow(ctx, `SELECT toUInt64(sum(ProfileEvents.Values[indexOf(ProfileEvents.Names, 'ExternalAggregationWritePart')]))
		FROM system.query_log WHERE event_date >= yesterday() AND type = 2
		AND Settings.Values[indexOf(Settings.Names, 'interactive_delay')] = ?`, fmt.Sprint(costTag(tag))).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts == 0 {
		t.Error("no aggregation was written to disk: the comparison says nothing")
	}
	t.Logf("%d people, %d sessions; %d parts of aggregation spilled", len(people), stats.Sessions, parts)
}
