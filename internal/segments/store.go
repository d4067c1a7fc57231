package segments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/profiles"
)

// Segment is a named set of conditions on one site.
type Segment struct {
	ID         string      `json:"id"`
	Site       string      `json:"site"`
	Name       string      `json:"name"`
	Conditions []Condition `json:"conditions"`
	CreatedAt  time.Time   `json:"created_at"`
}

// Store keeps segment definitions and membership in ClickHouse.
type Store struct {
	people *profiles.Store
}

// NewStore returns a Store on people's connection and rules.
func NewStore(people *profiles.Store) *Store { return &Store{people: people} }

// ErrNotFound says the segment does not exist (or was deleted).
var ErrNotFound = errors.New("no such segment")

var (
	insertSegment = chsql.New("segments.insert_segment",
		`INSERT INTO segments (site_id, segment_id, name, rules, created_at, deleted, version)`)
	qSegments = chsql.New("segments.list", `SELECT segment_id, argMax(name, version), argMax(rules, version), min(created_at)
FROM segments WHERE site_id = @site GROUP BY segment_id HAVING argMax(deleted, version) = 0 ORDER BY segment_id`)
	// The people query of a segment goes in {{people}}.
	qCount   = chsql.New("segments.count", `SELECT count() FROM ({{people}})`)
	qMembers = chsql.New("segments.members", "{{people}}\nORDER BY person_key{{limit}}")
	qSizes   = chsql.New("segments.sizes", `SELECT time, members, entered, left FROM segment_sizes
WHERE site_id = @site AND segment_id = @segment AND time >= @from AND time < @to ORDER BY time, seq`)
)

// Check compiles a segment and runs its count, so that a definition the
// API accepts is one ClickHouse can evaluate.
func (s *Store) Check(ctx context.Context, seg Segment) error {
	if strings.TrimSpace(seg.Name) == "" {
		return errors.New("a segment needs a name")
	}
	if len(seg.Name) > 200 {
		return errors.New("segment name longer than 200 bytes")
	}
	if err := CheckShape(seg.Conditions); err != nil {
		return err
	}
	_, err := s.Count(ctx, seg)
	return err
}

// Save stores a new segment (seg.ID empty) or a new version of one.
func (s *Store) Save(ctx context.Context, seg Segment) (Segment, error) {
	if err := s.Check(ctx, seg); err != nil {
		return seg, err
	}
	if seg.ID == "" {
		var b [8]byte
		rand.Read(b[:])
		seg.ID = hex.EncodeToString(b[:])
		seg.CreatedAt = time.Now().UTC().Truncate(time.Second)
	} else {
		old, err := s.Get(ctx, seg.Site, seg.ID)
		if err != nil {
			return seg, err
		}
		seg.CreatedAt = old.CreatedAt
	}
	return seg, s.write(ctx, seg, false)
}

// Delete marks a segment deleted.
func (s *Store) Delete(ctx context.Context, site, id string) error {
	seg, err := s.Get(ctx, site, id)
	if err != nil {
		return err
	}
	return s.write(ctx, seg, true)
}

func (s *Store) write(ctx context.Context, seg Segment, deleted bool) error {
	rules, err := json.Marshal(seg.Conditions)
	if err != nil {
		return fmt.Errorf("encode conditions: %w", err)
	}
	b, err := s.people.DB().PrepareBatch(ctx, insertSegment)
	if err != nil {
		return fmt.Errorf("prepare segment write: %w", err)
	}
	defer b.Abort()
	var del uint8
	if deleted {
		del = 1
	}
	if err := b.Append(seg.Site, seg.ID, seg.Name, string(rules), seg.CreatedAt, del, uint64(time.Now().UnixNano())); err != nil {
		return fmt.Errorf("append segment: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write segment %s: %w", seg.ID, err)
	}
	return nil
}

// List returns a site's segments.
func (s *Store) List(ctx context.Context, site string) ([]Segment, error) {
	rows, err := s.people.DB().Query(ctx, qSegments, chsql.Args{"site": site})
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	defer rows.Close()
	out := []Segment{}
	for rows.Next() {
		seg := Segment{Site: site}
		var rules string
		if err := rows.Scan(&seg.ID, &seg.Name, &rules, &seg.CreatedAt); err != nil {
			return nil, fmt.Errorf("read segment: %w", err)
		}
		if err := json.Unmarshal([]byte(rules), &seg.Conditions); err != nil {
			return nil, fmt.Errorf("segment %s: stored conditions: %w", seg.ID, err)
		}
		out = append(out, seg)
	}
	return out, rows.Err()
}

// Get returns one segment, built-in ones included.
func (s *Store) Get(ctx context.Context, site, id string) (Segment, error) {
	if IsBuiltin(id) {
		for _, b := range Builtin() {
			if b.ID == id {
				b.Site = site
				return b, nil
			}
		}
		return Segment{}, ErrNotFound
	}
	all, err := s.List(ctx, site)
	if err != nil {
		return Segment{}, err
	}
	for _, seg := range all {
		if seg.ID == id {
			return seg, nil
		}
	}
	return Segment{}, ErrNotFound
}

// Count returns how many people are in seg now.
func (s *Store) Count(ctx context.Context, seg Segment) (uint64, error) {
	q, err := s.compile(ctx, seg.Site, seg.Conditions)
	if err != nil {
		return 0, err
	}
	people, args, err := q.SQL()
	if err != nil {
		return 0, fmt.Errorf("count segment: %w", err)
	}
	var n uint64
	if err := s.people.DB().QueryRow(ctx, qCount.With(map[string]string{"people": people}), args).Scan(&n); err != nil {
		return 0, fmt.Errorf("count segment: %w", err)
	}
	return n, nil
}

// Members calls f on seg's members in person key order, starting after
// the key after, at most limit of them (0: all). With consent set, only
// people whose latest word on that purpose was yes are listed.
func (s *Store) Members(ctx context.Context, seg Segment, consent, after string, limit int, f func(profiles.Person) error) error {
	conds := seg.Conditions
	if consent != "" {
		raw, _ := json.Marshal(consent)
		conds = append(conds[:len(conds):len(conds)], Condition{Field: "consent", Value: raw})
	}
	q, err := s.compile(ctx, seg.Site, conds)
	if err != nil {
		return err
	}
	if after != "" {
		if err := q.Where("person_key > @after", chsql.Args{"after": after}); err != nil {
			return err
		}
	}
	people, args, err := q.SQL()
	if err != nil {
		return fmt.Errorf("list members of %s: %w", seg.ID, err)
	}
	st := qMembers.With(map[string]string{"people": people, "limit": ""})
	if limit > 0 {
		st = qMembers.With(map[string]string{"people": people, "limit": "\nLIMIT @limit"})
		args["limit"] = uint64(limit)
	}
	rows, err := s.people.DB().Query(ctx, st, args)
	if err != nil {
		return fmt.Errorf("list members of %s: %w", seg.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := profiles.Scan(rows)
		if err != nil {
			return fmt.Errorf("read member: %w", err)
		}
		if err := f(p); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Size is a segment's member count at one evaluation.
type Size struct {
	Time    time.Time `json:"time"`
	Members uint64    `json:"members"`
	Entered uint64    `json:"entered"`
	Left    uint64    `json:"left"`
}

// Sizes returns seg's sizes recorded between from and to.
func (s *Store) Sizes(ctx context.Context, site, id string, from, to time.Time) ([]Size, error) {
	rows, err := s.people.DB().Query(ctx, qSizes, chsql.Args{"site": site, "segment": id, "from": from.UTC(), "to": to.UTC()})
	if err != nil {
		return nil, fmt.Errorf("read sizes of %s: %w", id, err)
	}
	defer rows.Close()
	out := []Size{}
	for rows.Next() {
		var z Size
		if err := rows.Scan(&z.Time, &z.Members, &z.Entered, &z.Left); err != nil {
			return nil, fmt.Errorf("read size: %w", err)
		}
		out = append(out, z)
	}
	return out, rows.Err()
}
