package attribute

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"footfall/internal/chsql"
)

var (
	visitorsRead = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_attribution_visitors_read_total",
		Help: "Visitors whose touches and sessions the processor read from ClickHouse to credit their events, not remembering them (new visitors, or after a restart or a partition move).",
	})
	// recredited counts the orders whose earlier sessionless (direct)
	// copies took a later in-session copy's credit (orders.go).
	recredited = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_attribution_orders_recredited_total",
		Help: "Orders whose copies written without a session and credited (direct) took the credit of a later copy in a session.",
	})
	lateLandings = promauto.NewCounter(prometheus.CounterOpts{
		Name: "processor_attribution_late_landings_total",
		Help: "Landings (a session's first touch) that reached the processor after later events of their session had been written: those events stay credited to the visitor's previous touch (README, Attribution).",
	})
	readSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "processor_attribution_read_seconds",
		Help:    "Time to read, for one batch, what the processor did not remember of its visitors.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
)

// Attributor credits hits, keeping what it learnt of the visitors it saw
// lately. Its methods may be called from several goroutines.
type Attributor struct {
	db *chsql.Conn

	mu           sync.Mutex
	young, older map[key]*visitor // two generations bound the cache
	size         int

	// The credit of the orders seen lately, by site and order id: key's
	// visitor is the order id.
	youngOrders, olderOrders map[key]orderCopy

	// Reused from batch to batch.
	batch    map[key]*pending
	pendings []pending
	of       []*pending // the visitor of each hit of the batch
}

// key names a visitor of a site. Looking one up with strings that point
// into a batch allocates nothing; the cache keeps copies.
type key struct{ site, visitor string }

// pending is a visitor of the batch being credited.
type pending struct {
	v      *visitor
	cached bool  // v came from the cache, and reaches back far enough
	since  int64 // how far back the batch's events may need to know
}

// CacheSize is how many visitors an Attributor remembers, per generation
// (about half a kilobyte each).
const CacheSize = 50_000

// New returns an Attributor reading what it does not know through db; with
// db nil it reads nothing (every visitor it has not seen is new), for
// benchmarks of the processor's own work.
func New(db *chsql.Conn) *Attributor {
	return &Attributor{db: db, size: CacheSize, young: map[key]*visitor{}, older: map[key]*visitor{}, batch: map[key]*pending{},
		youngOrders: map[key]orderCopy{}, olderOrders: map[key]orderCopy{}}
}

// Forget drops everything the Attributor knows: another consumer may
// have written the visitors' events since.
func (a *Attributor) Forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.young, a.older = map[key]*visitor{}, map[key]*visitor{}
	a.youngOrders, a.olderOrders = map[key]orderCopy{}, map[key]orderCopy{}
}

func (a *Attributor) cached(k key) *visitor {
	if v, ok := a.young[k]; ok {
		return v
	}
	v, ok := a.older[k]
	if ok {
		a.keep(k, v)
	}
	return v
}

func (a *Attributor) keep(k key, v *visitor) {
	if a.young[k] == v {
		return // changed in place
	}
	if len(a.young) >= a.size {
		a.older, a.young = a.young, make(map[key]*visitor, a.size)
	}
	delete(a.older, k)
	// k may point into a batch: the cache keeps copies.
	a.young[key{cloneString(k.site), cloneString(k.visitor)}] = v
}

func cloneString(s string) string { return strings.Clone(s) }

// Credit sets out[i] to what brought hits[i]'s visit. The hits of a
// visitor may come in any order within the batch; across batches, the
// rule's answer is final as long as no touch comes after events later
// than it (events come in order per visitor).
func (a *Attributor) Credit(ctx context.Context, hits []Hit, out []Touch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.batch)
	a.pendings = a.pendings[:0]
	if cap(a.pendings) < len(hits) {
		a.pendings = make([]pending, 0, len(hits))
	}
	if cap(a.of) < len(hits) {
		a.of = make([]*pending, len(hits))
	}
	of := a.of[:len(hits)]
	// The batch's visitors: remembered, or to read.
	for i := range hits {
		h := &hits[i]
		if !h.Counted {
			out[i] = h.Own.OwnOrDirect()
			continue
		}
		k := key{h.Site, h.Visitor}
		p := a.batch[k]
		if p == nil {
			a.pendings = append(a.pendings, pending{since: h.At})
			p = &a.pendings[len(a.pendings)-1]
			p.v = a.cached(k)
			p.cached = p.v != nil
			a.batch[k] = p
		}
		p.since = min(p.since, h.At)
		of[i] = p
	}
	if len(a.batch) == 0 {
		return nil
	}
	// Whether what the cache holds of a visitor reaches back far enough
	// for the batch: sessions that may still be going on (a session of
	// the batch it does not know is new), touches in the window before
	// them.
	for i := range hits {
		h := &hits[i]
		if !h.Counted {
			continue
		}
		p := of[i]
		if !p.cached {
			continue
		}
		if _, known := p.v.started[h.Session]; h.Session != "" && !known && h.At-keepSessions < p.v.sessionsFrom {
			p.cached = false
		}
	}
	for _, p := range a.batch {
		// The window before the earliest session the batch's events may
		// belong to.
		p.since -= keepSessions + Window
		if p.cached {
			for _, at := range p.v.started {
				p.since = min(p.since, at-Window)
			}
			if p.v.horizon > p.since {
				p.cached = false
			}
		}
	}
	if err := a.load(ctx); err != nil {
		return err
	}
	a.countLate(hits, of)
	// Every event of the batch first, then the rule: within a batch, the
	// order of a visitor's events does not matter.
	for i := range hits {
		h := &hits[i]
		if !h.Counted {
			continue
		}
		v := of[i].v
		if h.Session != "" {
			v.began(h.Session, h.At)
		}
		if h.Own.IsTouch() {
			v.touched(h.Session, h.At, &h.Own)
		}
	}
	for i := range hits {
		h := &hits[i]
		if h.Counted {
			out[i] = of[i].v.credit(h.Session, h.At)
		}
	}
	for k, p := range a.batch {
		p.v.prune()
		a.keep(k, p.v)
	}
	return a.creditOrders(ctx, hits, out)
}

// countLate counts the batch's late landings: a touch of a session whose
// events written before (what the visitor's state knows before the batch
// is noted) began after it, without a touch of the session before it.
// Those events were credited without it and are not credited again.
func (a *Attributor) countLate(hits []Hit, of []*pending) {
	var counted map[*pending]string
	for i := range hits {
		h := &hits[i]
		if !h.Counted || h.Session == "" || !h.Own.IsTouch() {
			continue
		}
		v := of[i].v
		began, ok := v.started[h.Session]
		if !ok || began <= h.At {
			continue
		}
		earlier := false
		for j := range v.runs {
			if r := &v.runs[j]; r.session == h.Session && r.first <= h.At {
				earlier = true
				break
			}
		}
		if !earlier && counted[of[i]] != h.Session {
			if counted == nil {
				counted = map[*pending]string{}
			}
			counted[of[i]] = h.Session
			lateLandings.Inc()
		}
	}
}

// maxPerQuery bounds the visitor ids of a look-up, under ClickHouse's
// max_ast_elements (50,000); maxQuerySize is max_query_size for it (its
// default, 256 KiB, holds about 4,000 ids of a few dozen bytes). Many ids
// in one query: a look-up of thousands of visitors reads most of the
// table's granules however they are split.
const (
	maxPerQuery  = 20_000
	maxQuerySize = 4 << 20
)

// qVisitors: visitors' touches and session starts since a time, by
// primary key (visitor_visits is ordered by site, visitor and time).
// Touches come as runs: a session's touches with the same values, or one
// touch without a session.
var qVisitors = chsql.New("attribute.visitors", `SELECT visitor_id, session_id, touch, min(time), max(time), source, medium,
       utm_source, utm_medium, utm_campaign, utm_term, utm_content, affiliate, click_id
FROM visitor_visits WHERE site_id = @site AND visitor_id IN @visitors AND time >= @since
GROUP BY visitor_id, session_id, touch, if(touch = 1 AND session_id = '', toUInt32(time), 0), source, medium, utm_source,
         utm_medium, utm_campaign, utm_term, utm_content, affiliate, click_id`)

// load reads what the batch needs of the visitors the cache does not
// hold, or not from far enough back, into new states.
func (a *Attributor) load(ctx context.Context) error {
	type need struct {
		visitors []string
		since    int64
	}
	bySite := map[string]*need{}
	for k, p := range a.batch {
		if p.cached {
			continue
		}
		n := bySite[k.site]
		if n == nil {
			n = &need{since: p.since}
			bySite[k.site] = n
		}
		n.visitors = append(n.visitors, k.visitor)
		n.since = min(n.since, p.since)
	}
	if len(bySite) == 0 {
		return nil
	}
	began := time.Now()
	defer func() { readSeconds.Observe(time.Since(began).Seconds()) }()
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_query_size": maxQuerySize}))
	for site, n := range bySite {
		since := max(n.since, 0)
		for start := 0; start < len(n.visitors); start += maxPerQuery {
			chunk := n.visitors[start:min(start+maxPerQuery, len(n.visitors))]
			for _, vis := range chunk {
				a.batch[key{site, vis}].v = newVisitor(since)
			}
			visitorsRead.Add(float64(len(chunk)))
			args := chsql.Args{"site": site, "visitors": chsql.Set[string](chunk), "since": time.Unix(since, 0).UTC()}
			err := a.each(ctx, qVisitors, args, func(scan func(...any) error) error {
				var vis string
				var touch uint8
				var r run
				var first, last time.Time
				t := &r.touch
				if err := scan(&vis, &r.session, &touch, &first, &last, &t.Source, &t.Medium, &t.UTMSource, &t.UTMMedium,
					&t.UTMCampaign, &t.UTMTerm, &t.UTMContent, &t.Affiliate, &t.ClickID); err != nil {
					return err
				}
				p := a.batch[key{site, vis}]
				if p == nil {
					return nil
				}
				if touch == 0 {
					p.v.began(r.session, first.Unix())
					return nil
				}
				r.first, r.last = first.Unix(), last.Unix()
				p.v.runs = append(p.v.runs, r)
				return nil
			})
			if err != nil {
				return fmt.Errorf("attribution: what is known of %d visitors: %w", len(chunk), err)
			}
		}
	}
	return nil
}

func (a *Attributor) each(ctx context.Context, q *chsql.Query, args chsql.Args, f func(scan func(...any) error) error) error {
	if a.db == nil {
		return nil
	}
	rows, err := a.db.Query(ctx, q, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
