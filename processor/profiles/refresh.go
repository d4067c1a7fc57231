package profiles

import (
	"context"
	"fmt"
	"time"

	"footfall/processor/chstore"
)

// Refreshing the people table. A refresh recomputes the people whose visitor
// ids had events since the last refresh (people_touched), together with
// every other device of theirs, and writes them with a newer version; the
// anonymous row of a visitor id that has since joined a person is written
// again as deleted. Nothing is read back into Go: the work is a few INSERT
// ... SELECT statements, whatever the number of people touched.

const (
	// touched lists the visitor ids with events since a time; arguments:
	// site, since.
	touched = `SELECT visitor_id FROM people_touched WHERE site_id = ? AND touched_at >= ?`
	// personsTouched lists the people of the touched visitor ids; arguments:
	// site, site, since.
	personsTouched = `SELECT argMinMerge(person) FROM identities WHERE site_id = ? AND visitor_id IN (` + touched + `) GROUP BY visitor_id`
	// affected adds the other visitor ids of the touched ones' people. A
	// visitor's person is the argMin over its rows, which is the argMin of
	// one of them: the rows whose own argMin names such a person find every
	// candidate cheaply, the merged state then decides. Arguments: site,
	// since, site, site, then twice site, site, since.
	affected = ` AND (visitor_id IN (` + touched + `) OR visitor_id IN (
    SELECT visitor_id FROM identities WHERE site_id = ? AND visitor_id IN (
        SELECT visitor_id FROM identities WHERE site_id = ? AND finalizeAggregation(person) IN (` + personsTouched + `))
    GROUP BY visitor_id HAVING argMinMerge(person) IN (` + personsTouched + `)))`
	insertPeople = `INSERT INTO people (site_id, ` + personColumns + `, deleted, version)
SELECT ?, ` + personColumns + `, toUInt8(0), ? FROM (%s)`
	// Tombstones for the anonymous rows of visitor ids now part of a person;
	// arguments: version, site, the visitor filter's, site, the filter's.
	insertGone = `INSERT INTO people (site_id, person_key, deleted, version)
SELECT site_id, visitor_id, toUInt8(1), ? FROM identities WHERE site_id = ?%[1]s
GROUP BY site_id, visitor_id HAVING argMinMerge(person) != ''
    AND visitor_id IN (SELECT person_key FROM people WHERE site_id = ? AND deleted = 0%[2]s)`
	qTouched     = `SELECT count() FROM people_touched WHERE site_id = ? AND touched_at >= ?`
	qPeopleRows  = `SELECT count() FROM people WHERE site_id = ?`
	qPeopleCount = `SELECT count() FROM people WHERE site_id = ? AND version = ?`
)

// Refresh brings the people table of site up to date with the events
// ClickHouse has taken, and says how many person rows it wrote. Refreshes
// of one Store run one at a time; refreshes from several processes are
// safe, the newest version of a person wins.
func (s *Store) Refresh(ctx context.Context, site string) (int, error) {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	w, err := chstore.LastRefresh(ctx, s.db, "people", site)
	if err != nil {
		return 0, err
	}
	if !w.Full {
		var n uint64
		if err := s.conn.QueryRow(ctx, qTouched, site, w.Since).Scan(&n); err != nil {
			return 0, fmt.Errorf("refresh people of %s: count touched: %w", site, err)
		}
		if n == 0 {
			return 0, nil // nothing to do, and nothing worth a refresh row
		}
		// Past a quarter of the people, sets of touched visitor ids cost
		// more than recomputing everyone (57 s against 11 s for 900k of 1M);
		// a few thousand never do.
		var people uint64
		if err := s.conn.QueryRow(ctx, qPeopleRows, site).Scan(&people); err != nil {
			return 0, fmt.Errorf("refresh people of %s: count people: %w", site, err)
		}
		w.Full = n > 10_000 && n > people/4
	}
	version := uint64(time.Now().UnixNano())
	var filter, gone, gonePeople string
	var fargs, gargs []any
	if !w.Full {
		filter = affected
		fargs = []any{site, w.Since, site, site, site, site, w.Since, site, site, w.Since}
		gone = " AND visitor_id IN (" + touched + ")"
		gonePeople = " AND person_key IN (" + touched + ")"
		gargs = []any{site, w.Since}
	}
	rows := fmt.Sprintf(computedSQL, filter)
	args := append(append(append([]any{site, version, site}, fargs...), site), fargs...)
	if err := s.conn.Exec(ctx, fmt.Sprintf(insertPeople, rows), args...); err != nil {
		return 0, fmt.Errorf("refresh people of %s: %w", site, err)
	}
	args = append(append(append([]any{version, site}, gargs...), site), gargs...)
	if err := s.conn.Exec(ctx, fmt.Sprintf(insertGone, gone, gonePeople), args...); err != nil {
		return 0, fmt.Errorf("refresh people of %s: mark joined visitors: %w", site, err)
	}
	var written uint64
	if err := s.conn.QueryRow(ctx, qPeopleCount, site, version).Scan(&written); err != nil {
		return 0, fmt.Errorf("refresh people of %s: count: %w", site, err)
	}
	return int(written), chstore.RecordRefresh(ctx, s.db, "people", site, w, written, "people_touched")
}

// People refreshes site's people table and starts a query of it.
func (s *Store) People(ctx context.Context, site string) (*Query, error) {
	if _, err := s.Refresh(ctx, site); err != nil {
		return nil, err
	}
	return s.Query(site), nil
}
