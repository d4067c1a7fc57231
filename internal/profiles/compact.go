package profiles

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"footfall/internal/chsql"
	"footfall/internal/refresh"
)

// The people table is a ReplacingMergeTree: each refresh writes the people
// it recomputes again, at a newer version, and the older rows stay until
// ClickHouse merges parts, at times of its own. Readers take the newest
// row of each key, which FINAL finds by merging every part's rows as it
// reads, on one thread in ClickHouse 18.16. Compact bounds that work to the
// rows written since a recent time, the site's base: at or below it each
// key has one row, so those are read as they are (storedSQL).

// BaseKind is the kind under which the refreshes table (internal/refresh)
// records each site's base: its upto is the base, as a time; its written,
// the rows at or below it.
const BaseKind = "people_base"

// BaseMargin is how far before a compaction its base lies. A row's
// version is its writer's clock when the refresh began (Refresh), and a
// refresh's statements run for up to refresh.Timeout: a row written after
// the compaction with a version below its base would be a second row of
// its key where the readers take each key's row as the only one. Twice
// the longest refresh, with room for clocks that differ.
const BaseMargin = 2 * refresh.Timeout

// baseVersion is the site's base as a version (nanoseconds since 1970, as
// Refresh writes them), 0 when it has none: every row is then newer.
// Parameter: @site. The refreshes table keeps whole seconds; Compact takes
// whole seconds.
const baseVersion = `(SELECT toUInt64(toUnixTimestamp(max(upto))) * 1000000000 FROM refreshes WHERE site_id = @site AND kind = '` + BaseKind + `')`

var (
	// optimizePeople merges the people table's parts into one per
	// partition, keeping each key's newest row. On a cluster it runs on
	// each shard's replicated table (chsql.ClusterSQL) and, with
	// replication_alter_partitions_sync = 2, returns once every replica
	// has merged.
	optimizePeople = chsql.New("profiles.compact", `OPTIMIZE TABLE people FINAL`)
	// qBaseRows counts, per site, the rows at or below @base and their
	// keys: a site whose two counts are equal holds each key once there.
	// Keys are counted by a 64-bit hash: two keys sharing one make the
	// counts differ and the base stay where it was, never the reverse.
	qBaseRows = chsql.New("profiles.base_rows", `SELECT site_id, count(), uniqExact(cityHash64(person_key)) FROM people
WHERE version <= @base GROUP BY site_id ORDER BY site_id`).
		DependsOnServerState("whether a key's older rows are still there depends on the merges ClickHouse has made, at times of its own")
)

// Compaction says what a compaction did: how many sites' bases moved, and
// how many stayed where they were because a key still had two rows at or
// below the new base (the merge did not take every part: ClickHouse was
// merging some of them, or a replica had not followed).
type Compaction struct {
	Moved, Held int
}

// Compact merges the people table and moves the base of each site whose
// rows at or below now less BaseMargin hold each key once. It is the processor's (processor/derive), a few
// times a day: the merge rewrites the whole table (5.2 s for 10M people on
// ClickHouse 18.16, on two cores).
func (s *Store) Compact(ctx context.Context) (Compaction, error) {
	return s.CompactUpTo(ctx, s.now().Add(-BaseMargin))
}

// CompactUpTo is Compact with the base at base (truncated to the second),
// for a caller that knows no refresh is writing: a new base must lie
// before the version of every row still to be written.
func (s *Store) CompactUpTo(ctx context.Context, base time.Time) (Compaction, error) {
	base = base.Truncate(time.Second)
	ctx, cancel := refresh.Bound(ctx)
	defer cancel()
	merge := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"replication_alter_partitions_sync": 2}))
	if err := s.db.Exec(merge, optimizePeople, nil); err != nil {
		return Compaction{}, fmt.Errorf("compact people: merge: %w", err)
	}
	return s.moveBases(ctx, base)
}

// moveBases records base as the base of each site whose rows at or below
// it hold each key once.
func (s *Store) moveBases(ctx context.Context, base time.Time) (Compaction, error) {
	rows, err := s.db.Query(ctx, qBaseRows, chsql.Args{"base": uint64(base.UnixNano())})
	if err != nil {
		return Compaction{}, fmt.Errorf("compact people: count rows: %w", err)
	}
	type count struct {
		site string
		rows uint64
	}
	var whole []count
	var out Compaction
	for rows.Next() {
		var c count
		var keys uint64
		if err := rows.Scan(&c.site, &c.rows, &keys); err != nil {
			rows.Close()
			return Compaction{}, fmt.Errorf("compact people: count rows: %w", err)
		}
		if c.rows == keys {
			whole = append(whole, c)
		} else {
			out.Held++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Compaction{}, fmt.Errorf("compact people: count rows: %w", err)
	}
	for _, c := range whole {
		if err := refresh.Note(ctx, s.db, BaseKind, c.site, base, c.rows, false); err != nil {
			return out, fmt.Errorf("compact people: %w", err)
		}
		out.Moved++
	}
	return out, nil
}
