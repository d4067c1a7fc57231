package profiles

import (
	"context"
	"errors"
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

// qBase reads a site's base as a version (nanoseconds since 1970, as
// Refresh writes them; 0 when it has none), the site's rows above it and
// all its rows. The refreshes table keeps whole seconds; Compact takes
// whole seconds. Parameters: @site, @kind.
var qBase = chsql.New("profiles.base", `WITH (SELECT toUInt64(toUnixTimestamp(max(upto))) * 1000000000 FROM refreshes WHERE site_id = @site AND kind = @kind) AS b
SELECT b, countIf(version > b), count() FROM people WHERE site_id = @site`)

// defaultMaxNewer is the largest share of a site's rows above its base that a
// read in two halves takes (storedSQL): the newer half is held in memory
// (at 1M people, with 300,000 rows above the base, 121 MB and 0.97 s
// against 29 MB and 0.75 s through FINAL alone; with every row above it
// 404 MB and 2.6 s). Past it, after a whole refresh or a burst of new
// people until the next compaction, the read is FINAL alone.
const defaultMaxNewer = 0.1

// qServerNow is the server's clock.
var qServerNow = chsql.New("profiles.server_now", `SELECT now()`).
	DependsOnServerState("it is the server's clock at that moment")

// qNewestBase is when the newest base of any site was taken.
var qNewestBase = chsql.New("profiles.newest_base", `SELECT max(upto) FROM refreshes WHERE kind = @kind`)

// AtBase makes q read the people table at its site's base (storedSQL),
// which it reads once, now: the whole statement then splits the table at
// that one version. A base read earlier stays right (the rows at or below
// it keep each key once), only dearer to read than a newer one. A query
// not given its base, or whose site has more than defaultMaxNewer of its rows
// above it, reads every row through FINAL (finalSQL).
func (s *Store) AtBase(ctx context.Context, q *Query) error {
	var base, newer, rows uint64
	if err := s.db.QueryRow(ctx, qBase, chsql.Args{"site": q.Site, "kind": BaseKind}).Scan(&base, &newer, &rows); err != nil {
		return fmt.Errorf("read the people table's base of %s: %w", q.Site, err)
	}
	q.base = 0
	if base > 0 && float64(newer) <= s.maxNewer*float64(rows) {
		q.base = base
	}
	return nil
}

// NewestBase is when the newest base of any site was taken (zero: none
// ever was): a processor that starts compacts when that is older than its
// interval, not at every start.
func (s *Store) NewestBase(ctx context.Context) (time.Time, error) {
	var t time.Time
	if err := s.db.QueryRow(ctx, qNewestBase, chsql.Args{"kind": BaseKind}).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("read the people table's newest base: %w", err)
	}
	if t.Unix() <= 0 {
		return time.Time{}, nil
	}
	return t, nil
}

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
// below the new base (rows the merge did not take: written during it at a
// version older than the base, which BaseMargin makes rare).
type Compaction struct {
	Moved, Held int
}

// Compact merges the people table and moves the base of each site whose
// rows at or below now less BaseMargin hold each key once. It is the
// processor's (processor/derive), a few times a day: the merge rewrites
// the whole table (5.0 to 5.4 s for 10M people on ClickHouse 18.16, on two
// cores). On a cluster the merge waits for every replica of each shard,
// so that the count below, which reads one replica per shard, speaks for
// all; while a replica is down it waits until the statement's deadline
// (refresh.Timeout) and no base moves.
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
	// A base past the server's clock would come from a clock ahead of it,
	// as the versions of that clock's refreshes would: rows written later
	// by a clock behind would fall below it. Up to a minute passes: the
	// server's clock reads whole seconds, coarsely (a base a second past it
	// was seen on one machine), and BaseMargin has room for clocks that
	// differ by less.
	var now time.Time
	if err := s.db.QueryRow(ctx, qServerNow, nil).Scan(&now); err != nil {
		return Compaction{}, fmt.Errorf("compact people: read the server's clock: %w", err)
	}
	if base.After(now.Add(time.Minute)) {
		return Compaction{}, fmt.Errorf("compact people: base %s is past the server's clock (%s): the clocks differ", base.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if err := s.merge(ctx); err != nil {
		return Compaction{}, fmt.Errorf("compact people: merge: %w", err)
	}
	return s.moveBases(ctx, base)
}

// Merging the people table: ClickHouse 18.16 does nothing, and says
// nothing, when a merge of some of the table's parts is running (the
// refreshes add a part every few seconds); optimize_throw_if_noop makes
// it say so, and the merge is tried again mergeWait later, mergeTries
// times in all.
const (
	mergeTries = 10
	mergeWait  = 30 * time.Second
)

// errCannotOptimize is ClickHouse's CANNOT_ASSIGN_OPTIMIZE.
const errCannotOptimize = 388

func (s *Store) merge(ctx context.Context) error {
	settings := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"replication_alter_partitions_sync": 2,
		"optimize_throw_if_noop":            1,
	}))
	for try := 1; ; try++ {
		err := s.db.Exec(settings, optimizePeople, nil)
		var ex *clickhouse.Exception
		if err == nil || !errors.As(err, &ex) || ex.Code != errCannotOptimize || try == mergeTries {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(mergeWait):
		}
	}
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
	if len(whole) == 0 {
		return out, nil
	}
	var written []refresh.Written
	for _, c := range whole {
		written = append(written, refresh.Written{Site: c.site, Rows: c.rows})
	}
	if err := refresh.Note(ctx, s.db, BaseKind, base, false, written...); err != nil {
		return out, fmt.Errorf("compact people: %w", err)
	}
	out.Moved = len(whole)
	return out, nil
}
