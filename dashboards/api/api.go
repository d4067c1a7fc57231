// Package api is the query API the dashboards call: JSON reports read from
// the tables the processor maintains, with bound parameters only.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"footfall/internal/chsql"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"footfall/internal/links"
	"footfall/processor/campaigns"
	"footfall/processor/chstore"
	"footfall/processor/profiles"
	"footfall/processor/segments"
	"footfall/processor/sessionstats"
)

// API serves /api/v1/*.
type API struct {
	db        *chsql.Conn
	conn      driver.Conn // being replaced by db
	cfg       Config
	token     string
	now       func() time.Time
	people    *profiles.Store
	segments  *segments.Store
	campaigns *campaigns.Store
	sessions  *sessionstats.Store
}

// Config is what the API needs beyond the database.
type Config struct {
	// Token is what callers must send. Empty leaves the reports open, for a
	// local setup on loopback; the people, segment and campaign API then
	// refuses to answer.
	Token string
	Rules profiles.Rules
	// Links signs newsletter links and CollectorURL is the collector's
	// public address they point to; both are needed to rewrite newsletters.
	Links        *links.Signer
	CollectorURL string
	// Commission prices the affiliates report.
	Commission Commission
}

// New returns an API reading through store.
func New(store *chstore.Store, cfg Config) *API {
	people := profiles.NewStore(store.DB(), cfg.Rules)
	a := &API{db: store.DB(), conn: store.Conn(), cfg: cfg, token: cfg.Token, now: time.Now, people: people,
		segments: segments.NewStore(people), campaigns: campaigns.NewStore(store), sessions: sessionstats.NewStore(store.DB())}
	// The overview's session figures may lag the events by these seconds.
	a.sessions.MaxAge = 10 * time.Second
	return a
}

// Register mounts the API's routes on mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/overview", a.auth(a.overview))
	mux.HandleFunc("GET /api/v1/breakdown", a.auth(a.breakdown))
	mux.HandleFunc("GET /api/v1/timeseries", a.auth(a.timeseries))
	mux.HandleFunc("GET /api/v1/funnel", a.auth(a.funnel))
	mux.HandleFunc("GET /api/v1/realtime", a.auth(a.realtime))
	mux.HandleFunc("GET /api/v1/affiliates", a.auth(a.affiliates))
	mux.HandleFunc("GET /api/v1/affiliates/link", a.auth(a.affiliateLink))
	mux.HandleFunc("GET /api/v1/recently-viewed", a.auth(a.recentlyViewed))
	mux.HandleFunc("GET /api/v1/lifecycle", a.auth(a.lifecycle))
	mux.HandleFunc("GET /api/v1/profile", a.private(a.profile))
	mux.HandleFunc("DELETE /api/v1/profile", a.private(a.erase))
	mux.HandleFunc("GET /api/v1/profile/export", a.private(a.export))
	mux.HandleFunc("POST /api/v1/profile/manual", a.private(a.manual))
	mux.HandleFunc("GET /api/v1/segments", a.private(a.listSegments))
	mux.HandleFunc("POST /api/v1/segments", a.private(a.createSegment))
	mux.HandleFunc("GET /api/v1/segments/{id}", a.private(a.getSegment))
	mux.HandleFunc("PUT /api/v1/segments/{id}", a.private(a.updateSegment))
	mux.HandleFunc("DELETE /api/v1/segments/{id}", a.private(a.deleteSegment))
	mux.HandleFunc("GET /api/v1/segments/{id}/members", a.private(a.members))
	mux.HandleFunc("GET /api/v1/segments/{id}/export.csv", a.private(a.exportCSV))
	mux.HandleFunc("GET /api/v1/segments/{id}/sizes", a.private(a.sizes))
	mux.HandleFunc("GET /api/v1/consents/export.csv", a.private(a.consentLedger))
	mux.HandleFunc("GET /api/v1/campaigns", a.private(a.listCampaigns))
	mux.HandleFunc("POST /api/v1/campaigns", a.private(a.createCampaign))
	mux.HandleFunc("POST /api/v1/campaigns/{id}/recipients", a.private(a.addRecipients))
	mux.HandleFunc("GET /api/v1/campaigns/{id}/recipients", a.private(a.recipients))
	mux.HandleFunc("POST /api/v1/campaigns/{id}/rewrite", a.private(a.rewrite))
	mux.HandleFunc("GET /api/v1/campaigns/{id}/report", a.private(a.report))
	mux.HandleFunc("GET /api/v1/campaigns-compare", a.private(a.compare))
}

func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.token != "" {
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if got == "" {
				got = r.URL.Query().Get("token")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
				writeError(w, http.StatusUnauthorized, errors.New("missing or wrong API token"))
				return
			}
		}
		h(w, r)
	}
}

// Point is one step of a time series.
type Point struct {
	Time      time.Time `json:"time"`
	Pageviews uint64    `json:"pageviews"`
	Visitors  uint64    `json:"visitors"`
}

// Row is one line of a top list.
type Row struct {
	Key      string `json:"key"`
	Visitors uint64 `json:"visitors"`
	Views    uint64 `json:"pageviews"`
}

// Overview is the dashboard's first screen.
type Overview struct {
	Site      string    `json:"site"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Interval  string    `json:"interval"`
	Pageviews uint64    `json:"pageviews"`
	Visitors  uint64    `json:"visitors"`
	SessionStats
	Series  []Point `json:"series"`
	Pages   []Row   `json:"top_pages"`
	Sources []Row   `json:"top_sources"`
}

// SessionStats sums up the sessions that began in the period. A session is
// new when its visitor was first seen in it, returning otherwise: the
// visitor came back, recognised by the first-party id alone.
type SessionStats struct {
	Sessions          uint64  `json:"sessions"`
	NewSessions       uint64  `json:"new_sessions"`
	ReturningSessions uint64  `json:"returning_sessions"`
	BounceRate        float64 `json:"bounce_rate"`            // share of sessions with one page view or none
	VisitDuration     float64 `json:"visit_duration_seconds"` // mean time from first to last event
}

// Rollups answer everything: events_hourly the totals and series,
// pages_daily and sources_daily the top lists (periods are whole UTC days).
// Visitors come from their uniqHLL12 sketches (visitors_hll) on large
// sites: a month of them merges in tens of milliseconds where the uniq
// states took seconds at a million visitors. Below exactBelow visitors the
// uniq states are small, cheap to merge and exact where a sketch is a few
// percent off, which a small site would notice (293 visitors for 300 new
// sessions). %[1]s is the visitors aggregate of events_hourly, %[2]s that
// of the daily tables.
const (
	qTotals = `SELECT countIfMerge(pageviews), %[1]s
FROM events_hourly WHERE site_id = ? AND hour >= ? AND hour < ?`
	qSeriesHour = `SELECT hour AS t, countIfMerge(pageviews), %[1]s
FROM events_hourly WHERE site_id = ? AND hour >= ? AND hour < ? GROUP BY t ORDER BY t`
	qSeriesDay = `SELECT toStartOfDay(hour) AS t, countIfMerge(pageviews), %[1]s
FROM events_hourly WHERE site_id = ? AND hour >= ? AND hour < ? GROUP BY t ORDER BY t`
	// Pages are ranked by page views, cheap to add up; the visitor states
	// are merged for the ten shown only.
	qTopPages = `SELECT url_path, %[2]s AS v, countMerge(pageviews) AS pv
FROM pages_daily WHERE site_id = ? AND day >= toDate(?) AND day < toDate(?) AND url_path IN (
    SELECT url_path FROM pages_daily WHERE site_id = ? AND day >= toDate(?) AND day < toDate(?)
    GROUP BY url_path ORDER BY countMerge(pageviews) DESC, url_path LIMIT 10)
GROUP BY url_path ORDER BY pv DESC, url_path`
	qTopSources = `SELECT source, %[2]s AS v, countIfMerge(pageviews) AS pv
FROM sources_daily WHERE site_id = ? AND day >= toDate(?) AND day < toDate(?) AND source != '(internal)'
GROUP BY source ORDER BY v DESC, source LIMIT 10`
)

// exactBelow is the sketched visitor count under which the overview counts
// visitors exactly.
const exactBelow = 100_000

// visitorsAgg returns the visitor aggregates for qTotals and the others:
// sketches, or the exact uniq states.
func visitorsAgg(exact bool) []any {
	if exact {
		return []any{"uniqIfMerge(visitors)", "uniqMerge(visitors)"}
	}
	return []any{"uniqHLL12IfMerge(visitors_hll)", "uniqHLL12Merge(visitors_hll)"}
}

// errSite is the answer to a missing or malformed site parameter.
var errSite = errors.New("site is required: [A-Za-z0-9_.:@+-], up to 64 characters")

// siteOf reads the site parameter, answering 400 when it is not one.
func siteOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	site := r.URL.Query().Get("site")
	if !siteID.MatchString(site) {
		writeError(w, http.StatusBadRequest, errSite)
		return "", false
	}
	return site, true
}

var (
	siteID    = regexp.MustCompile(`^[A-Za-z0-9_.:@+-]{1,64}$`)
	visitorID = regexp.MustCompile(`^[A-Za-z0-9_.:@+-]{1,128}$`)
)

// Product is one product a visitor viewed.
type Product struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	LastViewed time.Time `json:"last_viewed"`
	Views      uint64    `json:"views"`
}

// RecentlyViewed is a visitor's products, the most recently viewed first.
type RecentlyViewed struct {
	Site      string    `json:"site"`
	VisitorID string    `json:"visitor_id"`
	Products  []Product `json:"products"`
}

// viewed_products is keyed by (site, visitor, product): one visitor's rows
// are found through the primary key, however large the site.
const qRecentlyViewed = `SELECT product_id, argMaxMerge(name) AS name, maxMerge(last_viewed) AS last, countMerge(views)
FROM viewed_products WHERE site_id = ? AND visitor_id = ?
GROUP BY product_id ORDER BY last DESC, product_id LIMIT ?`

// recentlyViewed answers GET /api/v1/recently-viewed?site=demo&visitor_id=V&limit=10,
// for a shop that shows a returning visitor what they looked at last time.
// The visitor id is the snippet's ff_vid cookie.
func (a *API) recentlyViewed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	site, visitor := q.Get("site"), q.Get("visitor_id")
	if !siteID.MatchString(site) {
		writeError(w, http.StatusBadRequest, errSite)
		return
	}
	if !visitorID.MatchString(visitor) {
		writeError(w, http.StatusBadRequest, errors.New("visitor_id is required: [A-Za-z0-9_.:@+-], up to 128 characters"))
		return
	}
	limit := uint64(10)
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseUint(l, 10, 8)
		if err != nil || n == 0 || n > 100 {
			writeError(w, http.StatusBadRequest, errors.New("limit must be 1 to 100"))
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	rows, err := a.conn.Query(ctx, qRecentlyViewed, site, visitor, limit)
	if err != nil {
		a.fail(w, "recently viewed", err)
		return
	}
	defer rows.Close()
	out := RecentlyViewed{Site: site, VisitorID: visitor, Products: []Product{}}
	for rows.Next() {
		var p Product
		if err := rows.Scan(&p.ID, &p.Name, &p.LastViewed, &p.Views); err != nil {
			a.fail(w, "recently viewed", err)
			return
		}
		out.Products = append(out.Products, p)
	}
	if err := rows.Err(); err != nil {
		a.fail(w, "recently viewed", err)
		return
	}
	writeJSON(w, out)
}

// overview answers GET /api/v1/overview?site=demo&from=2026-11-01&to=2026-11-08&interval=day
// (to is exclusive; the default is the last 7 days; interval hour or day).
func (a *API) overview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	from, to, err := a.period(q.Get("from"), q.Get("to"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	interval := q.Get("interval")
	if interval == "" {
		interval = "day"
		if to.Sub(from) <= 48*time.Hour {
			interval = "hour"
		}
	}
	series, step := qSeriesDay, 24*time.Hour
	switch interval {
	case "day":
	case "hour":
		series, step = qSeriesHour, time.Hour
	default:
		writeError(w, http.StatusBadRequest, errors.New("interval must be hour or day"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	o := Overview{Site: site, From: from, To: to, Interval: interval, Series: []Point{}}
	if err := a.conn.QueryRow(ctx, fmt.Sprintf(qTotals, visitorsAgg(false)...), site, from, to).Scan(&o.Pageviews, &o.Visitors); err != nil {
		a.fail(w, "totals", err)
		return
	}
	agg := visitorsAgg(o.Visitors < exactBelow)
	if o.Visitors < exactBelow {
		if err := a.conn.QueryRow(ctx, fmt.Sprintf(qTotals, agg...), site, from, to).Scan(&o.Pageviews, &o.Visitors); err != nil {
			a.fail(w, "totals", err)
			return
		}
	}
	st, err := a.sessions.Period(ctx, site, from, to)
	if err != nil {
		a.fail(w, "sessions", err)
		return
	}
	o.Sessions, o.NewSessions, o.ReturningSessions = st.Sessions, st.NewSessions, st.Sessions-st.NewSessions
	if n := st.Sessions; n > 0 {
		o.BounceRate = float64(st.Bounces) / float64(n)
		o.VisitDuration = float64(st.Duration) / float64(n)
	}
	rows, err := a.conn.Query(ctx, fmt.Sprintf(series, agg...), site, from, to)
	if err != nil {
		a.fail(w, "series", err)
		return
	}
	for rows.Next() {
		var p Point
		if err := rows.Scan(&p.Time, &p.Pageviews, &p.Visitors); err != nil {
			rows.Close()
			a.fail(w, "series", err)
			return
		}
		o.Series = append(o.Series, p)
	}
	rows.Close()
	o.Series = fill(o.Series, from, to, step)
	if o.Pages, err = a.top(ctx, fmt.Sprintf(qTopPages, agg...), site, from, to, site, from, to); err != nil {
		a.fail(w, "top pages", err)
		return
	}
	if o.Sources, err = a.top(ctx, fmt.Sprintf(qTopSources, agg...), site, from, to); err != nil {
		a.fail(w, "top sources", err)
		return
	}
	if wantsCSV(r) {
		t := Table{Report: "overview", Site: site, From: from, To: to, Columns: []string{"time", "pageviews", "visitors"}}
		for _, p := range o.Series {
			t.Rows = append(t.Rows, []any{p.Time, p.Pageviews, p.Visitors})
		}
		writeTable(w, r, t)
		return
	}
	writeJSON(w, o)
}

// fill returns one point per step from from to to, zero where the rollup
// had no row, so a chart shows quiet periods as quiet.
func fill(have []Point, from, to time.Time, step time.Duration) []Point {
	out := make([]Point, 0, int(to.Sub(from)/step))
	i := 0
	for t := from; t.Before(to); t = t.Add(step) {
		p := Point{Time: t}
		for i < len(have) && have[i].Time.Before(t) {
			i++
		}
		if i < len(have) && have[i].Time.Equal(t) {
			p = have[i]
		}
		out = append(out, p)
	}
	return out
}

func (a *API) top(ctx context.Context, query string, args ...any) ([]Row, error) {
	rows, err := a.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Row{}
	for rows.Next() {
		var r Row
		if err := rows.Scan(&r.Key, &r.Visitors, &r.Views); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// period reads from and to (YYYY-MM-DD, UTC, to exclusive).
func (a *API) period(fromS, toS string) (time.Time, time.Time, error) {
	today := a.now().UTC().Truncate(24 * time.Hour)
	to := today.Add(24 * time.Hour)
	from := to.Add(-7 * 24 * time.Hour)
	var err error
	if toS != "" {
		if to, err = time.Parse(time.DateOnly, toS); err != nil {
			return from, to, fmt.Errorf("to must be YYYY-MM-DD")
		}
	}
	if fromS != "" {
		if from, err = time.Parse(time.DateOnly, fromS); err != nil {
			return from, to, fmt.Errorf("from must be YYYY-MM-DD")
		}
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("from must be before to")
	}
	if to.Sub(from) > 400*24*time.Hour {
		return from, to, fmt.Errorf("period longer than 400 days")
	}
	return from, to, nil
}

func (a *API) fail(w http.ResponseWriter, what string, err error) {
	slog.Error("query failed", "report", what, "err", err)
	writeError(w, http.StatusInternalServerError, fmt.Errorf("query %s failed", what))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
