package erasure

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"log/slog"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
)

// SyncEvery is how often at most a Filter asks the database whether
// tombstones were added. An erasure looks again for rows of the person
// once two of these have passed since it wrote its tombstones, which
// catches a batch that was being written as they appeared.
const SyncEvery = time.Second

// maxClean bounds the cache of identifiers found not erased.
const maxClean = 1 << 18

// Filter says whether an identifier belongs to an erased person, from the
// tombstones held in memory. It is not safe for concurrent use: the
// processor's consumer owns one, an import makes its own.
type Filter struct {
	db     *chsql.Conn
	secret string

	// hs are the keys tombstones are read with: the secret's, and the
	// database's own when it has one too (tombstones written before the
	// secret was set stay in force).
	hs      []*Hasher
	keys    map[Key]struct{}
	sites   map[string]struct{} // sites with tombstones of visitors or users
	tokens  bool                // some tombstone may be a token's
	rows    uint64              // tombstones in the table at the last load
	other   uint64              // of which written with another key
	checked time.Time

	// clean caches identifiers found not erased since the last load, by a
	// hash with a per-process seed: most events come from visitors seen a
	// moment ago, and a lookup here costs a fraction of an HMAC.
	clean map[uint64]struct{}
	seed  maphash.Seed
}

// NewFilter returns a Filter reading the tombstones of db, keyed with
// secret (the -erasure-secret; empty for the database's own key). It
// loads them at the first Sync.
func NewFilter(db *chsql.Conn, secret string) *Filter {
	return &Filter{db: db, secret: secret, keys: map[Key]struct{}{}, sites: map[string]struct{}{},
		clean: map[uint64]struct{}{}, seed: maphash.MakeSeed()}
}

// Sync reloads the tombstones when the table has more rows than at the
// last load, asking at most every SyncEvery unless force is set.
// Tombstones are never deleted, so a changed count is a new erasure.
func (f *Filter) Sync(ctx context.Context, force bool) error {
	if !force && f.hs != nil && time.Since(f.checked) < SyncEvery {
		return nil
	}
	if f.hs == nil {
		secret, err := Secret(ctx, f.db, f.secret)
		if err != nil {
			return err
		}
		hs := []*Hasher{NewHasher(secret)}
		if f.secret != "" {
			own, err := dbKey(ctx, f.db)
			if err != nil {
				return err
			}
			if own != nil {
				hs = append(hs, NewHasher(own))
			}
		}
		f.hs = hs
	}
	var n uint64
	if err := f.db.QueryRow(ctx, qCount, nil).Scan(&n); err != nil {
		return fmt.Errorf("count tombstones: %w", err)
	}
	f.checked = time.Now()
	if n == f.rows {
		return nil
	}
	return f.load(ctx)
}

func (f *Filter) load(ctx context.Context) error {
	rows, err := f.db.Query(ctx, qLoad, nil)
	if err != nil {
		return fmt.Errorf("load tombstones: %w", err)
	}
	defer rows.Close()
	keys, sites := map[Key]struct{}{}, map[string]struct{}{}
	var n, other uint64
	for rows.Next() {
		var site, hash, check string
		if err := rows.Scan(&site, &hash, &check); err != nil {
			return fmt.Errorf("read tombstone: %w", err)
		}
		n++
		var k Key
		if !f.readable(check) || hex.DecodedLen(len(hash)) != len(k) {
			other++
			continue
		}
		if _, err := hex.Decode(k[:], []byte(hash)); err != nil {
			other++
			continue
		}
		keys[k] = struct{}{}
		sites[site] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load tombstones: %w", err)
	}
	if other > f.other {
		slog.Error("tombstones written with another erasure key are ignored: give the processor and the dashboards the same -erasure-secret",
			"ignored", other)
	}
	f.keys, f.sites, f.tokens, f.rows, f.other = keys, sites, len(keys) > 0, n, other
	clear(f.clean)
	return nil
}

// readable says whether one of the filter's keys wrote tombstones with
// that check.
func (f *Filter) readable(check string) bool {
	for _, h := range f.hs {
		if h.Check() == check {
			return true
		}
	}
	return false
}

// Empty says whether no tombstone is known: nothing to check.
func (f *Filter) Empty() bool { return len(f.keys) == 0 }

// Tombstones is how many tombstones the filter holds, and how many of the
// table's it ignores because another key wrote them.
func (f *Filter) Tombstones() (held, ignored int) { return len(f.keys), int(f.other) }

// Erased says whether value, an identifier of kind on site, is one of an
// erased person's. An empty value never is.
func (f *Filter) Erased(site string, k Kind, value string) bool {
	if value == "" || len(f.keys) == 0 {
		return false
	}
	if k == Token || k == Message {
		if !f.tokens {
			return false
		}
		site = ""
	} else if _, ok := f.sites[site]; !ok {
		return false
	}
	// Mixed from two one-shot hashes, cheaper than one streamed over
	// kind, site and value.
	c := maphash.String(f.seed, value) ^ (maphash.String(f.seed, site)*0x9e3779b97f4a7c15 + uint64(k))
	if _, ok := f.clean[c]; ok {
		return false
	}
	for _, h := range f.hs {
		if _, ok := f.keys[h.Sum(site, k, value)]; ok {
			return true
		}
		if k != User {
			continue
		}
		if u := event.FoldUser(value); u != value {
			if _, ok := f.keys[h.Sum(site, k, u)]; ok {
				return true
			}
		}
	}
	if len(f.clean) >= maxClean {
		clear(f.clean)
	}
	f.clean[c] = struct{}{}
	return false
}
