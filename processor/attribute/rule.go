// Package attribute credits each event, as the processor writes it, to
// what brought its visit: the source, medium, campaign tags, affiliate and
// click id of its session's landing, or of the visitor's last non-direct
// landing before it. The events table keeps the credit beside the event's
// own values (visit_source, visit_medium, visit_utm_*, visit_affiliate,
// visit_click_id), so that a report by source reads a column, as a report
// by page does, instead of matching every event to the visitor's landings
// at query time (26.6 s for a month's breakdown by source at 10M events,
// against 2.1 s by page).
//
// Why here, and not in the refresh job or a materialized view: a report
// filters and groups by any dimension at once (by browser where the source
// is google), so the credit has to sit on each event row; a refresh job
// could only write it to a second table that every report would join,
// and a materialized view sees only the block being inserted. The
// processor sees each visitor's events in order: the collector keys Kafka
// messages by visitor id, so one consumer holds all of a visitor's events
// at a time, and a session's landing comes before the rest of it. What it
// needs to know about a visitor (their landings of the last 30 days, when
// their current sessions began) is kept in memory for the visitors seen
// lately and read from ClickHouse, for a whole batch in one query, for the
// others: the visitor_touches table (ordered by visitor) and the sessions
// table (by session id). A consumer that finds a partition moved (another
// may have written to it meanwhile) forgets what it knew (Forget). Events
// stored before this existed were credited once by migration 0016, with
// the same rule in SQL; a test holds the two to the same answers.
package attribute

import "strings"

// The rule, last non-direct touch (Google Analytics' default), for an
// event e of visitor v at time t (whole seconds, as the events table keeps
// it) in session s:
//
//  1. if s had a touch at or before t, s's first touch;
//  2. otherwise v's last landing (a session's first touch, or a touch
//     without a session) at or before the anchor and at most Window
//     before it, the anchor being when s began (its first event), or t
//     for an event without a session (an order the shop's server sent
//     with the visitor id only: so credited as its copy in the session
//     is, not to a touch in the middle of that session);
//  3. otherwise Direct.
//
// A touch is an event whose own values say where the visitor came from
// (Touch.IsTouch). Only the events the reports count take part (a human's,
// not a newsletter open, with a visitor id: Hit.Counted); any other is
// credited to its own values, or Direct. The rule reads nothing after t,
// so the credit an event gets when it is written stays right as later
// events arrive: a session's landing comes first, and the events before a
// touch in the middle of a session (a return from another site) keep
// what brought the session.

// Window is how long a visitor's last non-direct landing is credited with
// their later direct visits.
const Window = 30 * 24 * 60 * 60 // seconds

// Touch is what brought a visit: an event's source, medium, utm_* tags,
// affiliate and click id, as processor/enrich derives them.
type Touch struct {
	Source, Medium                    string
	UTMSource, UTMMedium, UTMCampaign string
	UTMTerm, UTMContent               string
	Affiliate, ClickID                string
}

// Direct is the credit of an event that nothing brought.
var Direct = Touch{Source: "(direct)", Medium: "(none)"}

// IsTouch says whether t says where a visitor came from: a source other
// than (direct) and (internal) (a tab left open past its session, the
// site's own pages), or any campaign tag, affiliate or click id. An
// affiliate's link without a referrer is a touch.
func (t Touch) IsTouch() bool {
	switch t.Source {
	case "(direct)", "(internal)", "":
	default:
		return true
	}
	return t.UTMSource != "" || t.UTMMedium != "" || t.UTMCampaign != "" || t.UTMTerm != "" ||
		t.UTMContent != "" || t.Affiliate != "" || t.ClickID != ""
}

// OwnOrDirect is t when it is a touch, else Direct.
func (t Touch) OwnOrDirect() Touch {
	if t.IsTouch() {
		return t
	}
	return Direct
}

// compare orders touches as ClickHouse orders their tuples (migration
// 0016): source, medium, utm_source, utm_medium, utm_campaign, utm_term,
// utm_content, affiliate, click_id.
func compare(a, b *Touch) int {
	if a == b {
		return 0
	}
	for _, f := range [...]func(t *Touch) string{
		func(t *Touch) string { return t.Source }, func(t *Touch) string { return t.Medium },
		func(t *Touch) string { return t.UTMSource }, func(t *Touch) string { return t.UTMMedium },
		func(t *Touch) string { return t.UTMCampaign }, func(t *Touch) string { return t.UTMTerm },
		func(t *Touch) string { return t.UTMContent }, func(t *Touch) string { return t.Affiliate },
		func(t *Touch) string { return t.ClickID },
	} {
		if c := strings.Compare(f(a), f(b)); c != 0 {
			return c
		}
	}
	return 0
}

// clone copies t's strings, which may point into a Kafka message, for a
// state that outlives the batch.
func (t Touch) clone() Touch {
	c := cloneString
	return Touch{c(t.Source), c(t.Medium), c(t.UTMSource), c(t.UTMMedium), c(t.UTMCampaign), c(t.UTMTerm), c(t.UTMContent),
		c(t.Affiliate), c(t.ClickID)}
}

// Hit is what the rule reads of an event.
type Hit struct {
	Site, Visitor, Session string
	At                     int64 // Unix seconds
	Own                    Touch // the event's own values
	// Counted: a human's event with a visitor id that is not a newsletter
	// open or click, the events the reports count.
	Counted bool
	// Order is a purchase's order_id, "" for any other event: every copy
	// of one order gets one credit (Attributor.creditOrders).
	Order string
}

// run is a session's touches with the same values, from the first to the
// last; a touch without a session is a run of its own. (The snippet keeps
// a campaign's tags on every event of its session: one run, not one entry
// per page.)
type run struct {
	session     string
	first, last int64
	touch       Touch
}

// visitor is what the rule needs to know about one visitor.
type visitor struct {
	// horizon: runs holds every touch of the visitor from here on, and
	// started every session that began from here on.
	horizon, sessionsFrom int64
	runs                  []run
	// started: when each of the visitor's known sessions began.
	started map[string]int64
	newest  int64 // the latest event seen, for pruning
}

func newVisitor(horizon int64) *visitor {
	return &visitor{horizon: horizon, sessionsFrom: horizon, started: map[string]int64{}}
}

// began notes a counted event of session s at t.
func (v *visitor) began(s string, t int64) {
	if at, ok := v.started[s]; !ok || t < at {
		if !ok {
			s = cloneString(s)
		}
		v.started[s] = t
	}
	v.newest = max(v.newest, t)
}

// touched adds a touch of session s at t; adding one twice changes
// nothing, so a batch credited again (a retried insert) gives the same.
func (v *visitor) touched(s string, t int64, tc *Touch) {
	v.newest = max(v.newest, t)
	// Most often the session's last run goes on.
	for i := len(v.runs) - 1; i >= 0; i-- {
		r := &v.runs[i]
		// The values compared last: a visitor's touches without a session
		// are a run each, and a pixel hit's referrer is one every time.
		if r.session == s && (s != "" || r.first == t) && compare(&r.touch, tc) == 0 {
			r.first, r.last = min(r.first, t), max(r.last, t)
			return
		}
	}
	v.runs = append(v.runs, run{session: cloneString(s), first: t, last: t, touch: tc.clone()})
}

// anchor is when the rule's second step looks back from for an event of
// session s at t.
func (v *visitor) anchor(s string, t int64) int64 {
	if s == "" {
		return t
	}
	if at, ok := v.started[s]; ok && at < t {
		return at
	}
	return t
}

// landing says whether r is its session's first run (the earliest, the
// least values first at the same second, as credit's first step picks),
// or a touch without a session.
func (v *visitor) landing(r *run) bool {
	if r.session == "" {
		return true
	}
	for i := range v.runs {
		o := &v.runs[i]
		if o != r && o.session == r.session && (o.first < r.first || o.first == r.first && compare(&o.touch, &r.touch) < 0) {
			return false
		}
	}
	return true
}

// credit is the rule for a counted event of session s at t, once every
// event of its batch has been noted (began, touched).
func (v *visitor) credit(s string, t int64) Touch {
	if s != "" {
		var first *run
		for i := range v.runs {
			r := &v.runs[i]
			if r.session == s && r.first <= t && (first == nil || r.first < first.first ||
				r.first == first.first && compare(&r.touch, &first.touch) < 0) {
				first = r
			}
		}
		if first != nil {
			return first.touch
		}
	}
	at := v.anchor(s, t)
	var last *run
	var lastAt int64
	for i := range v.runs {
		r := &v.runs[i]
		// A session counts by its landing, its first touch: a touch in the
		// middle of it (a price comparison's link, a bank's page) credits
		// the session's later events, not the orders the shop's server
		// sends without a session, which would otherwise go to another
		// source than the same order sent by the browser in the session.
		if r.first > at || !v.landing(r) {
			continue
		}
		rt := r.first
		if rt+Window < at {
			continue
		}
		if last == nil || rt > lastAt || rt == lastAt && (r.session > last.session ||
			r.session == last.session && compare(&r.touch, &last.touch) > 0) {
			last, lastAt = r, rt
		}
	}
	if last == nil {
		return Direct
	}
	return last.touch
}

// Bounds of what a visitor's state keeps: sessions are forgotten a day
// after the visitor's latest event, touches once older than the window
// from it, and only the latest keepRuns runs. A session is taken to last
// less than keepSessions: its events come within 30 minutes of each other.
const (
	keepSessions = 24 * 60 * 60
	keepRuns     = 64
)

// prune drops what no event near the visitor's latest can need, moving
// the horizon past dropped touches.
func (v *visitor) prune() {
	if from := v.newest - keepSessions; from > v.sessionsFrom {
		for s, at := range v.started {
			if at < from {
				delete(v.started, s)
			}
		}
		v.sessionsFrom = from
	}
	cut := v.newest - Window - keepSessions
	keep := v.runs[:0]
	for _, r := range v.runs {
		if r.last < cut {
			v.horizon = max(v.horizon, r.last+1)
			continue
		}
		keep = append(keep, r)
	}
	v.runs = keep
	for len(v.runs) > keepRuns {
		// The oldest run goes, and the horizon past it.
		oldest := 0
		for i := range v.runs {
			if v.runs[i].last < v.runs[oldest].last {
				oldest = i
			}
		}
		v.horizon = max(v.horizon, v.runs[oldest].last+1)
		v.runs = append(v.runs[:oldest], v.runs[oldest+1:]...)
	}
}
