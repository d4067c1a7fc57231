package sites

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"footfall/internal/chsql"
)

// Store keeps the sites in ClickHouse's sites table (migration 0021). A
// change writes the site's whole row again with a higher version; every
// read takes each site's row of the highest version, on any server and
// whatever the merges have done (a ReplacingMergeTree's FINAL would too,
// but a read of the highest version says so in the statement).
type Store struct {
	db *chsql.Conn
	// mu orders this program's changes; between programs the last
	// written wins.
	mu  sync.Mutex
	now func() time.Time
}

// NewStore returns the store of db's sites.
func NewStore(db *chsql.Conn) *Store { return &Store{db: db, now: time.Now} }

const columns = `site_id, name, domains, time_zone, currency, key_ids, key_names, key_hashes, key_created,
    loyal_orders, loyal_revenue, inactive_days, affiliate_rate, affiliate_ids, affiliate_rates,
    accept_foreign_domains, retention_days, deleted, created_at, updated_at, version`

var (
	qLoad = chsql.New("sites.load", `SELECT `+columns+`
FROM sites
WHERE (site_id, version) IN (SELECT site_id, max(version) FROM sites GROUP BY site_id)
ORDER BY site_id`)
	qInsert = chsql.New("sites.insert", `INSERT INTO sites (`+columns+`)`)
)

type row struct {
	site    Site
	deleted bool
	version uint64
}

func (s *Store) rows(ctx context.Context) ([]row, error) {
	rs, err := s.db.Query(ctx, qLoad, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: read sites: %w", ErrStore, err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var (
			r                                   row
			keyIDs, keyNames, keyHashes, affIDs []string
			keyCreated                          []time.Time
			affRates                            []float64
			loyalOrders, inactive, retention    uint32
			foreign, deleted                    uint8
		)
		st := &r.site
		if err := rs.Scan(&st.ID, &st.Name, &st.Domains, &st.TimeZone, &st.Currency, &keyIDs, &keyNames, &keyHashes, &keyCreated,
			&loyalOrders, &st.LoyalRevenue, &inactive, &st.AffiliateRate, &affIDs, &affRates,
			&foreign, &retention, &deleted, &st.CreatedAt, &st.UpdatedAt, &r.version); err != nil {
			return nil, fmt.Errorf("%w: read sites: %w", ErrStore, err)
		}
		if len(out) > 0 && out[len(out)-1].site.ID == st.ID {
			continue // two rows of one version: the first
		}
		st.LoyalOrders, st.InactiveDays, st.RetentionDays = int(loyalOrders), int(inactive), int(retention)
		st.AcceptForeignDomains, r.deleted = foreign == 1, deleted == 1
		st.Keys = make([]Key, 0, len(keyIDs))
		for i := range keyIDs {
			if i < len(keyNames) && i < len(keyHashes) && i < len(keyCreated) {
				st.Keys = append(st.Keys, Key{ID: keyIDs[i], Name: keyNames[i], Hash: keyHashes[i], Created: keyCreated[i].UTC()})
			}
		}
		st.AffiliateRates = make(map[string]float64, len(affIDs))
		for i := range affIDs {
			if i < len(affRates) {
				st.AffiliateRates[affIDs[i]] = affRates[i]
			}
		}
		if st.Domains == nil {
			st.Domains = []string{}
		}
		st.CreatedAt, st.UpdatedAt = st.CreatedAt.UTC(), st.UpdatedAt.UTC()
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("%w: read sites: %w", ErrStore, err)
	}
	return out, nil
}

// Load reads every site: the Registry's source.
func (s *Store) Load(ctx context.Context) ([]Site, error) {
	rows, err := s.rows(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Site, 0, len(rows))
	for _, r := range rows {
		if !r.deleted {
			out = append(out, r.site)
		}
	}
	return out, nil
}

// Errors a change answers, for the API to turn into 404 and 409.
var (
	// ErrStore wraps ClickHouse's failures, apart from what a change
	// refuses.
	ErrStore    = errors.New("site registry")
	ErrNotFound = errors.New("no such site")
	ErrExists   = errors.New("a site with this id exists")
	ErrNoKey    = errors.New("no such key on this site")
)

// latest reads site id's current row.
func (s *Store) latest(ctx context.Context, id string) (row, bool, error) {
	rows, err := s.rows(ctx)
	if err != nil {
		return row{}, false, err
	}
	for _, r := range rows {
		if r.site.ID == id {
			return r, true, nil
		}
	}
	return row{}, false, nil
}

// Create adds site, which must validate and whose id must be new.
func (s *Store) Create(ctx context.Context, site Site) (Site, error) {
	if err := site.Validate(); err != nil {
		return Site{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, found, err := s.latest(ctx, site.ID)
	if err != nil {
		return Site{}, err
	}
	if found && !cur.deleted {
		return Site{}, ErrExists
	}
	now := s.now().UTC().Truncate(time.Second)
	site.CreatedAt, site.UpdatedAt = now, now
	if site.Keys == nil {
		site.Keys = []Key{}
	}
	return site, s.write(ctx, site, cur.version)
}

// Update changes site id with change, which gets the current settings and
// may alter any but the id and the keys (AddKey, RevokeKey).
func (s *Store) Update(ctx context.Context, id string, change func(*Site) error) (Site, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, found, err := s.latest(ctx, id)
	if err != nil {
		return Site{}, err
	}
	if !found || cur.deleted {
		return Site{}, ErrNotFound
	}
	site := cur.site
	site.Domains = slices.Clone(site.Domains)
	site.AffiliateRates = maps.Clone(site.AffiliateRates)
	keys, created := site.Keys, site.CreatedAt
	if err := change(&site); err != nil {
		return Site{}, err
	}
	site.ID, site.Keys, site.CreatedAt = id, keys, created
	if err := site.Validate(); err != nil {
		return Site{}, err
	}
	site.UpdatedAt = s.now().UTC().Truncate(time.Second)
	return site, s.write(ctx, site, cur.version)
}

// AddKey makes a new server API key for site id and returns it (the only
// time it is seen: the registry keeps its hash) with its record.
func (s *Store) AddKey(ctx context.Context, id, name string) (string, Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, found, err := s.latest(ctx, id)
	if err != nil {
		return "", Key{}, err
	}
	if !found || cur.deleted {
		return "", Key{}, ErrNotFound
	}
	if !keyNameRe.MatchString(name) {
		return "", Key{}, errors.New("name: at most 64 characters, no control characters")
	}
	if len(cur.site.Keys) >= 20 {
		return "", Key{}, errors.New("a site has at most 20 keys: revoke one first")
	}
	key, k := NewKey(name, s.now())
	site := cur.site
	site.Keys = append(slices.Clone(site.Keys), k)
	site.UpdatedAt = s.now().UTC().Truncate(time.Second)
	return key, k, s.write(ctx, site, cur.version)
}

// RevokeKey removes the key keyID from site id.
func (s *Store) RevokeKey(ctx context.Context, id, keyID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, found, err := s.latest(ctx, id)
	if err != nil {
		return err
	}
	if !found || cur.deleted {
		return ErrNotFound
	}
	site := cur.site
	i := slices.IndexFunc(site.Keys, func(k Key) bool { return k.ID == keyID })
	if i < 0 {
		return ErrNoKey
	}
	site.Keys = slices.Delete(slices.Clone(site.Keys), i, i+1)
	site.UpdatedAt = s.now().UTC().Truncate(time.Second)
	return s.write(ctx, site, cur.version)
}

// write inserts site's row with a version above prev: the time in
// nanoseconds, so that programs writing at once rarely tie.
func (s *Store) write(ctx context.Context, site Site, prev uint64) error {
	version := max(uint64(s.now().UnixNano()), prev+1)
	var keyIDs, keyNames, keyHashes []string
	var keyCreated []time.Time
	for _, k := range site.Keys {
		keyIDs, keyNames, keyHashes = append(keyIDs, k.ID), append(keyNames, k.Name), append(keyHashes, k.Hash)
		keyCreated = append(keyCreated, k.Created.UTC())
	}
	affIDs := slices.Collect(maps.Keys(site.AffiliateRates))
	sort.Strings(affIDs)
	affRates := make([]float64, len(affIDs))
	for i, id := range affIDs {
		affRates[i] = site.AffiliateRates[id]
	}
	b, err := s.db.PrepareBatch(ctx, qInsert)
	if err != nil {
		return fmt.Errorf("%w: write site %s: %w", ErrStore, site.ID, err)
	}
	defer b.Abort()
	foreign := uint8(0)
	if site.AcceptForeignDomains {
		foreign = 1
	}
	err = b.Append(site.ID, site.Name, nonNil(site.Domains), site.TimeZone, site.Currency,
		nonNil(keyIDs), nonNil(keyNames), nonNil(keyHashes), nonNilT(keyCreated),
		uint32(site.LoyalOrders), site.LoyalRevenue, uint32(site.InactiveDays), site.AffiliateRate, nonNil(affIDs), affRates,
		foreign, uint32(site.RetentionDays), uint8(0), site.CreatedAt, site.UpdatedAt, version)
	if err == nil {
		err = b.Send()
	}
	if err != nil {
		return fmt.Errorf("%w: write site %s: %w", ErrStore, site.ID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilT(s []time.Time) []time.Time {
	if s == nil {
		return []time.Time{}
	}
	return s
}
