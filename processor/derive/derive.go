// Package derive keeps the derived tables up to date: on a timer, for every
// site with events, it refreshes the session statistics (sessions_hourly)
// and the people table from what was inserted since their last refresh,
// and now and then compacts the people table (profiles.Store.Compact).
// The dashboards only read them, as the last refresh left them, on a
// connection that cannot write. Each refresh's duration and errors, and
// how long ago the last round of each kind completed, are metrics.
package derive

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"footfall/internal/chsql"
	"footfall/internal/profiles"
	"footfall/internal/sessionstats"
)

// Config configures the refresh timer.
type Config struct {
	Interval time.Duration
	// CompactEvery is how often the people table is compacted
	// (profiles.Store.Compact), beside the refresh rounds.
	CompactEvery time.Duration
}

// RegisterFlags declares Config's flags on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.Interval, "refresh-interval", 5*time.Second, "how often the session statistics and the people table are brought up to date with the events (the dashboards show them as of the last refresh); 0 turns refreshing off, for a processor beside one that refreshes")
	fs.DurationVar(&c.CompactEvery, "people-compact-interval", 6*time.Hour, "how often the refreshing processor merges the people table and moves each site's base, below which readers take each person's one row without merging (after a start, once the newest base is that old, a refresh interval after the start when there is none; each rewrites the table: 5 s for 10M people on two cores; at least the refresh interval); 0 never compacts, and readers merge every row the refreshes wrote")
}

// The kinds of refresh, as the metrics name them (the refreshes table
// names the session statistics' session_summaries since migration 0030).
const (
	Sessions = "sessions"
	People   = "people"
)

var kinds = []string{Sessions, People}

var (
	refreshSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "processor_refresh_seconds",
		Help:    "Time to refresh one kind of derived table (sessions, people) for every site once.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
	}, []string{"kind"})
	compactSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "processor_people_compaction_seconds",
		Help:    "Time to compact the people table: merge its parts and move the sites' bases (profiles.Store.Compact).",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
	})
	compactErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_people_compaction_errors_total",
		Help: "Compactions of the people table that failed (tried again after -people-compact-interval).",
	})
	basesHeld = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_people_bases_held_total",
		Help: "Sites whose base a compaction left where it was: a person still had two rows below the new base (a merge ClickHouse had not done). Their readers merge more rows until a later compaction moves it.",
	})
	refreshErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "processor_refresh_errors_total",
		Help: "Refreshes of a derived table of one site that failed (they are tried again next round), by kind.",
	}, []string{"kind"})
	// completed is when the last round of each kind refreshed every site
	// without an error, in Unix nanoseconds; the process's start until
	// then, so that a refresh that never succeeds shows a growing age.
	completed = map[string]*atomic.Int64{}
)

func init() {
	start := time.Now().UnixNano()
	for _, k := range kinds {
		c := new(atomic.Int64)
		c.Store(start)
		completed[k] = c
		promauto.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "processor_refresh_age_seconds",
			Help:        "Seconds since the last round that refreshed every site of this kind of derived table (since the process started, before the first): how stale the dashboards' figures may be.",
			ConstLabels: prometheus.Labels{"kind": k},
		}, func() float64 { return time.Since(time.Unix(0, c.Load())).Seconds() })
	}
}

// Age is how long ago the last complete round of kind ended.
func Age(kind string) time.Duration {
	return time.Since(time.Unix(0, completed[kind].Load()))
}

// qSites lists the sites with events: events_hourly has every site with
// events but newsletter ones, people_touched those of the last days, with
// newsletter-only sites among them. Both are small.
var qSites = chsql.New("derive.sites", `SELECT DISTINCT site_id FROM (
    SELECT site_id FROM events_hourly GROUP BY site_id
    UNION ALL
    SELECT site_id FROM people_touched GROUP BY site_id
) ORDER BY site_id`)

// Refresher refreshes the derived tables of every site.
type Refresher struct {
	db           *chsql.Conn
	sessions     *sessionstats.Store
	people       *profiles.Store
	interval     time.Duration
	compactEvery time.Duration // Config.CompactEvery
}

// New returns a Refresher writing through people's connection. Share
// people with the processor's other users of the people table (the
// trigger loop's segments), so that their refreshes take turns.
func New(people *profiles.Store, cfg Config) *Refresher {
	compactEvery := cfg.CompactEvery
	if compactEvery > 0 && compactEvery < cfg.Interval {
		compactEvery = cfg.Interval // each compaction rewrites the table
	}
	return &Refresher{db: people.DB(), sessions: sessionstats.NewStore(people.DB()), people: people, interval: cfg.Interval, compactEvery: compactEvery}
}

// Run refreshes every Interval until ctx ends; a round that fails is
// logged and counted, and the next one tries again.
func (r *Refresher) Run(ctx context.Context) {
	if r.compactEvery > 0 {
		// Compactions run beside the refreshes, not in their rounds: a
		// merge waits for every replica of a cluster, and one that is
		// down must not keep the dashboards' figures from refreshing.
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.compactLoop(ctx)
		}()
		defer func() { <-done }()
	}
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		if err := r.Round(ctx); err != nil && ctx.Err() == nil {
			slog.Error("refresh of derived tables", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Round refreshes the session statistics, then the people table, of every
// site with events once. A site that fails does not stop the others; the
// errors are returned together.
func (r *Refresher) Round(ctx context.Context) error {
	sites, err := r.sites(ctx)
	if err != nil {
		for _, k := range kinds {
			refreshErrors.WithLabelValues(k).Inc()
		}
		return err
	}
	var errs []error
	for _, kind := range kinds {
		start := time.Now()
		failed := false
		for _, site := range sites {
			if ctx.Err() != nil {
				return errors.Join(append(errs, ctx.Err())...)
			}
			if err := r.refresh(ctx, kind, site); err != nil {
				refreshErrors.WithLabelValues(kind).Inc()
				errs = append(errs, err)
				failed = true
			}
		}
		refreshSeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
		if !failed {
			completed[kind].Store(time.Now().UnixNano())
		}
	}
	return errors.Join(errs...)
}

// compactLoop compacts the people table every compactEvery until ctx
// ends: the first time a refresh interval after the start (the first
// round has refreshed by then), or when the last compaction, by the
// newest base, is compactEvery old, so that restarts do not rewrite the
// table each time. A compaction that fails is logged and counted, and the
// next one tries again.
func (r *Refresher) compactLoop(ctx context.Context) {
	wait := time.NewTimer(r.interval)
	defer wait.Stop()
	if newest, err := r.people.NewestBase(ctx); err == nil && !newest.IsZero() {
		// A base lies profiles.BaseMargin before its compaction.
		wait.Reset(max(r.interval, time.Until(newest.Add(profiles.BaseMargin+r.compactEvery))))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		start := time.Now()
		c, err := r.people.Compact(ctx)
		compactSeconds.Observe(time.Since(start).Seconds())
		switch {
		case err != nil && ctx.Err() == nil:
			compactErrors.Inc()
			slog.Error("compaction of the people table", "err", err)
		case c.Held > 0:
			basesHeld.Add(float64(c.Held))
			slog.Warn("people table compacted; some sites' bases held (a person had two rows below the new base)", "moved", c.Moved, "held", c.Held)
		}
		wait.Reset(r.compactEvery)
	}
}

func (r *Refresher) refresh(ctx context.Context, kind, site string) error {
	var err error
	switch kind {
	case Sessions:
		_, err = r.sessions.Refresh(ctx, site)
	case People:
		_, err = r.people.Refresh(ctx, site)
	}
	if err != nil {
		return fmt.Errorf("refresh %s of %s: %w", kind, site, err)
	}
	return nil
}

func (r *Refresher) sites(ctx context.Context) ([]string, error) {
	rows, err := r.db.Query(ctx, qSites, nil)
	if err != nil {
		return nil, fmt.Errorf("list sites to refresh: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var site string
		if err := rows.Scan(&site); err != nil {
			return nil, fmt.Errorf("list sites to refresh: %w", err)
		}
		out = append(out, site)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sites to refresh: %w", err)
	}
	return out, nil
}
