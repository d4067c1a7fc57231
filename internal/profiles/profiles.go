package profiles

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/money"
)

// Person is one row of the people query.
type Person struct {
	Key         string    `json:"-"`
	UserID      string    `json:"user_id,omitempty"`
	Devices     uint64    `json:"devices"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Sessions    uint64    `json:"sessions"`
	Pageviews   uint64    `json:"pageviews"`
	Carts       uint64    `json:"carts"`
	Checkouts   uint64    `json:"checkouts"`
	Signups     uint64    `json:"signups"`
	Orders      uint64    `json:"orders"`
	Revenue     float64   `json:"revenue"`
	FirstOrder  time.Time `json:"first_order"`
	LastOrder   time.Time `json:"last_order"`
	Subscribed  bool      `json:"subscribed"`
	Populations []string  `json:"populations"`
	Class       string    `json:"class"`
	Stage       string    `json:"stage"`
	DaysSeen    int64     `json:"days_since_last_seen"`
	DaysOrdered int64     `json:"days_since_last_order"`
}

// Scan reads one row of the people query.
func Scan(rows driver.Rows) (Person, error) {
	var p Person
	var revenue int64
	var subscribed uint8
	err := rows.Scan(&p.Key, &p.UserID, &p.Devices, &p.FirstSeen, &p.LastSeen, &p.Sessions, &p.Pageviews,
		&p.Carts, &p.Checkouts, &p.Signups, &p.Orders, &revenue, &p.FirstOrder, &p.LastOrder, &subscribed,
		&p.Populations, &p.Class, &p.Stage, &p.DaysSeen, &p.DaysOrdered)
	p.Revenue = float64(revenue) / 1e6
	p.Subscribed = subscribed == 1
	if p.Populations == nil {
		p.Populations = []string{}
	}
	return p, err
}

// Store reads and changes people in one ClickHouse database.
type Store struct {
	db         *chsql.Conn
	rules      Rules
	siteRules  func(site string) (Rules, bool)
	now        func() time.Time
	refreshing sync.Mutex
	// fewTouched is the number of touched visitor ids a refresh always
	// takes one by one, however few the people.
	fewTouched uint64
	// maxBoundOrderDays is the most currency days of orders whose rates
	// a refresh binds to its INSERT (money.MaxOrderDays; tests lower it).
	maxBoundOrderDays int
	// maxNewer is the largest share of a site's people rows above its
	// base that a read in two halves takes (defaultMaxNewer; tests raise
	// it).
	maxNewer float64
	// erasing lets one erasure run at a time; erasureSecret keys its
	// tombstones (see SetErasureSecret).
	erasing       sync.Mutex
	erasureSecret string
}

// SetErasureSecret sets the key of the tombstones Erase writes: the
// -erasure-secret the processor is given too. Empty (the default) uses
// the database's own key (internal/erasure).
func (s *Store) SetErasureSecret(secret string) { s.erasureSecret = secret }

// NewStore returns a Store classifying by rules.
func NewStore(db *chsql.Conn, rules Rules) *Store {
	return &Store{db: db, rules: rules, now: time.Now, fewTouched: 10_000, maxBoundOrderDays: money.MaxOrderDays, maxNewer: defaultMaxNewer}
}

// Rules returns the store's classification rules, those of a site the
// site rules (SetSiteRules) do not know.
func (s *Store) Rules() Rules { return s.rules }

// SetSiteRules makes each site classified by its own rules (the site
// registry's), when f knows the site; the store's rules stay those of the
// others. Set it before the store is used.
func (s *Store) SetSiteRules(f func(site string) (Rules, bool)) { s.siteRules = f }

// RulesOf returns the rules site is classified by.
func (s *Store) RulesOf(site string) Rules {
	if s.siteRules != nil {
		if r, ok := s.siteRules(site); ok {
			return r
		}
	}
	return s.rules
}

// DB is the store's connection.
func (s *Store) DB() *chsql.Conn { return s.db }

// Query starts a people query of site, classified now. Unless restricted
// to some visitor ids it reads the people table as the last Refresh left
// it.
func (s *Store) Query(site string) *Query {
	return &Query{Site: site, Now: s.now(), Rules: s.RulesOf(site)}
}

// ErrNotFound says no such person has been seen on the site.
var ErrNotFound = errors.New("no such person on this site")

// Ref names a person as an API caller knows them: by a visitor id, or by a
// user id (an e-mail address or a shop account id).
type Ref struct {
	VisitorID string
	UserID    string
}

var (
	qPersonOfVisitor = chsql.New("profiles.person_of_visitor",
		`SELECT argMinMerge(first_user_id) FROM identities WHERE site_id = @site AND visitor_id = @visitor GROUP BY visitor_id`)
	qVisitorsOf = chsql.New("profiles.visitors_of",
		`SELECT visitor_id FROM identities WHERE site_id = @site GROUP BY visitor_id HAVING argMinMerge(first_user_id) = @person ORDER BY visitor_id`)
	qVisitorKnown = chsql.New("profiles.visitor_known",
		`SELECT count() FROM visitor_profiles WHERE site_id = @site AND visitor_id = @visitor`)
)

// Resolve finds a person's key and every visitor id that belongs to them.
func (s *Store) Resolve(ctx context.Context, site string, ref Ref) (key string, visitors []string, err error) {
	user := event.NormalizeUser(ref.UserID)
	if user == "" {
		if ref.VisitorID == "" {
			return "", nil, errors.New("a person is named by visitor_id or user_id")
		}
		if err := s.db.QueryRow(ctx, qPersonOfVisitor, chsql.Args{"site": site, "visitor": ref.VisitorID}).Scan(&user); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", nil, fmt.Errorf("look up the person of visitor %s: %w", ref.VisitorID, err)
		}
		if user == "" {
			var n uint64
			if err := s.db.QueryRow(ctx, qVisitorKnown, chsql.Args{"site": site, "visitor": ref.VisitorID}).Scan(&n); err != nil {
				return "", nil, fmt.Errorf("look up visitor %s: %w", ref.VisitorID, err)
			}
			if n == 0 {
				return "", nil, ErrNotFound
			}
			return ref.VisitorID, []string{ref.VisitorID}, nil
		}
	}
	rows, err := s.db.Query(ctx, qVisitorsOf, chsql.Args{"site": site, "person": user})
	if err != nil {
		return "", nil, fmt.Errorf("look up the visitor ids of a person: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return "", nil, fmt.Errorf("read visitor id: %w", err)
		}
		visitors = append(visitors, v)
	}
	if err := rows.Err(); err != nil {
		return "", nil, fmt.Errorf("look up the visitor ids of a person: %w", err)
	}
	if len(visitors) == 0 {
		return "", nil, ErrNotFound
	}
	return user, visitors, nil
}

// Get returns the person ref names and their visitor ids.
func (s *Store) Get(ctx context.Context, site string, ref Ref) (Person, []string, error) {
	var p Person
	var visitors []string
	err := s.WithPerson(ctx, site, ref, func(q Person, vs []string, _ Visitors) error {
		p, visitors = q, vs
		return nil
	})
	return p, visitors, err
}

// Visitors is a person's visitor ids as a statement reads them: a
// subquery on a table of identifiers (WithPerson's), never the ids
// themselves, so that any number of them fit in a statement (some
// 20,000 ids bound into its text passed ClickHouse's max_query_size).
type Visitors struct{ sql string }

// SQL is the set, for "visitor_id IN <SQL>".
func (v Visitors) SQL() string { return v.sql }

// WithVisitors keeps visitors in a Memory table of its own (viewing_...)
// while f runs with their set, as WithPerson does.
func (s *Store) WithVisitors(ctx context.Context, visitors []string, f func(in Visitors) error) error {
	return s.withKeys(ctx, "viewing", func(ks tableKeys) error {
		if err := ks.put(map[string][]string{kindProfile: visitors}); err != nil {
			return err
		}
		return f(Visitors{ks.set(kindProfile)})
	})
}

// WithPerson finds the person ref names and keeps their visitor ids in a
// Memory table of its own (viewing_..., as an export does) while f runs
// with the person, the ids, and their set for Consents, Claims,
// Interests, Events or the caller's own statements. The store's
// connection must be one that may create and drop that table; any
// connection may read it while f runs.
func (s *Store) WithPerson(ctx context.Context, site string, ref Ref, f func(p Person, visitors []string, in Visitors) error) error {
	return s.withKeys(ctx, "viewing", func(ks tableKeys) error {
		p, visitors, err := s.personIn(ctx, site, ref, ks)
		if err != nil {
			return err
		}
		return f(p, visitors, Visitors{ks.set(kindProfile)})
	})
}
