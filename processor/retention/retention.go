// Package retention drops each site's data once it is older than the
// site's retention period: events and every rollup made from them.
// ClickHouse 18.16 has no TTL, so the processor does it on a schedule.
//
// The tables are partitioned by month of their time, one partition for all
// sites. A month whose every site's period has run out goes whole, by
// DROP PARTITION: a file operation, instant whatever its size. A month
// that still holds rows some site keeps cannot be dropped for one site;
// the rows of the sites whose period ended are then deleted by ALTER
// TABLE ... DELETE, a mutation that rewrites the parts holding them (the
// README's Security section has what each cost here). Cut-offs are whole
// UTC days, so a site's rows are deleted at most once a day per table.
package retention

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"footfall/internal/chsql"
)

// table is a table of site rows by time.
type table struct {
	name, time string
	// date says the time column is a Date (its cut-off is bound as one).
	date bool
	// monthly says it is PARTITION BY toYYYYMM(time).
	monthly bool
}

// tables are every table whose rows are one site's at one time: the events
// and what is built from them, per hour, day or visitor. A per-visitor
// table keeps the latest time of its row as an aggregate state (a
// product's last view, an interest's last sighting): its rows go
// when that time is past the period, by deletion (they are not
// partitioned by month). Left out on purpose (TestRetentionCoversTables
// lists each with why): the consent ledger (consents), the proof of each
// consent, kept as long as the consent stands; the person tables the
// erasure removes and the refresh rebuilds (visitor_profiles, identities,
// identity_claims); people_touched and sessions_touched, the refreshes'
// queues, stamped with their insertion time; events_rejected, which names
// no site.
var tables = []table{
	{name: "events", time: "time", monthly: true},
	{name: "events_hourly", time: "hour", monthly: true},
	{name: "pages_daily", time: "day", date: true, monthly: true},
	{name: "sources_daily", time: "day", date: true, monthly: true},
	{name: "breakdowns_daily", time: "day", date: true, monthly: true},
	{name: "page_breakdowns", time: "day", date: true, monthly: true},
	{name: "purchases", time: "time", monthly: true},
	{name: "session_parts", time: "hour", monthly: true},
	{name: "sessions_hourly", time: "hour"},
	{name: "session_summaries", time: "hour", monthly: true},
	{name: "visitor_visits", time: "time", monthly: true},
	{name: "segment_sizes", time: "time", monthly: true},
	{name: "viewed_products", time: "finalizeAggregation(last_viewed)"},
	{name: "interest_visitors", time: "finalizeAggregation(last_seen)"},
}

// Periods says each site's retention in days (0: kept for ever); a site it
// does not name keeps Config.Days. The site registry's RetentionDays.
type Periods func(ctx context.Context) (map[string]int, error)

// Config is the job's configuration.
type Config struct {
	// Days is the retention of a site that Periods does not name; 0 keeps
	// its data for ever.
	Days int
	// Interval is the time between two runs.
	Interval time.Duration
}

// Job drops what is past each site's retention.
type Job struct {
	db      *chsql.Conn
	cfg     Config
	periods Periods
	now     func() time.Time
}

// New returns the job on db (a connection that writes); periods may be nil.
func New(db *chsql.Conn, cfg Config, periods Periods) *Job {
	return &Job{db: db, cfg: cfg, periods: periods, now: time.Now}
}

var (
	metricDropped = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_retention_partitions_dropped_total",
		Help: "Month partitions dropped whole because every site's retention in them had run out, by table.",
	}, []string{"table"})
	metricDeletes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_retention_deletes_total",
		Help: "ALTER DELETE mutations sent for one site's expired rows in a month other sites still keep, by table.",
	}, []string{"table"})
	metricRuns = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_retention_runs_total",
		Help: "Runs of the retention job, by result (ok, error).",
	}, []string{"result"})
)

var (
	qMonths = chsql.New("retention.months", `SELECT toYYYYMM({{time}}) AS month, site_id, min({{time}})
FROM {{table}} WHERE {{time}} < @before GROUP BY month, site_id ORDER BY month, site_id`)
	dropPartition = chsql.New("retention.drop_partition", `ALTER TABLE {{table}} DROP PARTITION @month`)
	deleteRows    = chsql.New("retention.delete", `ALTER TABLE {{table}} DELETE WHERE site_id = @site AND {{time}} < @before`)
	// qPending reads the mutations of every node (on a cluster, each
	// replica's of the local table: chsql.Conn.System, Stored).
	qPending = chsql.New("retention.pending", `SELECT count() FROM {{mutations}} WHERE database = {{db}} AND table = @table AND is_done = 0`)
)

// Run runs the job now and then every Interval until ctx ends.
func (j *Job) Run(ctx context.Context) {
	tick := time.NewTicker(j.cfg.Interval)
	defer tick.Stop()
	for {
		if _, err := j.Round(ctx); err != nil && ctx.Err() == nil {
			slog.Error("retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Result is what a round did.
type Result struct {
	// Dropped are table:month partitions dropped, Deleted table:site
	// deletions sent.
	Dropped, Deleted []string
}

// Round drops and deletes what is past each site's period, once. The
// deletions are ClickHouse mutations: they are done when it has applied
// them, in the background.
func (j *Job) Round(ctx context.Context) (Result, error) {
	var res Result
	err := j.round(ctx, &res)
	if err != nil {
		metricRuns.WithLabelValues("error").Inc()
		return res, err
	}
	metricRuns.WithLabelValues("ok").Inc()
	return res, nil
}

func (j *Job) round(ctx context.Context, res *Result) error {
	periods := map[string]int{}
	if j.periods != nil {
		var err error
		if periods, err = j.periods(ctx); err != nil {
			return fmt.Errorf("read retention periods: %w", err)
		}
	}
	today := j.now().UTC().Truncate(24 * time.Hour)
	// cutoff is the first day a site keeps; zero for ever.
	cutoff := func(site string) time.Time {
		days, ok := periods[site]
		if !ok {
			days = j.cfg.Days
		}
		if days <= 0 {
			return time.Time{}
		}
		return today.AddDate(0, 0, -days)
	}
	// Only rows before the latest cut-off of any site can be expired.
	latest := today.AddDate(0, 0, -j.cfg.Days)
	if j.cfg.Days <= 0 {
		latest = time.Time{}
	}
	for _, days := range periods {
		if c := today.AddDate(0, 0, -days); days > 0 && c.After(latest) {
			latest = c
		}
	}
	if latest.IsZero() {
		return nil // every site keeps everything
	}
	for _, t := range tables {
		if err := j.table(ctx, t, latest, cutoff, res); err != nil {
			return err
		}
	}
	return nil
}

// bound is a cut-off as the table's time column's type.
func (t table) bound(c time.Time) any {
	if t.date {
		return chsql.Date(c)
	}
	return c
}

// siteMin is a site's oldest row in a month.
type siteMin struct {
	site string
	min  time.Time
}

func (j *Job) table(ctx context.Context, t table, latest time.Time, cutoff func(string) time.Time, res *Result) error {
	parts := map[string]string{"table": t.name, "time": t.time}
	months := map[uint32][]siteMin{}
	rows, err := j.db.Query(ctx, qMonths.With(parts), chsql.Args{"before": t.bound(latest)})
	if err != nil {
		return fmt.Errorf("retention: months of %s: %w", t.name, err)
	}
	for rows.Next() {
		var m uint32
		var s siteMin
		if err := rows.Scan(&m, &s.site, &s.min); err != nil {
			rows.Close()
			return fmt.Errorf("retention: months of %s: %w", t.name, err)
		}
		months[m] = append(months[m], s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("retention: months of %s: %w", t.name, err)
	}
	del := map[string]bool{}
	for _, m := range slices.Sorted(maps.Keys(months)) {
		if whole(t, m, months[m], cutoff) {
			if err := j.db.Exec(ctx, dropPartition.With(map[string]string{"table": t.name}), chsql.Args{"month": m}); err != nil {
				return fmt.Errorf("retention: drop %s partition %d: %w", t.name, m, err)
			}
			metricDropped.WithLabelValues(t.name).Inc()
			res.Dropped = append(res.Dropped, fmt.Sprintf("%s:%d", t.name, m))
			continue
		}
		for _, s := range months[m] {
			if c := cutoff(s.site); !c.IsZero() && s.min.Before(c) {
				del[s.site] = true
			}
		}
	}
	if len(del) == 0 {
		return nil
	}
	// A deletion still under way (the last round's, or another
	// processor's) is not sent again: the next round sees what it left.
	var pending uint64
	st := qPending.With(map[string]string{"mutations": j.db.System("mutations"), "db": j.db.DatabaseSQL()})
	if err := j.db.QueryRow(ctx, st, chsql.Args{"table": j.db.Stored(t.name)}).Scan(&pending); err != nil {
		return fmt.Errorf("retention: mutations of %s: %w", t.name, err)
	}
	if pending > 0 {
		return nil
	}
	for _, site := range slices.Sorted(maps.Keys(del)) {
		args := chsql.Args{"site": site, "before": t.bound(cutoff(site))}
		if err := j.db.Exec(ctx, deleteRows.With(parts), args); err != nil {
			return fmt.Errorf("retention: delete %s rows of %s: %w", t.name, site, err)
		}
		metricDeletes.WithLabelValues(t.name).Inc()
		res.Deleted = append(res.Deleted, t.name+":"+site)
	}
	return nil
}

// whole says whether month m of t goes whole: every site with rows in it
// is past its period for the whole month.
func whole(t table, m uint32, sites []siteMin, cutoff func(string) time.Time) bool {
	if !t.monthly {
		return false
	}
	end := time.Date(int(m/100), time.Month(m%100)+1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range sites {
		if c := cutoff(s.site); c.IsZero() || c.Before(end) {
			return false
		}
	}
	return true
}

// RegisterFlags declares the job's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Days, "retention-days", 0, "days a site's events and rollups are kept when the site registry gives it no retention_days; 0 keeps them for ever")
	fs.DurationVar(&c.Interval, "retention-interval", time.Hour, "how often expired data is dropped (whole month partitions) or deleted (one site's rows in a month others keep); 0 turns it off")
}
