package profiles

import (
	"context"
	"fmt"
	"maps"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/money"
	"footfall/internal/refresh"
)

// Refreshing the people table, which the processor does on a timer
// (processor/derive); readers take the table as the last refresh left it
// and write nothing. A refresh recomputes the people whose visitor
// ids had events since the last refresh (people_touched), together with
// every other device of theirs, and writes them with a newer version; the
// anonymous row of a visitor id that has since joined a person is written
// again as deleted. Nothing is read back into Go: the work is a few INSERT
// ... SELECT statements, whatever the number of people touched.

const (
	// touched lists the visitor ids with events since a time; parameters:
	// @site, @since.
	touched = `SELECT visitor_id FROM people_touched WHERE site_id = @site AND touched_at >= @since`
	// personsTouched lists the people of the touched visitor ids.
	personsTouched = `SELECT argMinMerge(first_user_id) FROM identities WHERE site_id = @site AND visitor_id IN (` + touched + `) GROUP BY visitor_id`
	// affected, a {{filter}} of computedSQL, adds the other visitor ids of
	// the touched ones' people. A visitor's person is the argMin over its
	// rows, which is the argMin of one of them: the rows whose own argMin
	// names such a person find every candidate cheaply, the merged state
	// then decides. Parameters: @site, @since.
	affected = ` AND (visitor_id IN (` + touched + `) OR visitor_id IN (
    SELECT visitor_id FROM identities WHERE site_id = @site AND visitor_id IN (
        SELECT visitor_id FROM identities WHERE site_id = @site AND finalizeAggregation(first_user_id) IN (` + personsTouched + `))
    GROUP BY visitor_id HAVING argMinMerge(first_user_id) IN (` + personsTouched + `)))`
)

var (
	// insertPeople writes the person rows computedSQL computes, its
	// {{filter}} empty (everyone) or affected, converting their orders at
	// the rates bound as @fx_keys and @fx_values (money.Bound; read by
	// qOrderDays and money.RatesOf first), so that it reads the people's
	// visitor_profiles once. Parameters: @site, @version, @currency, the
	// rates, the filter's.
	insertPeople = chsql.New("profiles.refresh_people", `INSERT INTO people (site_id, `+personColumns+`, deleted, version)
SELECT @site, `+personColumns+`, toUInt8(0), @version FROM (`+computed(money.Bound)+`)`)
	// insertPeopleManyRates is insertPeople with the rates chosen by
	// the orders inside the statement (personRates), for more currency
	// days than a statement's text can bind (money.MaxOrderDays): it reads
	// visitor_profiles thirteen times. Parameters: insertPeople's but
	// the rates.
	insertPeopleManyRates = chsql.New("profiles.refresh_people_many_rates", `INSERT INTO people (site_id, `+personColumns+`, deleted, version)
SELECT @site, `+personColumns+`, toUInt8(0), @version FROM (`+computedSQL+`)`)
	// qOrderDays lists the currencies and days of the orders a refresh
	// converts, those of the visitor ids of its {{filter}} that need a
	// rate (not in @currency nor without currency). Parameters: @site,
	// @currency, the filter's.
	qOrderDays = chsql.New("profiles.refresh_order_days", `SELECT DISTINCT tupleElement(fx_o, 3) AS fx_c, tupleElement(fx_o, 4) AS fx_d FROM (
    SELECT groupUniqArrayIfMerge(order_money) AS fx_os FROM visitor_profiles WHERE site_id = @site{{filter}}
) ARRAY JOIN fx_os AS fx_o
WHERE fx_c != @currency AND fx_c != ''
ORDER BY fx_c, fx_d`)
	// insertGone writes tombstones for the anonymous rows of visitor ids now
	// part of a person; {{visitors}} and {{people}} are empty (all of them)
	// or restrict both sides to the touched visitor ids. Parameters:
	// @site, @version, and @since when restricted.
	insertGone = chsql.New("profiles.refresh_gone", `INSERT INTO people (site_id, person_key, deleted, version)
SELECT site_id, visitor_id, toUInt8(1), @version FROM identities WHERE site_id = @site{{visitors}}
GROUP BY site_id, visitor_id HAVING argMinMerge(first_user_id) != ''
    AND visitor_id IN (SELECT person_key FROM people WHERE site_id = @site AND deleted = 0{{people}})`)
	qTouched = chsql.New("profiles.touched_count",
		`SELECT count() FROM people_touched WHERE site_id = @site AND touched_at >= @since`)
	// The people of a site, tombstones included: exact, so that the answer
	// does not depend on how far the engine has merged the table, as a
	// count of rows would.
	qPeopleKeys = chsql.New("profiles.people_keys",
		`SELECT uniqExact(person_key) FROM people WHERE site_id = @site`)
	qPeopleCount = chsql.New("profiles.people_written",
		`SELECT count() FROM people WHERE site_id = @site AND version = @version`).
		DependsOnServerState("it counts the rows the refresh wrote at its version; a joined visitor's mark can share a key and the version with a row of the same refresh, which a merge collapses at its own time")
)

// Refresh brings the people table of site up to date with the events
// ClickHouse has taken, and says how many person rows it wrote. Refreshes
// of one Store run one at a time; refreshes from several processes are
// safe, the newest version of a person wins.
func (s *Store) Refresh(ctx context.Context, site string) (int, error) {
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	ctx, cancel := refresh.Bound(ctx)
	defer cancel()
	w, err := refresh.Last(ctx, s.db, "people", site)
	if err != nil {
		return 0, err
	}
	if !w.Full {
		var n uint64
		if err := s.db.QueryRow(ctx, qTouched, chsql.Args{"site": site, "since": w.Since}).Scan(&n); err != nil {
			return 0, fmt.Errorf("refresh people of %s: count touched: %w", site, err)
		}
		if n == 0 {
			return 0, nil // nothing to do, and nothing worth a refresh row
		}
		// Past a quarter of the people, sets of touched visitor ids cost
		// more than recomputing everyone (several times more, measured at
		// 1M people: docs/perf-notes.md); a few thousand never do.
		if n > s.fewTouched {
			var people uint64
			if err := s.db.QueryRow(ctx, qPeopleKeys, chsql.Args{"site": site}).Scan(&people); err != nil {
				return 0, fmt.Errorf("refresh people of %s: count people: %w", site, err)
			}
			w.Full = n > people/4
		}
	}
	version := uint64(time.Now().UnixNano())
	args := chsql.Args{"site": site, "version": version}
	filter := ""
	gone := insertGone.With(map[string]string{"visitors": "", "people": ""})
	if !w.Full {
		args["since"] = w.Since
		filter = affected
		gone = insertGone.With(map[string]string{
			"visitors": " AND visitor_id IN (" + touched + ")",
			"people":   " AND person_key IN (" + touched + ")",
		})
	}
	// Revenue is converted to the site's currency (computedSQL), at the
	// rates of the orders' currencies and days, read first.
	peopleArgs := maps.Clone(args)
	peopleArgs["currency"] = s.Query(site).Rules.currency()
	days, err := s.orderDays(ctx, filter, peopleArgs)
	if err != nil {
		return 0, fmt.Errorf("refresh people of %s: %w", site, err)
	}
	people := insertPeople.With(map[string]string{"filter": filter})
	if len(days) > s.maxBoundOrderDays {
		people = insertPeopleManyRates.With(map[string]string{"filter": filter})
	} else {
		rates, err := money.RatesOf(ctx, s.db, s.Query(site).Rules.currency(), days)
		if err != nil {
			return 0, fmt.Errorf("refresh people of %s: %w", site, err)
		}
		rates.Bind(peopleArgs)
	}
	if err := s.db.Exec(ctx, people, peopleArgs); err != nil {
		return 0, fmt.Errorf("refresh people of %s: %w", site, err)
	}
	if err := s.db.Exec(ctx, gone, args); err != nil {
		return 0, fmt.Errorf("refresh people of %s: mark joined visitors: %w", site, err)
	}
	var written uint64
	err = s.db.QueryRow(ctx, qPeopleCount, chsql.Args{"site": site, "version": version}).Scan(&written)
	if err != nil {
		return 0, fmt.Errorf("refresh people of %s: count: %w", site, err)
	}
	return int(written), refresh.Record(ctx, s.db, "people", site, w, written, "people_touched")
}

// orderDays reads the currencies and days of the orders a refresh
// converts, of the visitor ids of filter (qOrderDays).
func (s *Store) orderDays(ctx context.Context, filter string, args chsql.Args) ([]money.OrderDay, error) {
	qa := chsql.Args{"site": args["site"], "currency": args["currency"]}
	if filter != "" {
		qa["since"] = args["since"]
	}
	rows, err := s.db.Query(ctx, qOrderDays.With(map[string]string{"filter": filter}), qa)
	if err != nil {
		return nil, fmt.Errorf("currencies and days of orders: %w", err)
	}
	defer rows.Close()
	var out []money.OrderDay
	for rows.Next() {
		var d money.OrderDay
		if err := rows.Scan(&d.Currency, &d.Day); err != nil {
			return nil, fmt.Errorf("currencies and days of orders: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("currencies and days of orders: %w", err)
	}
	return out, nil
}
