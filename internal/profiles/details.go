package profiles

import (
	"context"
	"fmt"
	"time"

	"footfall/internal/chsql"
)

// Interest is a section or product category a person looked at.
type Interest struct {
	Kind     string    `json:"kind"` // section or category
	Name     string    `json:"name"`
	Views    uint64    `json:"views"`
	LastSeen time.Time `json:"last_seen"`
}

// Consent is the current state of one purpose for a person: the latest
// proven consent, subscribe or unsubscribe event that named it, or, when
// none was proven, the latest claim, with Proof "claim" (see proof.go).
type Consent struct {
	Purpose string    `json:"purpose"`
	Granted bool      `json:"granted"`
	Time    time.Time `json:"time"`
	Source  string    `json:"source"`
	Wording string    `json:"wording,omitempty"`
	Proof   string    `json:"proof"` // server, link, confirmed or claim
}

// Event is one line of a person's timeline.
type Event struct {
	ID        string      `json:"id"`
	Time      time.Time   `json:"time"`
	VisitorID string      `json:"visitor_id"`
	SessionID string      `json:"session_id,omitempty"`
	Type      string      `json:"type"`
	Name      string      `json:"name,omitempty"`
	URL       string      `json:"url,omitempty"`
	Referrer  string      `json:"referrer,omitempty"`
	Source    string      `json:"source,omitempty"`
	Campaign  string      `json:"utm_campaign,omitempty"`
	OrderID   string      `json:"order_id,omitempty"`
	Revenue   float64     `json:"revenue,omitempty"`
	Currency  string      `json:"currency,omitempty"`
	Device    string      `json:"device,omitempty"`
	IP        string      `json:"ip,omitempty"`
	UserAgent string      `json:"user_agent,omitempty"`
	Props     [][2]string `json:"props,omitempty"`
}

// The statements below take the visitors in a {{visitors}} slot: a
// subquery on a table of identifiers (Visitors, tableKeys.set), which
// holds any number of them, since a set of some 20,000 ids bound into
// the text passes ClickHouse's max_query_size.
var (
	qInterests = chsql.New("profiles.interests", `SELECT kind, interest, countMerge(views) AS v, maxMerge(last_seen) AS t
FROM interest_visitors WHERE site_id = @site AND visitor_id IN {{visitors}}
GROUP BY kind, interest ORDER BY v DESC, t DESC, interest, kind LIMIT @limit`)
	// A proven entry wins over any claim; ties within a second go to the
	// later event id (UUIDv7, in time order).
	qConsents = chsql.New("profiles.consents", `SELECT purpose, argMax(granted, k), argMax(time, k),
       argMax(source, k), argMax(wording, k), argMax(proof, k)
FROM (SELECT purpose, granted, time, source, wording, proof, (`+Proven+`, time, toString(event_id)) AS k
    FROM consents WHERE site_id = @site AND visitor_id IN {{visitors}})
GROUP BY purpose ORDER BY purpose`)
	// The latest first: within a second, the later id's text (as they
	// happened; a UUID itself sorts by its random half first).
	qEvents = chsql.New("profiles.events", `SELECT toString(event_id), time, visitor_id, session_id, type, name, url, referrer, source, utm_campaign,
       order_id, revenue_micros, currency, device, ip, user_agent, prop_keys, prop_values
FROM events WHERE site_id = @site AND visitor_id IN {{visitors}} ORDER BY time DESC, toString(event_id) DESC LIMIT @limit`)
)

// visitorsIn fills q's {{visitors}} slot with set.
func visitorsIn(q *chsql.Query, set string) *chsql.Query {
	return q.With(map[string]string{"visitors": set})
}

// Interests returns the sections and categories visitors looked at most.
func (s *Store) Interests(ctx context.Context, site string, in Visitors, limit int) ([]Interest, error) {
	return s.interests(ctx, in.sql, chsql.Args{"site": site}, limit)
}

// interests is Interests of the visitors in set, args binding @site and
// what set names.
func (s *Store) interests(ctx context.Context, set string, args chsql.Args, limit int) ([]Interest, error) {
	out := []Interest{}
	args["limit"] = uint64(limit)
	err := s.each(ctx, visitorsIn(qInterests, set), args, func(r scanner) error {
		var i Interest
		err := r.Scan(&i.Kind, &i.Name, &i.Views, &i.LastSeen)
		out = append(out, i)
		return err
	})
	return out, err
}

// Consents returns the current state of every purpose visitors named.
func (s *Store) Consents(ctx context.Context, site string, in Visitors) ([]Consent, error) {
	return s.consents(ctx, in.sql, chsql.Args{"site": site})
}

// consents is Consents of the visitors in set.
func (s *Store) consents(ctx context.Context, set string, args chsql.Args) ([]Consent, error) {
	out := []Consent{}
	err := s.each(ctx, visitorsIn(qConsents, set), args, func(r scanner) error {
		var c Consent
		var g uint8
		err := r.Scan(&c.Purpose, &g, &c.Time, &c.Source, &c.Wording, &c.Proof)
		c.Granted = g == 1
		out = append(out, c)
		return err
	})
	return out, err
}

// Events returns visitors' events, the latest first.
func (s *Store) Events(ctx context.Context, site string, in Visitors, limit int) ([]Event, error) {
	return s.events(ctx, in.sql, chsql.Args{"site": site}, limit)
}

// events is Events of the visitors in set.
func (s *Store) events(ctx context.Context, set string, args chsql.Args, limit int) ([]Event, error) {
	out := []Event{}
	args["limit"] = uint64(limit)
	err := s.each(ctx, visitorsIn(qEvents, set), args, func(r scanner) error {
		var e Event
		var rev int64
		var keys, vals []string
		err := r.Scan(&e.ID, &e.Time, &e.VisitorID, &e.SessionID, &e.Type, &e.Name, &e.URL, &e.Referrer, &e.Source,
			&e.Campaign, &e.OrderID, &rev, &e.Currency, &e.Device, &e.IP, &e.UserAgent, &keys, &vals)
		e.Revenue = float64(rev) / 1e6
		for i := range keys {
			e.Props = append(e.Props, [2]string{keys[i], vals[i]})
		}
		out = append(out, e)
		return err
	})
	return out, err
}

// scanner is a row being read.
type scanner interface{ Scan(dest ...any) error }

// each runs q and calls f on every row.
func (s *Store) each(ctx context.Context, q *chsql.Query, args chsql.Args, f func(row scanner) error) error {
	rows, err := s.db.Query(ctx, q, args)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return fmt.Errorf("read row: %w", err)
		}
	}
	return rows.Err()
}

// qConsentsOf lists the purposes each person's latest proven word was yes to.
var qConsentsOf = chsql.New("profiles.consents_of", `SELECT person_key, purpose FROM (
    SELECT `+PersonKey+` AS person_key, purpose, `+ProvenWord+` AS g
    FROM (SELECT visitor_id, purpose, granted, time, event_id, proof FROM consents WHERE site_id = @site) AS c
    ANY LEFT JOIN (`+PersonMap+`) AS m USING visitor_id
    WHERE person_key IN @keys GROUP BY person_key, purpose
) WHERE g = 1 ORDER BY person_key, purpose`)

// ConsentsOf returns the purposes each of keys currently consents to, as
// proven (a browser's claim is no consent).
func (s *Store) ConsentsOf(ctx context.Context, site string, keys []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(keys) == 0 {
		return out, nil
	}
	err := s.each(ctx, qConsentsOf, chsql.Args{"site": site, "keys": chsql.Set[string](keys)}, func(r scanner) error {
		var key, purpose string
		err := r.Scan(&key, &purpose)
		out[key] = append(out[key], purpose)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read consents: %w", err)
	}
	return out, nil
}
