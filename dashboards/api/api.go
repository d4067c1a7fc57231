// Package api is the query API the dashboards call: JSON reports read from
// the tables the processor maintains, with bound parameters only.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"footfall/internal/access"
	"footfall/internal/campaigns"
	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/links"
	"footfall/internal/profiles"
	"footfall/internal/reports"
	"footfall/internal/segments"
	"footfall/internal/sessionstats"
	"footfall/internal/sites"
)

// API serves the reports and reads of /api/v1/*. Its handlers read
// through db, a connection that may not write: the dashboards open it as
// a read-only ClickHouse user, and the tests do too. The few requests that
// change something are writer's (server.go), which alone holds a
// connection that writes.
type API struct {
	db        *chsql.Conn
	cfg       Config
	access    *access.Store
	csrf      *http.CrossOriginProtection
	now       func() time.Time
	people    *profiles.Store
	segments  *segments.Store
	campaigns *campaigns.Store
	sessions  *sessionstats.Store
	slots     *reportSlots
}

// Config is what the API needs beyond the database.
type Config struct {
	// Token, when set, is an admin's API token that is not stored (the
	// -api-token of scripts and tests), sent as Authorization: Bearer.
	Token string
	// Access holds the users, sessions, API tokens, share links and public
	// keys (auth.go); nil accepts Token alone.
	Access *access.Store
	// SecureCookies marks the session cookie Secure and names it with
	// __Host- (a dashboards behind TLS); it is Secure anyway on a TLS
	// request. SessionTTL is how long a login lasts (default 12 hours).
	SecureCookies bool
	SessionTTL    time.Duration

	Rules profiles.Rules
	// Links signs newsletter links and CollectorURL is the collector's
	// public address they point to; both are needed to rewrite newsletters.
	Links        *links.Signer
	CollectorURL string
	// Commission prices the affiliates report.
	Commission Commission
	// Sites is the site registry: each site's zone, lifecycle rules and
	// commissions, and the /api/v1/sites routes that change it; nil leaves
	// every site to Rules, Commission and Zone.
	Sites *sites.Registry
	// Zone is a site's time zone (the site registry's), in which its
	// periods, steps and times are read and shown; nil, or nil for a
	// site, is UTC. Its locations must have IANA names (time.LoadLocation).
	Zone func(site string) *time.Location
	// Currency is a site's reporting currency (the site registry's), which
	// amounts are converted to (internal/money); nil, or "" for a site, is
	// money.DefaultCurrency.
	Currency func(site string) string
	// Now is the clock "today" is read from; nil is time.Now.
	Now func() time.Time
	// Funnels says whom a funnel follows when the request does not say
	// sample=off (its zero value: reports.DefaultSampleEvents).
	Funnels reports.Sampling
	// MaxReports is how many reads of reports and people one credential
	// (a user's sessions, a token, a share link) runs at once; more wait
	// their turn (reportSlots). 0: no bound.
	MaxReports int
}

// newAPI returns the read side of the API, on reader.
func newAPI(reader *chsql.Conn, cfg Config) *API {
	people := profiles.NewStore(reader, cfg.Rules)
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	return &API{db: reader, cfg: cfg, access: cfg.Access, csrf: http.NewCrossOriginProtection(), now: now, people: people,
		segments: segments.NewStore(people), campaigns: campaignsIn(reader, cfg.Currency), sessions: sessionstats.NewStore(reader),
		slots: newReportSlots(cfg.MaxReports)}
}

// Point is one step of the overview's series.
type Point = reports.Point

// Row is one line of a top list.
type Row = reports.Row

// Overview is the dashboard's first screen.
type Overview struct {
	Site      string    `json:"site"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Interval  string    `json:"interval"`
	Zone      string    `json:"zone"` // the site's time zone, its IANA name
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
	// browserVisitor is the id the snippet gives a browser (sdk-js
	// visitorId): crypto.randomUUID(), or Math.random() as text where
	// there is none. A credential that may not read the site's people (a
	// public key, a share link) reads recently viewed products of such ids
	// only: not of "u:<user id>" (a person named by the shop's backend),
	// nor of anything a caller could guess from a name.
	browserVisitor = regexp.MustCompile(`^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|0\.[0-9]{1,24}|[1-9](?:\.[0-9]{1,24})?e-[0-9]{1,3})$`)
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

// qViewed is the products some visitor ids viewed, the most recent first.
// viewed_products is keyed by (site, visitor, product): a visitor's rows
// are found through the primary key, however large the site.
var qViewed = chsql.New("api.viewed_products", `SELECT product_id, argMaxMerge(product_name) AS product_name, maxMerge(last_viewed) AS last, countMerge(views)
FROM viewed_products WHERE site_id = @site AND visitor_id IN {{visitors}}
GROUP BY product_id ORDER BY last DESC, product_id LIMIT @limit`)

// viewed lists the products of the visitor ids in set, at most limit:
// set is a person's (profiles.Visitors.SQL, a subquery that holds any
// number of ids) or "@visitors", one visitor bound in args.
func (a *API) viewed(ctx context.Context, site, set string, args chsql.Args, limit uint64) ([]Product, error) {
	out := []Product{}
	all := chsql.Args{"site": site, "limit": limit}
	for k, v := range args {
		all[k] = v
	}
	err := a.each(ctx, qViewed.With(map[string]string{"visitors": set}), all, func(scan func(...any) error) error {
		var p Product
		if err := scan(&p.ID, &p.Name, &p.LastViewed, &p.Views); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

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
	if p := principalOf(r); p != nil && !p.Can(site, access.Read) && !browserVisitor.MatchString(visitor) {
		writeError(w, http.StatusForbidden, fmt.Errorf("this %s reads only a browser's own visitor id (the snippet's ff_vid cookie: a UUID); "+
			"a person's id (%s<user id>) or any other id needs a credential that may read the people of site %s", p.Kind, event.UserVisitorPrefix, site))
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
	products, err := a.viewed(ctx, site, "@visitors", chsql.Args{"visitors": chsql.Set[string]{visitor}}, limit)
	if err != nil {
		a.fail(w, "recently viewed", err)
		return
	}
	a.writeLocal(w, site, RecentlyViewed{Site: site, VisitorID: visitor, Products: products})
}

// overview answers GET /api/v1/overview?site=demo&from=2026-11-01&to=2026-11-08&interval=day
// (to is exclusive; the default is the last 7 days; interval hour or day).
func (a *API) overview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	site, ok := siteOf(w, r)
	if !ok {
		return
	}
	loc := a.zone(site)
	from, to, err := a.period(loc, q.Get("from"), q.Get("to"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	// The session statistics read their own rollup: beside the traffic's.
	type period struct {
		st  sessionstats.Stats
		err error
	}
	sessions := make(chan period, 1)
	go func() {
		st, err := a.sessions.Period(ctx, site, from, to)
		sessions <- period{st, err}
	}()
	tr, err := reports.OverviewOf(ctx, a.db, reports.Query{Site: site, From: from, To: to, Zone: loc}, q.Get("interval"))
	ps := <-sessions
	var bad *reports.InputError
	if errors.As(err, &bad) {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err != nil {
		a.fail(w, "overview", err)
		return
	}
	o := Overview{Site: site, From: from, To: to, Zone: loc.String(), Interval: tr.Interval, Pageviews: tr.Pageviews, Visitors: tr.Visitors,
		Series: tr.Series, Pages: tr.Pages, Sources: tr.Sources}
	st := ps.st
	if ps.err != nil {
		a.fail(w, "sessions", ps.err)
		return
	}
	o.Sessions, o.NewSessions, o.ReturningSessions = st.Sessions, st.NewSessions, st.Sessions-st.NewSessions
	if n := st.Sessions; n > 0 {
		o.BounceRate = float64(st.Bounces) / float64(n)
		o.VisitDuration = float64(st.Duration) / float64(n)
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

// zone is site's time zone, UTC when it has none.
func (a *API) zone(site string) *time.Location {
	if a.cfg.Zone != nil {
		if loc := a.cfg.Zone(site); loc != nil {
			return loc
		}
	}
	return time.UTC
}

// period reads from and to (YYYY-MM-DD, to exclusive) as days of loc,
// the site's zone: from its midnight at the start of from to its
// midnight at the start of to. The default is the last 7 days, today
// (in loc) the last of them.
func (a *API) period(loc *time.Location, fromS, toS string) (time.Time, time.Time, error) {
	if _, err := reports.ZoneName(loc); err != nil {
		return time.Time{}, time.Time{}, err
	}
	// Days are counted on dates, each edge the first instant of its date
	// (reports.DayStart): adding 24 h to a day that began at 01:00 (a
	// midnight the clocks skipped) would begin every following one there.
	now := a.now().In(loc)
	to := reports.DayStart(now.Year(), now.Month(), now.Day()+1, loc)
	from := reports.DayStart(now.Year(), now.Month(), now.Day()-6, loc)
	day := func(s string) (time.Time, error) {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return d, err
		}
		return reports.DayStart(d.Year(), d.Month(), d.Day(), loc), nil
	}
	var err error
	if toS != "" {
		if to, err = day(toS); err != nil {
			return from, to, fmt.Errorf("to must be YYYY-MM-DD")
		}
	}
	if fromS != "" {
		if from, err = day(fromS); err != nil {
			return from, to, fmt.Errorf("from must be YYYY-MM-DD")
		}
	}
	if !from.Before(to) {
		return from, to, fmt.Errorf("from must be before to")
	}
	if to.Sub(from) > 400*24*time.Hour+time.Hour {
		return from, to, fmt.Errorf("period longer than 400 days")
	}
	if from.Before(firstDay) || to.After(lastDay) {
		return from, to, fmt.Errorf("from and to must be between %s and %s", firstDay.Format(time.DateOnly), lastDay.Format(time.DateOnly))
	}
	return from, to, nil
}

// firstDay and lastDay bound a report's period: ClickHouse's DateTime
// holds 1970-01-01 to 2106-02-07 (UTC), and a report reads a few days
// either side of its period (rates, sessions that cross its edges).
var (
	firstDay = time.Date(1970, 2, 1, 0, 0, 0, 0, time.UTC)
	lastDay  = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

func (a *API) fail(w http.ResponseWriter, what string, err error) {
	// ClickHouse's message may quote the statement, up to its 256 KiB,
	// with the values it names (pages, filters): the log keeps its head.
	msg := err.Error()
	if len(msg) > maxLoggedError {
		msg = strings.ToValidUTF8(msg[:maxLoggedError], "") + fmt.Sprintf("... (%d bytes)", len(msg))
	}
	slog.Error("query failed", "report", what, "err", msg)
	if errors.Is(err, context.DeadlineExceeded) {
		// Not a fault of ours: the report outgrew its time (ClickHouse
		// stops it too, clickhouse-go's max_execution_time). Say what to do.
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("query %s took longer than the API allows: narrow the period or the filters (a funnel: leave sample=off out)", what))
		return
	}
	writeError(w, http.StatusInternalServerError, fmt.Errorf("query %s failed", what))
}

// maxLoggedError is how much of a failed query's error the log keeps.
const maxLoggedError = 2048

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

// spoolMemory is how much of a file answer a spool keeps in memory before
// it moves to a temporary file.
const spoolMemory = 4 << 20

// A spool holds a file answer (a CSV export) until it is complete: the
// status goes out only once every query behind the file has succeeded, so
// a query that fails midway is a 5xx answer, never a cut file behind a
// 200. Past spoolMemory bytes it goes to a temporary file, already
// unlinked, so exports of any size cost disk rather than memory.
type spool struct {
	mem  []byte
	file *os.File
	size int64
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file == nil && len(s.mem)+len(p) > spoolMemory {
		f, err := os.CreateTemp("", "footfall-export-*")
		if err != nil {
			return 0, fmt.Errorf("spool an answer: %w", err)
		}
		os.Remove(f.Name())
		if _, err := f.Write(s.mem); err != nil {
			f.Close()
			return 0, fmt.Errorf("spool an answer: %w", err)
		}
		s.file, s.mem = f, nil
	}
	s.size += int64(len(p))
	if s.file != nil {
		return s.file.Write(p)
	}
	s.mem = append(s.mem, p...)
	return len(p), nil
}

// send answers 200 with what the spool holds, under the headers already
// set on w.
func (s *spool) send(w http.ResponseWriter) error {
	w.Header().Set("Content-Length", strconv.FormatInt(s.size, 10))
	w.WriteHeader(http.StatusOK)
	if s.file == nil {
		_, err := w.Write(s.mem)
		return err
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, s.file)
	return err
}

// Close frees the spool's temporary file.
func (s *spool) Close() error {
	if s.file == nil {
		return nil
	}
	return s.file.Close()
}
