package sites

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"footfall/internal/chsql"
)

// Store keeps the sites in ClickHouse (migration 0025) so that no write
// can undo another, whichever program makes it:
//   - site_changes is a log: each change is a row naming the settings it
//     changes (one field per setting, one per domain and per affiliate
//     rate), and a site is its rows applied in version order, field by
//     field. Two dashboards changing different settings of one site at once
//     both keep their change; two changing the same setting end with the
//     higher version's value, as if made one after the other.
//   - site_keys holds one row when a key is made and one when it is
//     revoked: a revoked key stays revoked whatever is written at the same
//     time (a whole-row rewrite from what a writer had read brought revoked
//     keys back).
//
// A creation is a row without fields. When two programs create one id at
// once, the lower version is the site and the other's settings are
// dropped (both answer 201).
type Store struct {
	db *chsql.Conn
	// mu orders this program's changes (it keeps the version of this
	// program's changes increasing); other programs' changes merge.
	mu  sync.Mutex
	now func() time.Time
}

// NewStore returns the store of db's sites.
func NewStore(db *chsql.Conn) *Store { return &Store{db: db, now: time.Now} }

const changeColumns = `site_id, name, domains, time_zone, currency,
    loyal_orders, loyal_revenue, inactive_days, affiliate_rate, affiliate_ids, affiliate_rates,
    accept_foreign_domains, retention_days, deleted, created_at, updated_at, version, fields`

var (
	qChanges = chsql.New("sites.changes", `SELECT `+changeColumns+`
FROM site_changes
ORDER BY site_id, version`)
	qInsertChange = chsql.New("sites.insert_change", `INSERT INTO site_changes (`+changeColumns+`)`)
	qKeys         = chsql.New("sites.keys", `SELECT site_id, key_id, anyIf(name, revoked = 0) AS key_name,
    anyIf(hash, revoked = 0) AS key_hash, minIf(created, revoked = 0) AS key_created
FROM site_keys
GROUP BY site_id, key_id
HAVING max(revoked) = 0 AND countIf(revoked = 0) > 0
ORDER BY site_id, key_created, key_id`)
	qInsertKey = chsql.New("sites.insert_key", `INSERT INTO site_keys (site_id, key_id, name, hash, created, revoked, at)`)
)

type row struct {
	site    Site
	deleted bool
	version uint64
}

// Field names a change row lists.
const (
	fName       = "name"
	fTimeZone   = "time_zone"
	fCurrency   = "currency"
	fLoyalOrd   = "loyal_orders"
	fLoyalRev   = "loyal_revenue"
	fInactive   = "inactive_days"
	fAffRate    = "affiliate_rate"
	fForeign    = "accept_foreign_domains"
	fRetention  = "retention_days"
	fDeleted    = "deleted"
	pDomain     = "domains."         // + a domain: listed when in the row's domains, else not
	pAffiliates = "affiliate_rates." // + an id: the row's rate, or none when the row has none
)

// change is one row of site_changes.
type change struct {
	row
	domains  []string
	affRates map[string]float64
	fields   []string
}

func (s *Store) rows(ctx context.Context) ([]row, error) {
	changes, err := s.changes(ctx)
	if err != nil {
		return nil, err
	}
	var out []row
	for i := 0; i < len(changes); {
		j := i
		for j < len(changes) && changes[j].site.ID == changes[i].site.ID {
			j++
		}
		if r, ok := fold(changes[i:j]); ok {
			out = append(out, r)
		}
		i = j
	}
	keys, err := s.keys(ctx)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].site.Keys = keys[out[i].site.ID]
		if out[i].site.Keys == nil {
			out[i].site.Keys = []Key{}
		}
	}
	return out, nil
}

func (s *Store) changes(ctx context.Context) ([]change, error) {
	rs, err := s.db.Query(ctx, qChanges, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: read sites: %w", ErrStore, err)
	}
	defer rs.Close()
	var out []change
	for rs.Next() {
		var (
			c                                change
			affIDs                           []string
			affRates                         []float64
			loyalOrders, inactive, retention uint32
			foreign, deleted                 uint8
		)
		st := &c.site
		if err := rs.Scan(&st.ID, &st.Name, &c.domains, &st.TimeZone, &st.Currency,
			&loyalOrders, &st.LoyalRevenue, &inactive, &st.AffiliateRate, &affIDs, &affRates,
			&foreign, &retention, &deleted, &st.CreatedAt, &st.UpdatedAt, &c.version, &c.fields); err != nil {
			return nil, fmt.Errorf("%w: read sites: %w", ErrStore, err)
		}
		st.LoyalOrders, st.InactiveDays, st.RetentionDays = int(loyalOrders), int(inactive), int(retention)
		st.AcceptForeignDomains, c.deleted = foreign == 1, deleted == 1
		c.affRates = make(map[string]float64, len(affIDs))
		for i := range affIDs {
			if i < len(affRates) {
				c.affRates[affIDs[i]] = affRates[i]
			}
		}
		st.CreatedAt, st.UpdatedAt = st.CreatedAt.UTC(), st.UpdatedAt.UTC()
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("%w: read sites: %w", ErrStore, err)
	}
	return out, nil
}

// fold applies one site's change rows, in version order, into its
// settings. A creation (a row without fields) starts the site when there
// is none (or it was deleted); on a live site it is another program's
// creation of the same id at once, and is dropped.
func fold(cs []change) (row, bool) {
	var r row
	live := false
	for _, c := range cs {
		if len(c.fields) == 0 {
			if live {
				continue
			}
			r = c.row
			r.site.Domains = slices.Clone(c.domains)
			r.site.AffiliateRates = maps.Clone(c.affRates)
			live = !c.deleted
			continue
		}
		if !live && !slices.Contains(c.fields, fDeleted) {
			continue // a change to a site that is not there (yet)
		}
		st, src := &r.site, &c.site
		for _, f := range c.fields {
			switch {
			case f == fName:
				st.Name = src.Name
			case f == fTimeZone:
				st.TimeZone = src.TimeZone
			case f == fCurrency:
				st.Currency = src.Currency
			case f == fLoyalOrd:
				st.LoyalOrders = src.LoyalOrders
			case f == fLoyalRev:
				st.LoyalRevenue = src.LoyalRevenue
			case f == fInactive:
				st.InactiveDays = src.InactiveDays
			case f == fAffRate:
				st.AffiliateRate = src.AffiliateRate
			case f == fForeign:
				st.AcceptForeignDomains = src.AcceptForeignDomains
			case f == fRetention:
				st.RetentionDays = src.RetentionDays
			case f == fDeleted:
				r.deleted = c.deleted
				live = !c.deleted
			case strings.HasPrefix(f, pDomain):
				d := f[len(pDomain):]
				has := slices.Contains(st.Domains, d)
				switch want := slices.Contains(c.domains, d); {
				case want && !has:
					st.Domains = append(st.Domains, d)
				case !want && has:
					st.Domains = slices.DeleteFunc(st.Domains, func(x string) bool { return x == d })
				}
			case strings.HasPrefix(f, pAffiliates):
				id := f[len(pAffiliates):]
				if rate, ok := c.affRates[id]; ok {
					st.AffiliateRates[id] = rate
				} else {
					delete(st.AffiliateRates, id)
				}
			}
		}
		if src.UpdatedAt.After(st.UpdatedAt) {
			st.UpdatedAt = src.UpdatedAt
		}
		r.version = c.version
	}
	if r.site.ID == "" {
		return row{}, false
	}
	if r.site.Domains == nil {
		r.site.Domains = []string{}
	}
	if r.site.AffiliateRates == nil {
		r.site.AffiliateRates = map[string]float64{}
	}
	return r, true
}

// diff lists the fields a change from a to b makes.
func diff(a, b *Site) []string {
	var f []string
	add := func(changed bool, name string) {
		if changed {
			f = append(f, name)
		}
	}
	add(a.Name != b.Name, fName)
	add(a.TimeZone != b.TimeZone, fTimeZone)
	add(a.Currency != b.Currency, fCurrency)
	add(a.LoyalOrders != b.LoyalOrders, fLoyalOrd)
	add(a.LoyalRevenue != b.LoyalRevenue, fLoyalRev)
	add(a.InactiveDays != b.InactiveDays, fInactive)
	add(a.AffiliateRate != b.AffiliateRate, fAffRate)
	add(a.AcceptForeignDomains != b.AcceptForeignDomains, fForeign)
	add(a.RetentionDays != b.RetentionDays, fRetention)
	for _, d := range a.Domains {
		add(!slices.Contains(b.Domains, d), pDomain+d)
	}
	for _, d := range b.Domains {
		add(!slices.Contains(a.Domains, d), pDomain+d)
	}
	for id, r := range a.AffiliateRates {
		nr, ok := b.AffiliateRates[id]
		add(!ok || nr != r, pAffiliates+id)
	}
	for id := range b.AffiliateRates {
		_, ok := a.AffiliateRates[id]
		add(!ok, pAffiliates+id)
	}
	return f
}

// keys reads every site's live keys: made and not revoked.
func (s *Store) keys(ctx context.Context) (map[string][]Key, error) {
	rs, err := s.db.Query(ctx, qKeys, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: read site keys: %w", ErrStore, err)
	}
	defer rs.Close()
	out := map[string][]Key{}
	for rs.Next() {
		var site string
		var k Key
		if err := rs.Scan(&site, &k.ID, &k.Name, &k.Hash, &k.Created); err != nil {
			return nil, fmt.Errorf("%w: read site keys: %w", ErrStore, err)
		}
		k.Created = k.Created.UTC()
		out[site] = append(out[site], k)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("%w: read site keys: %w", ErrStore, err)
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

// latest reads site id's current settings and keys.
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
	if err := ValidNewID(site.ID); err != nil {
		return Site{}, err
	}
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
	site.Keys = []Key{}
	if site.AffiliateRates == nil {
		site.AffiliateRates = map[string]float64{}
	}
	return site, s.write(ctx, site, false, nil, cur.version)
}

// Update changes site id with change, which gets the current settings and
// may alter any but the id and the keys (AddKey, RevokeKey). Only the
// settings change alters are written, so that a change another program
// makes at the same time to other settings stays.
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
	fields := diff(&cur.site, &site)
	if len(fields) == 0 {
		return cur.site, nil
	}
	site.UpdatedAt = s.now().UTC().Truncate(time.Second)
	if err := s.write(ctx, site, false, fields, cur.version); err != nil {
		return Site{}, err
	}
	// What the site is now, with what others changed at the same time.
	now, found, err := s.latest(ctx, id)
	if err != nil || !found {
		return site, err
	}
	return now.site, nil
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
	return key, k, s.writeKey(ctx, id, k, false)
}

// RevokeKey revokes the key keyID of site id, for good.
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
	i := slices.IndexFunc(cur.site.Keys, func(k Key) bool { return k.ID == keyID })
	if i < 0 {
		return ErrNoKey
	}
	return s.writeKey(ctx, id, cur.site.Keys[i], true)
}

func (s *Store) writeKey(ctx context.Context, site string, k Key, revoked bool) error {
	b, err := s.db.PrepareBatch(ctx, qInsertKey)
	if err != nil {
		return fmt.Errorf("%w: write key of site %s: %w", ErrStore, site, err)
	}
	defer b.Abort()
	rev := uint8(0)
	if revoked {
		rev = 1
	}
	err = b.Append(site, k.ID, k.Name, k.Hash, k.Created.UTC(), rev, s.now().UTC().Truncate(time.Second))
	if err == nil {
		err = b.Send()
	}
	if err != nil {
		return fmt.Errorf("%w: write key of site %s: %w", ErrStore, site, err)
	}
	return nil
}

// write inserts a change row of site naming fields (none: the whole site,
// a creation) with a version above prev: the time in nanoseconds, so that
// the version order is the order the changes were made in.
func (s *Store) write(ctx context.Context, site Site, deleted bool, fields []string, prev uint64) error {
	version := max(uint64(s.now().UnixNano()), prev+1)
	affIDs := slices.Collect(maps.Keys(site.AffiliateRates))
	sort.Strings(affIDs)
	affRates := make([]float64, len(affIDs))
	for i, id := range affIDs {
		affRates[i] = site.AffiliateRates[id]
	}
	b, err := s.db.PrepareBatch(ctx, qInsertChange)
	if err != nil {
		return fmt.Errorf("%w: write site %s: %w", ErrStore, site.ID, err)
	}
	defer b.Abort()
	foreign, del := uint8(0), uint8(0)
	if site.AcceptForeignDomains {
		foreign = 1
	}
	if deleted {
		del = 1
	}
	err = b.Append(site.ID, site.Name, nonNil(site.Domains), site.TimeZone, site.Currency,
		uint32(site.LoyalOrders), site.LoyalRevenue, uint32(site.InactiveDays), site.AffiliateRate, nonNil(affIDs), affRates,
		foreign, uint32(site.RetentionDays), del, site.CreatedAt, site.UpdatedAt, version, nonNil(fields))
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

// SettingSQL is a statement of one setting of site @site as the registry
// holds it, for what reads ClickHouse without this package (the Grafana
// dashboard's variables): column's value in the latest change row that
// sets it (a creation sets every one), def when the site has none.
// column and field are a column of site_changes and its field name
// (fTimeZone, fCurrency...), from this package, never input.
func SettingSQL(column, def string) string {
	return `SELECT if(count() = 0, '` + def + `', argMax(` + column + `, version)) FROM site_changes
WHERE site_id = @site AND (empty(fields) OR has(fields, '` + column + `'))`
}
