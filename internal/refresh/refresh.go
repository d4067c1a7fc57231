// Package refresh keeps how far each refresh of a derived table (people,
// session statistics) has got per site: a view notes in a *_touched table,
// with the server's clock, what each insert touched, and the refreshes
// table records each completed refresh.
package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"footfall/internal/chsql"
)

// Derived tables that a materialized view cannot keep alone (a person
// across devices, the sessions that began in an hour) are refreshed from
// what was inserted since their last refresh: a view notes in a *_touched
// table, with the server's clock, what each insert touched, and the
// refreshes table records how far each kind of refresh has got per site.

const (
	// TouchedSlack is how far before its last refresh a refresh looks
	// again, for inserts whose rows became visible after it had read:
	// touched_at is whole seconds, and a view takes now() just before
	// writing its small part. Each refresh redoes this window, so it stays
	// short.
	TouchedSlack = 2 * time.Second
	// TouchedKeep is how long the *_touched tables keep their days; a site
	// not refreshed for longer is rebuilt whole.
	TouchedKeep = 2 * 24 * time.Hour
)

var (
	qLastRefresh  = chsql.New("refresh.last", `SELECT now(), max(upto), count() FROM refreshes WHERE site_id = @site AND kind = @kind`)
	insertRefresh = chsql.New("refresh.record", `INSERT INTO refreshes (site_id, kind, upto, written, full)`)
	// qTouchedDays reads the parts of every node (on a cluster, each
	// replica's of the local table: chsql.Conn.System, Stored).
	qTouchedDays = chsql.New("refresh.touched_days", `SELECT DISTINCT partition FROM {{parts}} WHERE database = {{db}} AND table = @table AND active`)
	dropDay      = chsql.New("refresh.drop_touched_day", `ALTER TABLE {{table}} DROP PARTITION @day`)
)

// Timeout bounds a refresh's statements. clickhouse-go fails a statement
// still running at its connection's read timeout (60 s, chsql) unless the
// context carries a deadline of its own, and a whole rebuild of the people
// table at 100M events ran past two minutes on two cores: the client gave
// up at 60 s, ClickHouse went on and then failed the statement ("Attempt
// to read after eof"), and the next refresh began it again.
const Timeout = time.Hour

// Bound returns ctx with Timeout's deadline, or ctx's own if sooner: the
// context a refresh runs its statements under.
func Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, Timeout)
}

// Watermark is where a refresh starts.
type Watermark struct {
	Now   time.Time // the server's clock: the next refresh starts here
	Since time.Time // touched rows from here on are new (slack included)
	Full  bool      // never refreshed, or too long ago: rebuild whole
}

// Last reads where the last refresh of kind for site got to.
func Last(ctx context.Context, conn *chsql.Conn, kind, site string) (Watermark, error) {
	var w Watermark
	var last time.Time
	var n uint64
	if err := conn.QueryRow(ctx, qLastRefresh, chsql.Args{"site": site, "kind": kind}).Scan(&w.Now, &last, &n); err != nil {
		return w, fmt.Errorf("read last %s refresh of %s: %w", kind, site, err)
	}
	w.Since = last.Add(-TouchedSlack)
	w.Full = n == 0 || w.Now.Sub(last) > TouchedKeep
	return w, nil
}

// Record notes a completed refresh, then drops the days of touched
// that no refresh reads any more.
func Record(ctx context.Context, conn *chsql.Conn, kind, site string, w Watermark, written uint64, touched string) error {
	if err := Note(ctx, conn, kind, w.Now, w.Full, Written{site, written}); err != nil {
		return fmt.Errorf("record %s refresh of %s: %w", kind, site, err)
	}
	// The refresh is done and recorded: days left this time go at the next
	// one. On a cluster the days are listed on every node, and while one
	// is down that fails; the refresh, and what follows it (segments,
	// triggers), must not.
	if err := dropOldDays(ctx, conn, touched, w.Now.Add(-TouchedKeep-24*time.Hour)); err != nil {
		oldDaysKept.Inc()
		slog.Warn("old touched days kept until the next refresh", "table", touched, "site", site, "err", err)
	}
	return nil
}

// Written is one site's row of a Note: how many rows kind wrote there.
type Written struct {
	Site string
	Rows uint64
}

// Note writes rows of the refreshes table, one per site of written, in
// one insert: kind got to upto there, whole (full) or not. Record is a
// refresh's; other kinds of upkeep note theirs alike under kinds of their
// own (the people table's base, internal/profiles).
func Note(ctx context.Context, conn *chsql.Conn, kind string, upto time.Time, full bool, written ...Written) error {
	b, err := conn.PrepareBatch(ctx, insertRefresh)
	if err != nil {
		return fmt.Errorf("note %s in the refreshes table: %w", kind, err)
	}
	var f uint8
	if full {
		f = 1
	}
	for _, w := range written {
		if err := b.Append(w.Site, kind, upto, w.Rows, f); err != nil {
			b.Abort()
			return fmt.Errorf("note %s of %s in the refreshes table: %w", kind, w.Site, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("note %s in the refreshes table: %w", kind, err)
	}
	return nil
}

// oldDaysKept counts refreshes that could not drop the touched days no
// refresh reads any more.
var oldDaysKept = promauto.NewCounter(prometheus.CounterOpts{
	Name: "refresh_old_touched_days_kept_total",
	Help: "Refreshes after which the touched days no refresh reads any more could not be dropped (they go at a later refresh), e.g. while a cluster node is down.",
})

// dropOldDays drops the daily partitions of table older than before.
func dropOldDays(ctx context.Context, conn *chsql.Conn, table string, before time.Time) error {
	st := qTouchedDays.With(map[string]string{"parts": conn.System("parts"), "db": conn.DatabaseSQL()})
	rows, err := conn.Query(ctx, st, chsql.Args{"table": conn.Stored(table)})
	if err != nil {
		return fmt.Errorf("list %s days: %w", table, err)
	}
	var days []int
	oldest, _ := strconv.Atoi(before.Format("20060102"))
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return fmt.Errorf("list %s days: %w", table, err)
		}
		if day, err := strconv.Atoi(p); err == nil && day < oldest {
			days = append(days, day)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list %s days: %w", table, err)
	}
	for _, day := range days {
		// The table name is the caller's constant, the partition a number.
		if err := conn.Exec(ctx, dropDay.With(map[string]string{"table": table}), chsql.Args{"day": day}); err != nil {
			return fmt.Errorf("drop %s day %d: %w", table, day, err)
		}
	}
	return nil
}
