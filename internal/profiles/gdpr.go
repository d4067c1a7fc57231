package profiles

import (
	"context"
	"fmt"
	"time"

	"footfall/internal/chsql"
)

// byVisitor lists the tables that hold rows about a visitor id, in the
// column visitor_id. Rollups without a visitor column (events_hourly,
// pages_daily, sources_daily) keep only counts and hashed sketches.
var byVisitor = []string{"events", "viewed_products", "identities", "visitor_profiles", "visitor_interests", "interest_visitors", "consents", "people_touched"}

// byPerson lists the tables keyed by person key.
var byPerson = []string{"profile_overrides", "segment_members"}

var (
	qSessionsOf = chsql.New("profiles.sessions_of",
		`SELECT DISTINCT session_id FROM events WHERE site_id = @site AND visitor_id IN @visitors AND session_id != ''`)
	qMutationsDue = chsql.New("profiles.mutations_due",
		`SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0`)
	// ALTER ... DELETE is how ClickHouse 18.16 and later delete rows. The
	// table and its key column come from the lists above, never from input.
	eraseRows = chsql.New("profiles.erase",
		`ALTER TABLE {{table}} DELETE WHERE site_id = @site AND {{column}} IN @keys`)
)

// Erasure says what Erase removed.
type Erasure struct {
	Visitors []string `json:"visitor_ids"`
	Sessions int      `json:"sessions"`
	Tables   []string `json:"tables"`
}

// Erase deletes every row about one person (GDPR art. 17) and waits until
// ClickHouse has applied the deletions. Events of the person still on
// their way through Kafka land after it: erase once the person has stopped
// sending (the snippet's optOut), or erase again.
func (s *Store) Erase(ctx context.Context, site string, ref Ref) (Erasure, error) {
	key, visitors, err := s.Resolve(ctx, site, ref)
	if err != nil {
		return Erasure{}, err
	}
	out := Erasure{Visitors: visitors}
	var sessions []string
	err = s.each(ctx, qSessionsOf, ofVisitors(site, visitors), func(r scanner) error {
		var id string
		err := r.Scan(&id)
		sessions = append(sessions, id)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("find sessions to erase: %w", err)
	}
	out.Sessions = len(sessions)
	del := func(table, column string, keys []string) error {
		st := eraseRows.With(map[string]string{"table": table, "column": column})
		if err := s.db.Exec(ctx, st, chsql.Args{"site": site, "keys": chsql.Set[string](keys)}); err != nil {
			return fmt.Errorf("erase from %s: %w", table, err)
		}
		out.Tables = append(out.Tables, table)
		return nil
	}
	if len(sessions) > 0 {
		for _, t := range []string{"sessions", "session_parts"} {
			if err := del(t, "session_id", sessions); err != nil {
				return out, err
			}
		}
	}
	for _, t := range byVisitor {
		if err := del(t, "visitor_id", visitors); err != nil {
			return out, err
		}
	}
	for _, t := range byPerson {
		if err := del(t, "person_key", []string{key}); err != nil {
			return out, err
		}
	}
	// The people table also keeps the rows the person's visitor ids had
	// while anonymous.
	if err := del("people", "person_key", append([]string{key}, visitors...)); err != nil {
		return out, err
	}
	return out, s.waitMutations(ctx)
}

// waitMutations returns when ClickHouse has applied every pending mutation.
func (s *Store) waitMutations(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var n uint64
		if err := s.db.QueryRow(ctx, qMutationsDue, nil).Scan(&n); err != nil {
			return fmt.Errorf("wait for deletions: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for deletions (%d pending): %w", n, ctx.Err())
		case <-tick.C:
		}
	}
}

// Export is everything stored about one person (GDPR art. 15).
type Export struct {
	Profile   Person     `json:"profile"`
	Visitors  []string   `json:"visitor_ids"`
	Override  Override   `json:"manual"`
	Consents  []Consent  `json:"consents"`
	Ledger    []Consent  `json:"consent_ledger"`
	Interests []Interest `json:"interests"`
	Events    []Event    `json:"events"`
}

var qLedger = chsql.New("profiles.consent_ledger", `SELECT purpose, granted, time, source, wording FROM consents
WHERE site_id = @site AND visitor_id IN @visitors ORDER BY time, toString(event_id), purpose`)

// Export gathers all data about one person.
func (s *Store) Export(ctx context.Context, site string, ref Ref) (Export, error) {
	p, visitors, err := s.Get(ctx, site, ref)
	if err != nil {
		return Export{}, err
	}
	x := Export{Profile: p, Visitors: visitors}
	if x.Override, err = s.Manual(ctx, site, p.Key); err != nil {
		return x, err
	}
	if x.Consents, err = s.Consents(ctx, site, visitors); err != nil {
		return x, err
	}
	x.Ledger = []Consent{}
	err = s.each(ctx, qLedger, ofVisitors(site, visitors), func(r scanner) error {
		var c Consent
		var g uint8
		err := r.Scan(&c.Purpose, &g, &c.Time, &c.Source, &c.Wording)
		c.Granted = g == 1
		x.Ledger = append(x.Ledger, c)
		return err
	})
	if err != nil {
		return x, fmt.Errorf("read consent ledger: %w", err)
	}
	if x.Interests, err = s.Interests(ctx, site, visitors, 1000); err != nil {
		return x, err
	}
	// All events: an export is rare and must be complete.
	if x.Events, err = s.Events(ctx, site, visitors, 1<<40); err != nil {
		return x, err
	}
	return x, nil
}
