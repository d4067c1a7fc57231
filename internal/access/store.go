package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"footfall/internal/chsql"
)

// Cost is bcrypt's work factor for passwords: 2^12 rounds, about 0.2 s
// of one core per login here (OWASP asks for 10 at least).
const Cost = 12

// Store keeps users and credentials in ClickHouse and holds a copy in
// memory, read again when it is older than MaxAge (a change made by
// another dashboards process is seen within that) and at once after a
// change made through this Store.
type Store struct {
	read, write *chsql.Conn
	// MaxAge is how long the copy in memory is trusted.
	MaxAge time.Duration
	now    func() time.Time

	mu     sync.Mutex
	state  *state
	logins *logins
	// dummy is a hash to compare a password against when the user does
	// not exist, so that the answer takes as long as for a user who does.
	dummy []byte
}

type state struct {
	users  map[string]User
	creds  map[string]Credential // by hash
	byID   map[string]Credential
	loaded time.Time
}

// User is a person who logs in.
type User struct {
	Name   string `json:"name"`
	Admin  bool   `json:"admin"`
	Grants Grants `json:"sites"`
	hash   []byte
}

// Credential is a stored session, token, share link or public key,
// without its secret.
type Credential struct {
	ID        string    `json:"id"`
	Kind      Kind      `json:"kind"`
	User      string    `json:"user,omitempty"`
	Grants    Grants    `json:"sites"`
	Origins   []string  `json:"origins,omitempty"`
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	hash      string
}

// NewStore reads through read and writes through write (the dashboards'
// read-only and writing connections).
func NewStore(read, write *chsql.Conn) *Store {
	dummy, _ := bcrypt.GenerateFromPassword([]byte("no such user"), Cost)
	return &Store{read: read, write: write, MaxAge: 2 * time.Second, now: time.Now,
		logins: newLogins(), dummy: dummy}
}

var (
	qUsers = chsql.New("access.users", `SELECT name, argMax(password_hash, version), argMax(admin, version), argMax(grants, version)
FROM access_users GROUP BY name HAVING argMax(deleted, version) = 0 ORDER BY name`)
	qCredentials = chsql.New("access.credentials", `SELECT id, argMax(kind, version), argMax(hash, version), argMax(user_name, version),
       argMax(grants, version), argMax(origins, version), argMax(label, version), argMax(created_at, version), argMax(expires_at, version)
FROM access_credentials GROUP BY id HAVING argMax(revoked, version) = 0 ORDER BY id`)
	insertUser       = chsql.New("access.insert_user", `INSERT INTO access_users (name, password_hash, admin, grants, deleted, updated_at, version)`)
	insertCredential = chsql.New("access.insert_credential", `INSERT INTO access_credentials (id, kind, hash, user_name, grants, origins, label, created_at, expires_at, revoked, version)`)
)

// current returns the copy in memory, read again when it is too old.
func (s *Store) current(ctx context.Context) (*state, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != nil && s.now().Sub(s.state.loaded) < s.MaxAge {
		return s.state, nil
	}
	st, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	s.state = st
	return st, nil
}

// forget makes the next read load again: after a change.
func (s *Store) forget() {
	s.mu.Lock()
	s.state = nil
	s.mu.Unlock()
}

func (s *Store) load(ctx context.Context) (*state, error) {
	st := &state{users: map[string]User{}, creds: map[string]Credential{}, byID: map[string]Credential{}, loaded: s.now()}
	rows, err := s.read.Query(ctx, qUsers, nil)
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	for rows.Next() {
		var u User
		var hash, grants string
		var admin uint8
		if err := rows.Scan(&u.Name, &hash, &admin, &grants); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read users: %w", err)
		}
		u.hash, u.Admin, u.Grants = []byte(hash), admin == 1, parseGrants(grants)
		st.users[u.Name] = u
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	rows, err = s.read.Query(ctx, qCredentials, nil)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	defer rows.Close()
	now := s.now()
	for rows.Next() {
		var c Credential
		var kind, grants, origins string
		if err := rows.Scan(&c.ID, &kind, &c.hash, &c.User, &grants, &origins, &c.Label, &c.CreatedAt, &c.ExpiresAt); err != nil {
			return nil, fmt.Errorf("read credentials: %w", err)
		}
		if c.ExpiresAt.Unix() > 0 && !now.Before(c.ExpiresAt) {
			continue
		}
		if c.ExpiresAt.Unix() <= 0 {
			c.ExpiresAt = time.Time{}
		}
		c.Kind, c.Grants = Kind(kind), parseGrants(grants)
		if origins != "" {
			c.Origins = strings.Split(origins, " ")
		}
		st.creds[c.hash], st.byID[c.ID] = c, c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	return st, nil
}

// missAge is how old the copy in memory must be for a secret it lacks to
// make it read again.
const missAge = 250 * time.Millisecond

// Prefixes of the secrets, so that a secret found somewhere says what it
// is (and secret scanners can find them).
var prefixes = map[Kind]string{KindSession: "ffs_", KindToken: "fft_", KindShare: "ffl_", KindKey: "ffp_"}

// Authenticate returns who shows secret, or ErrNotFound: a secret of no
// live credential, one revoked or expired, or a session of a user who
// is no more.
func (s *Store) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	h := hashOf(secret)
	c, ok := st.creds[h]
	if !ok && s.now().Sub(st.loaded) > missAge {
		// Made a moment ago by another dashboards process (a login behind
		// a load balancer): read again, at most every missAge, so that
		// unknown secrets cannot make every request a read.
		s.mu.Lock()
		if s.state == st {
			s.state = nil
		}
		s.mu.Unlock()
		if st, err = s.current(ctx); err != nil {
			return nil, err
		}
		c, ok = st.creds[h]
	}
	if !ok || (!c.ExpiresAt.IsZero() && !s.now().Before(c.ExpiresAt)) {
		return nil, ErrNotFound
	}
	p := &Principal{Kind: c.Kind, ID: c.ID}
	switch c.Kind {
	case KindSession:
		u, ok := st.users[c.User]
		if !ok {
			return nil, ErrNotFound
		}
		p.User, p.Admin, p.Grants = u.Name, u.Admin, u.Grants
	case KindToken:
		p.Grants = c.Grants
	case KindShare:
		p.Grants, p.Level = c.Grants, Reports
	case KindKey:
		p.Grants, p.Level, p.Origins = c.Grants, Public, c.Origins
	default:
		return nil, ErrNotFound
	}
	return p, nil
}

func hashOf(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func newSecret(kind Kind) string {
	var b [32]byte
	rand.Read(b[:])
	return prefixes[kind] + base64.RawURLEncoding.EncodeToString(b[:])
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var userName = regexp.MustCompile(`^[A-Za-z0-9_.@+-]{1,64}$`)

// SaveUser creates or changes a user. An empty password keeps the one
// the user has (a new user needs one: 10 to 72 bytes, bcrypt's limit).
func (s *Store) SaveUser(ctx context.Context, name, password string, admin bool, g Grants) (User, error) {
	if !userName.MatchString(name) {
		return User{}, errors.New("a user name is 1 to 64 of A-Z a-z 0-9 _ . @ + -")
	}
	if err := g.Check(false); err != nil {
		return User{}, err
	}
	st, err := s.current(ctx)
	if err != nil {
		return User{}, err
	}
	old, exists := st.users[name]
	hash := old.hash
	switch {
	case password != "":
		if len(password) < 10 || len(password) > 72 {
			return User{}, errors.New("a password is 10 to 72 bytes")
		}
		if hash, err = bcrypt.GenerateFromPassword([]byte(password), Cost); err != nil {
			return User{}, fmt.Errorf("hash password: %w", err)
		}
	case !exists:
		return User{}, errors.New("a new user needs a password")
	}
	u := User{Name: name, Admin: admin, Grants: g, hash: hash}
	if err := s.writeUser(ctx, u, false); err != nil {
		return User{}, err
	}
	if exists && password != "" {
		// A new password ends the sessions of the old one.
		if err := s.revokeWhere(ctx, func(c Credential) bool { return c.Kind == KindSession && c.User == name }); err != nil {
			return u, err
		}
	}
	return u, nil
}

// DeleteUser removes a user; their sessions end with them.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	st, err := s.current(ctx)
	if err != nil {
		return err
	}
	u, ok := st.users[name]
	if !ok {
		return ErrNotFound
	}
	if err := s.writeUser(ctx, u, true); err != nil {
		return err
	}
	return s.revokeWhere(ctx, func(c Credential) bool { return c.Kind == KindSession && c.User == name })
}

func (s *Store) writeUser(ctx context.Context, u User, deleted bool) error {
	defer s.forget()
	b, err := s.write.PrepareBatch(ctx, insertUser)
	if err != nil {
		return fmt.Errorf("prepare user: %w", err)
	}
	defer b.Abort()
	now := s.now()
	if err := b.Append(u.Name, string(u.hash), boolByte(u.Admin), u.Grants.String(), boolByte(deleted), now.UTC(), uint64(now.UnixNano())); err != nil {
		return fmt.Errorf("append user: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write user %s: %w", u.Name, err)
	}
	return nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Users lists the users.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(st.users))
	for _, u := range st.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// HasAdmin says whether some user is an admin.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	st, err := s.current(ctx)
	if err != nil {
		return false, err
	}
	for _, u := range st.users {
		if u.Admin {
			return true, nil
		}
	}
	return false, nil
}

// Login checks a user's password, sent from client, and opens a session
// of ttl: its secret is the cookie's value. Failed logins are limited per
// (name, client), per client and per name (logins.go), so that a password
// cannot be guessed online nor a user locked out from elsewhere; a user
// who does not exist takes as long as one who does.
func (s *Store) Login(ctx context.Context, name, password string, client netip.Addr, ttl time.Duration) (string, Credential, error) {
	st, err := s.current(ctx)
	if err != nil {
		return "", Credential{}, err
	}
	a, err := s.logins.begin(name, client, s.now())
	if err != nil {
		return "", Credential{}, err
	}
	u, ok := st.users[name]
	hash := u.hash
	if !ok {
		hash = s.dummy
	}
	good := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && ok
	a.done(good, s.now())
	if !good {
		return "", Credential{}, ErrBadLogin
	}
	return s.issue(ctx, Credential{Kind: KindSession, User: name, ExpiresAt: s.now().Add(ttl)})
}

// Logout ends the session whose secret this is.
func (s *Store) Logout(ctx context.Context, secret string) error {
	h := hashOf(secret)
	return s.revokeWhere(ctx, func(c Credential) bool { return c.Kind == KindSession && c.hash == h })
}

// NewToken makes an API token with grants (read or write per site),
// valid until expires (zero: until revoked). The secret is returned once.
func (s *Store) NewToken(ctx context.Context, label string, g Grants, expires time.Time) (string, Credential, error) {
	if err := g.Check(true); err != nil {
		return "", Credential{}, err
	}
	if len(g) == 0 {
		return "", Credential{}, errors.New("a token needs at least one site")
	}
	return s.issue(ctx, Credential{Kind: KindToken, Grants: g, Label: label, ExpiresAt: expires})
}

// NewShare makes a read-only link to site's reports.
func (s *Store) NewShare(ctx context.Context, site, label string) (string, Credential, error) {
	if !CheckSite(site) {
		return "", Credential{}, errors.New("site: [A-Za-z0-9_.:@+-], up to 64 characters")
	}
	return s.issue(ctx, Credential{Kind: KindShare, Grants: Grants{site: Viewer}, Label: label})
}

var origin = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)

// NewKey makes a public key of site, for its pages at origins (scheme,
// host and port, https://shop.example; none: any page).
func (s *Store) NewKey(ctx context.Context, site, label string, origins []string) (string, Credential, error) {
	if !CheckSite(site) {
		return "", Credential{}, errors.New("site: [A-Za-z0-9_.:@+-], up to 64 characters")
	}
	for _, o := range origins {
		if !origin.MatchString(o) {
			return "", Credential{}, fmt.Errorf("origin %q: scheme and host, as https://shop.example", o)
		}
	}
	return s.issue(ctx, Credential{Kind: KindKey, Grants: Grants{site: Viewer}, Label: label, Origins: origins})
}

func (s *Store) issue(ctx context.Context, c Credential) (string, Credential, error) {
	if len(c.Label) > 200 {
		return "", Credential{}, errors.New("a label is 200 bytes at most")
	}
	secret := newSecret(c.Kind)
	c.ID, c.hash, c.CreatedAt = newID(), hashOf(secret), s.now().UTC().Truncate(time.Second)
	if err := s.writeCredential(ctx, c, false); err != nil {
		return "", Credential{}, err
	}
	return secret, c, nil
}

// Credentials lists the live credentials of kind.
func (s *Store) Credentials(ctx context.Context, kind Kind) ([]Credential, error) {
	st, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	out := []Credential{}
	for _, c := range st.byID {
		if c.Kind == kind {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Credential) int {
		return cmpTimeThenID(a, b)
	})
	return out, nil
}

func cmpTimeThenID(a, b Credential) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Credential returns the live credential id.
func (s *Store) Credential(ctx context.Context, id string) (Credential, error) {
	st, err := s.current(ctx)
	if err != nil {
		return Credential{}, err
	}
	c, ok := st.byID[id]
	if !ok {
		return Credential{}, ErrNotFound
	}
	return c, nil
}

// Revoke ends the credential id at once (in this process; in others
// within MaxAge).
func (s *Store) Revoke(ctx context.Context, id string) error {
	c, err := s.Credential(ctx, id)
	if err != nil {
		return err
	}
	return s.writeCredential(ctx, c, true)
}

func (s *Store) revokeWhere(ctx context.Context, match func(Credential) bool) error {
	st, err := s.current(ctx)
	if err != nil {
		return err
	}
	for _, c := range st.byID {
		if match(c) {
			if err := s.writeCredential(ctx, c, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) writeCredential(ctx context.Context, c Credential, revoked bool) error {
	defer s.forget()
	b, err := s.write.PrepareBatch(ctx, insertCredential)
	if err != nil {
		return fmt.Errorf("prepare credential: %w", err)
	}
	defer b.Abort()
	expires := time.Unix(0, 0).UTC()
	if !c.ExpiresAt.IsZero() {
		expires = c.ExpiresAt.UTC()
	}
	now := s.now()
	if err := b.Append(c.ID, string(c.Kind), c.hash, c.User, c.Grants.String(), strings.Join(c.Origins, " "), c.Label,
		c.CreatedAt.UTC(), expires, boolByte(revoked), uint64(now.UnixNano())); err != nil {
		return fmt.Errorf("append credential: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write credential %s: %w", c.ID, err)
	}
	return nil
}
