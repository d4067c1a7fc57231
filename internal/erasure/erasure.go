// Package erasure keeps the tombstones of erased people: for each
// identifier of a person erased on request (GDPR art. 17), a keyed hash,
// never the identifier itself. The erasure (internal/profiles) writes
// them before it deletes anything; the processor checks every event
// against them (Filter), so that what Kafka, a collector's spool, an old
// newsletter link or an import brings of that person later is dropped
// and counted instead of stored again.
//
// A tombstone is HMAC-SHA-256 over the identifier's kind, site and value,
// keyed with the -erasure-secret that the processor and the dashboards
// share. Without one, both use a random key kept in the database
// (erasure_key), so the hashes are still salted per installation, but
// whoever can read the database can then test a list of addresses
// against them: set the secret to keep them unlinkable.
package erasure

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
)

// Kind is the kind of an identifier.
type Kind byte

// The identifiers that have tombstones: what an event of the person can
// carry that names them.
const (
	Visitor Kind = 'v' // a visitor id, the snippet's or 'u:' + a user id
	// User is a user id: an e-mail address or a shop's account id, hashed
	// in event.FoldUser's form, so that any spelling of an erased address
	// (full-width, decomposed, in punycode, in capitals) is found.
	User Kind = 'u'
	// Session and Order are a session id and an order id: a refund that
	// names only the order, a new browser that carries the old session
	// id, say the person as surely as a visitor id does.
	Session Kind = 's'
	Order   Kind = 'o'
	Token   Kind = 't' // a newsletter recipient token; tokens are global, so hashed without a site
	// Message is a Kafka message kept whole (events_rejected) that the
	// erasure found to be the person's, by its coordinates (MessageKey):
	// a message that did not decode has no fields to check, so a replay
	// of the topic would keep it again. Coordinates name no person; they
	// are hashed without a site, as tokens.
	Message Kind = 'm'
)

// MessageKey is a kept message's coordinates as its Message tombstone
// hashes them: topic, partition, offset and length in bytes (a topic made
// again starts its offsets again), as internal/profiles reads them from
// events_rejected.
func MessageKey(topic string, partition int, offset int64, length int) string {
	return fmt.Sprintf("%s/%d/%d/%d", topic, partition, offset, length)
}

// Key is one tombstone: the first 16 bytes of the HMAC.
type Key [16]byte

// Hasher computes tombstones with one secret. It is not safe for
// concurrent use; it allocates nothing per Sum.
type Hasher struct {
	mac   hash.Hash
	buf   []byte
	sum   [sha256.Size]byte
	check string
}

// NewHasher returns a Hasher keyed with secret.
func NewHasher(secret []byte) *Hasher {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("footfall/erasure-key-check"))
	check := hex.EncodeToString(m.Sum(nil)[:8])
	return &Hasher{mac: hmac.New(sha256.New, secret), check: check}
}

// Check names the key without revealing it: tombstones written with
// another key (another -erasure-secret) have another check, and a
// processor that finds some says so.
func (h *Hasher) Check() string { return h.check }

// Sum is the tombstone of value, an identifier of kind on site (tokens
// ignore the site).
func (h *Hasher) Sum(site string, k Kind, value string) Key {
	if k == Token || k == Message {
		site = ""
	}
	h.buf = append(h.buf[:0], byte(k), 0)
	h.buf = append(h.buf, site...)
	h.buf = append(h.buf, 0)
	h.buf = append(h.buf, value...)
	h.mac.Reset()
	h.mac.Write(h.buf)
	var out Key
	copy(out[:], h.mac.Sum(h.sum[:0]))
	return out
}

var (
	qKey             = chsql.New("erasure.key", `SELECT key FROM erasure_key ORDER BY created_at, key LIMIT 1`)
	insertKey        = chsql.New("erasure.insert_key", `INSERT INTO erasure_key (key, created_at)`)
	insertTombstones = chsql.New("erasure.insert", `INSERT INTO erasures (site_id, hash, key_check, erased_at)`)
	qCount           = chsql.New("erasure.count", `SELECT count() FROM erasures`)
	qLoad            = chsql.New("erasure.load", `SELECT site_id, hash, key_check FROM erasures`)
)

// Secret is the key of the tombstones: secret when set (the
// -erasure-secret flag), else the database's own random key, made by the
// first program that needs it (every program then reads the oldest, so
// two that make one at once agree).
func Secret(ctx context.Context, db *chsql.Conn, secret string) ([]byte, error) {
	if secret != "" {
		if err := CheckSecret(secret); err != nil {
			return nil, err
		}
		return []byte(secret), nil
	}
	if key, err := dbKey(ctx, db); err != nil || key != nil {
		return key, err
	}
	var b [32]byte
	rand.Read(b[:])
	batch, err := db.PrepareBatch(ctx, insertKey)
	if err != nil {
		return nil, fmt.Errorf("make the erasure key: %w", err)
	}
	defer batch.Abort()
	if err := batch.Append(hex.EncodeToString(b[:]), time.Now().UTC()); err != nil {
		return nil, fmt.Errorf("make the erasure key: %w", err)
	}
	if err := batch.Send(); err != nil {
		return nil, fmt.Errorf("make the erasure key: %w", err)
	}
	return dbKey(ctx, db)
}

// dbKey is the database's own key, nil when none was made.
func dbKey(ctx context.Context, db *chsql.Conn) ([]byte, error) {
	var key string
	err := db.QueryRow(ctx, qKey, nil).Scan(&key)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read the erasure key: %w", err)
	}
	if key == "" {
		return nil, nil
	}
	return []byte(key), nil
}

// CheckSecret says what is wrong with an -erasure-secret, for a program
// to refuse it at start.
func CheckSecret(secret string) error {
	if secret != "" && len(secret) < 16 {
		return errors.New("-erasure-secret shorter than 16 bytes")
	}
	return nil
}

// Write records the tombstones of one erased person of site: ids holds
// their identifiers by kind. It must be done before their rows are
// deleted, so that nothing of theirs is inserted in between.
func Write(ctx context.Context, db *chsql.Conn, h *Hasher, site string, ids map[Kind][]string) error {
	b, err := db.PrepareBatch(ctx, insertTombstones)
	if err != nil {
		return fmt.Errorf("prepare tombstones: %w", err)
	}
	defer b.Abort()
	now := time.Now().UTC()
	n := 0
	seen := map[Key]bool{}
	for _, k := range []Kind{Visitor, User, Session, Order, Token, Message} {
		vals := ids[k]
		if k == User {
			vals = userForms(vals)
		}
		for _, v := range vals {
			if v == "" {
				continue
			}
			key := h.Sum(site, k, v)
			if seen[key] {
				continue
			}
			seen[key] = true
			at := site
			if k == Message {
				at = ""
			}
			if err := b.Append(at, hex.EncodeToString(key[:]), h.Check(), now); err != nil {
				return fmt.Errorf("append tombstone: %w", err)
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write %d tombstones: %w", n, err)
	}
	return nil
}

// userForms are the user ids vals as given and in event.FoldUser's form,
// the one the Filter checks (the given forms keep tombstones written
// before it comparable).
func userForms(vals []string) []string {
	out := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		out = append(out, v)
		if f := event.FoldUser(v); f != v {
			out = append(out, f)
		}
	}
	return out
}

// RegisterFlag declares -erasure-secret on fs, for each program that
// writes or checks tombstones (the dashboards and the processor: give
// both the same).
func RegisterFlag(fs *flag.FlagSet, secret *string) {
	fs.StringVar(secret, "erasure-secret", "", "key of the tombstones of erased people (16+ bytes, the same for the processor and the dashboards); empty uses a random key kept in the database, which whoever reads the database can then test addresses against")
}
