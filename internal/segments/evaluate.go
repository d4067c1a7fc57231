package segments

import (
	"context"
	"fmt"
	"strings"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/profiles"
)

// Change is one person entering or leaving a segment or class.
type Change struct {
	Site      string    `json:"site"`
	Segment   string    `json:"segment"` // segment id, or class:<name>, stage:reactivation
	Name      string    `json:"segment_name"`
	PersonKey string    `json:"person_key"`
	Email     string    `json:"email,omitempty"`
	Entered   bool      `json:"entered"`
	Time      time.Time `json:"time"`
}

var (
	// Who is in the segment now ({{people}}, the people query) against who
	// was at the last evaluation; only the differences come back.
	// Parameters: the people query's, @site and @segment.
	qDiff = chsql.New("segments.diff", `SELECT person_key, in_now, in_before FROM (
    SELECT person_key, toUInt8(1) AS in_now FROM ({{people}})
) AS cur ALL FULL OUTER JOIN (
    SELECT person_key, toUInt8(1) AS in_before FROM segment_members
    WHERE site_id = @site AND segment_id = @segment GROUP BY person_key HAVING argMax(member, version) = 1
) AS prev USING person_key
WHERE in_now != in_before`)
	qMembersBefore = chsql.New("segments.members_before", `SELECT count() FROM (SELECT person_key FROM segment_members
    WHERE site_id = @site AND segment_id = @segment GROUP BY person_key HAVING argMax(member, version) = 1)`)
	qEvaluated    = chsql.New("segments.evaluated", `SELECT count() FROM segment_sizes WHERE site_id = @site AND segment_id = @segment`)
	insertMembers = chsql.New("segments.insert_members",
		`INSERT INTO segment_members (site_id, segment_id, person_key, member, changed_at, version)`)
	insertSize = chsql.New("segments.insert_size",
		`INSERT INTO segment_sizes (site_id, segment_id, time, members, entered, left, seq)`)
	qSites = chsql.New("segments.sites",
		`SELECT DISTINCT site_id FROM visitor_profiles UNION ALL SELECT DISTINCT site_id FROM segments`)
)

// Evaluation is the outcome of comparing a segment's members now with
// those at its last evaluation.
type Evaluation struct {
	Segment Segment
	Changes []Change
	Size    Size
	// First is true when the segment was never evaluated: its members are
	// recorded without triggers, so a new segment does not greet everyone.
	First bool
}

// Evaluate compares seg's members in the people table, as the last refresh
// left it, with those of its last evaluation.
// Nothing is recorded until Commit, so that a caller who passes the changes
// on first never loses one (a failure repeats them at the next evaluation).
func (s *Store) Evaluate(ctx context.Context, seg Segment) (Evaluation, error) {
	db := s.people.DB()
	of := chsql.Args{"site": seg.Site, "segment": seg.ID}
	var evaluated, before uint64
	if err := db.QueryRow(ctx, qEvaluated, of).Scan(&evaluated); err != nil {
		return Evaluation{}, fmt.Errorf("segment %s: read past sizes: %w", seg.ID, err)
	}
	if err := db.QueryRow(ctx, qMembersBefore, of).Scan(&before); err != nil {
		return Evaluation{}, fmt.Errorf("segment %s: count members: %w", seg.ID, err)
	}
	q, err := s.compile(ctx, seg.Site, seg.Conditions)
	if err != nil {
		return Evaluation{}, fmt.Errorf("segment %s: %w", seg.ID, err)
	}
	people, args, err := q.SQL()
	if err == nil {
		args, err = profiles.MergeArgs(args, of)
	}
	if err != nil {
		return Evaluation{}, fmt.Errorf("segment %s: %w", seg.ID, err)
	}
	now := q.Now.UTC().Truncate(time.Second)
	rows, err := db.Query(ctx, qDiff.With(map[string]string{"people": people}), args)
	if err != nil {
		return Evaluation{}, fmt.Errorf("segment %s: evaluate: %w", seg.ID, err)
	}
	var changes []Change
	for rows.Next() {
		var key string
		var in, was uint8
		if err := rows.Scan(&key, &in, &was); err != nil {
			rows.Close()
			return Evaluation{}, fmt.Errorf("segment %s: read change: %w", seg.ID, err)
		}
		c := Change{Site: seg.Site, Segment: seg.ID, Name: seg.Name, PersonKey: key, Entered: in == 1, Time: now}
		if strings.Contains(key, "@") {
			c.Email = key
		}
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Evaluation{}, fmt.Errorf("segment %s: evaluate: %w", seg.ID, err)
	}
	size := Size{Time: now, Members: before}
	for _, c := range changes {
		if c.Entered {
			size.Entered++
			size.Members++
		} else {
			size.Left++
			size.Members--
		}
	}
	return Evaluation{Segment: seg, Changes: changes, Size: size, First: evaluated == 0}, nil
}

// Commit records an evaluation's member changes and size.
func (s *Store) Commit(ctx context.Context, ev Evaluation) error {
	db := s.people.DB()
	seg, changes, size := ev.Segment, ev.Changes, ev.Size
	if len(changes) > 0 {
		b, err := db.PrepareBatch(ctx, insertMembers)
		if err != nil {
			return fmt.Errorf("segment %s: prepare members: %w", seg.ID, err)
		}
		defer b.Abort()
		version := uint64(time.Now().UnixNano())
		for _, c := range changes {
			var m uint8
			if c.Entered {
				m = 1
			}
			if err := b.Append(seg.Site, seg.ID, c.PersonKey, m, c.Time, version); err != nil {
				return fmt.Errorf("segment %s: append member: %w", seg.ID, err)
			}
		}
		if err := b.Send(); err != nil {
			return fmt.Errorf("segment %s: write %d member changes: %w", seg.ID, len(changes), err)
		}
	}
	b, err := db.PrepareBatch(ctx, insertSize)
	if err != nil {
		return fmt.Errorf("segment %s: prepare size: %w", seg.ID, err)
	}
	defer b.Abort()
	if err := b.Append(seg.Site, seg.ID, size.Time, size.Members, size.Entered, size.Left, uint64(time.Now().UnixNano())); err != nil {
		return fmt.Errorf("segment %s: append size: %w", seg.ID, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("segment %s: write size: %w", seg.ID, err)
	}
	return nil
}

// Sites lists the sites that have people.
func (s *Store) Sites(ctx context.Context) ([]string, error) {
	rows, err := s.people.DB().Query(ctx, qSites, nil)
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	var out []string
	for rows.Next() {
		var site string
		if err := rows.Scan(&site); err != nil {
			return nil, fmt.Errorf("read site: %w", err)
		}
		if !seen[site] {
			seen[site] = true
			out = append(out, site)
		}
	}
	return out, rows.Err()
}

// EvaluateSite refreshes the people table of a site, then evaluates its
// built-in and defined segments and passes each one's changes to notify
// before the next. It is the processor's (processor/triggers): refreshing
// here, not only on the refresh timer, lets a change fire at the first
// evaluation after the event.
func (s *Store) EvaluateSite(ctx context.Context, site string, notify func([]Change) error) error {
	if _, err := s.people.Refresh(ctx, site); err != nil {
		return err
	}
	defined, err := s.List(ctx, site)
	if err != nil {
		return err
	}
	for _, seg := range append(Builtin(), defined...) {
		seg.Site = site
		ev, err := s.Evaluate(ctx, seg)
		if err != nil {
			return err
		}
		if len(ev.Changes) > 0 && !ev.First {
			if err := notify(ev.Changes); err != nil {
				return fmt.Errorf("segment %s: notify %d changes: %w", seg.ID, len(ev.Changes), err)
			}
		}
		if err := s.Commit(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}
