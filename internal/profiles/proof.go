package profiles

import (
	"context"
	"fmt"
	"time"

	"footfall/internal/chsql"
)

// The consent ledger keeps every entry with how it was proven
// (internal/event ProofOf): the server API or an import ("server"), a
// newsletter link of the person's own mail ("link"), a confirmation the
// person made ("confirmed"), or a browser's say-so ("claim"). Whatever
// serves e-mail use (the consent filter of segments, the export with
// consent=, the purposes an export lists, an import's subscriptions)
// reads the latest proven entry only: a claim neither subscribes nor
// unsubscribes anyone.

// ProvenWord is, over the consents rows of one person and purpose, the
// latest proven word: 1 for yes, 0 for no or when nothing was proven.
// Ties within a second go to the later event id (UUIDv7, in time order).
const ProvenWord = `argMaxIf(granted, (time, toString(event_id)), proof != 'claim')`

// Proven is the condition that a consents row was proven.
const Proven = `proof != 'claim'`

// Withdrawal is a person's latest proven word on a purpose when it is no.
type Withdrawal struct {
	Time  time.Time
	Proof string // how the withdrawal was proven
}

// qWithdrawn lists the people of a site whose latest proven word on
// @purpose is no, with when and how it was proven.
var qWithdrawn = chsql.New("profiles.withdrawn", `SELECT person_key, at, proof_of FROM (
    SELECT `+PersonKey+` AS person_key, `+ProvenWord+` AS g,
           argMaxIf(time, (time, toString(event_id)), `+Proven+`) AS at,
           argMaxIf(proof, (time, toString(event_id)), `+Proven+`) AS proof_of,
           countIf(`+Proven+`) AS proven
    FROM (SELECT visitor_id, granted, time, event_id, proof FROM consents WHERE site_id = @site AND purpose = @purpose) AS c
    ANY LEFT JOIN (`+PersonMap+`) AS m USING visitor_id
    GROUP BY person_key
) WHERE proven > 0 AND g = 0 ORDER BY person_key`)

// Withdrawn returns, by person key (an address, once proven), the people
// of site whose latest proven word on purpose is no: an import must not
// subscribe them again, only a new proven consent of theirs does.
func Withdrawn(ctx context.Context, db *chsql.Conn, site, purpose string) (map[string]Withdrawal, error) {
	rows, err := db.Query(ctx, qWithdrawn, chsql.Args{"site": site, "purpose": purpose})
	if err != nil {
		return nil, fmt.Errorf("read withdrawals of %s: %w", purpose, err)
	}
	defer rows.Close()
	out := map[string]Withdrawal{}
	for rows.Next() {
		var key string
		var w Withdrawal
		if err := rows.Scan(&key, &w.Time, &w.Proof); err != nil {
			return nil, fmt.Errorf("read withdrawal: %w", err)
		}
		out[key] = w
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read withdrawals of %s: %w", purpose, err)
	}
	return out, nil
}

// Claim is a user id a browser said one of a person's visitor ids was:
// kept on that visitor id, joining it to no one (identity_claims). A
// proven user id for the same visitor id (the server API's identify with
// the browser's ff_vid, a newsletter link's landing) joins it.
type Claim struct {
	VisitorID string    `json:"visitor_id"`
	UserID    string    `json:"user_id"`
	First     time.Time `json:"first_claimed"`
	Last      time.Time `json:"last_claimed"`
}

var qClaims = chsql.New("profiles.claims", `SELECT visitor_id, user_id, minMerge(first_claimed), maxMerge(last_claimed)
FROM identity_claims WHERE site_id = @site AND visitor_id IN {{visitors}}
GROUP BY visitor_id, user_id ORDER BY visitor_id, user_id`)

// Claims returns the user ids browsers claimed for visitors.
func (s *Store) Claims(ctx context.Context, site string, in Visitors) ([]Claim, error) {
	out := []Claim{}
	err := s.each(ctx, visitorsIn(qClaims, in.sql), chsql.Args{"site": site}, func(r scanner) error {
		var c Claim
		err := r.Scan(&c.VisitorID, &c.UserID, &c.First, &c.Last)
		out = append(out, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read claims: %w", err)
	}
	return out, nil
}
