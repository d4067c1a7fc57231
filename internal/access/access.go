// Package access says who may see and change what in the dashboards:
// users with a password and roles, and the credentials a request may show
// (a login's session, an API token, a share link, a site's public key),
// kept in ClickHouse (access_users, access_credentials) and read into
// memory (Store). The dashboards' API asks a Principal whether it may act
// on a site at a Level.
package access

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Level is what a request does to a site, from least to most.
type Level int

const (
	// Public is what a shop's own pages may ask from a visitor's browser
	// with the site's public key: the visitor's recently viewed products.
	Public Level = iota + 1
	// Reports are the site's aggregate figures: what a share link shows.
	Reports
	// Read is everything of the site that changes nothing, personal data
	// included (profiles, segment members, exports, the consent ledger).
	Read
	// Write changes the site: segments, campaigns and their recipients,
	// manual classes, erasure, share links and public keys.
	Write
)

func (l Level) String() string {
	switch l {
	case Public:
		return "public"
	case Reports:
		return "reports"
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// Role is a user's or a token's right on one site: a user is a viewer
// (Read) or an editor (Write), a token read or write.
type Role string

const (
	Viewer Role = "viewer"
	Editor Role = "editor"
	// Token scopes.
	ScopeRead  Role = "read"
	ScopeWrite Role = "write"
)

// level is what the role allows.
func (r Role) level() Level {
	switch r {
	case Viewer, ScopeRead:
		return Read
	case Editor, ScopeWrite:
		return Write
	}
	return 0
}

// Kind says what a credential is.
type Kind string

const (
	KindSession Kind = "session"
	KindToken   Kind = "token"
	KindShare   Kind = "share"
	KindKey     Kind = "key"
	// KindBootstrap is the -api-token of the configuration: an admin's
	// token that is not stored, for the scripts and tests that had it.
	KindBootstrap Kind = "bootstrap"
)

// Grants maps site ids to roles.
type Grants map[string]Role

var siteID = regexp.MustCompile(`^[A-Za-z0-9_.:@+-]{1,64}$`)

// CheckSite says whether s is a site id.
func CheckSite(s string) bool { return siteID.MatchString(s) }

// Check says what is wrong with g for a user (viewer, editor) or for a
// token (read, write).
func (g Grants) Check(token bool) error {
	for site, role := range g {
		if !siteID.MatchString(site) {
			return fmt.Errorf("site %q: [A-Za-z0-9_.:@+-], up to 64 characters", site)
		}
		switch {
		case token && role != ScopeRead && role != ScopeWrite:
			return fmt.Errorf("site %s: a token's scope is read or write, not %q", site, role)
		case !token && role != Viewer && role != Editor:
			return fmt.Errorf("site %s: a user's role is viewer or editor, not %q", site, role)
		}
	}
	return nil
}

// String is how the grants are stored: site=role, sorted, comma-separated.
func (g Grants) String() string {
	out := make([]string, 0, len(g))
	for site, role := range g {
		out = append(out, site+"="+string(role))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// parseGrants reads what String wrote.
func parseGrants(s string) Grants {
	g := Grants{}
	for part := range strings.SplitSeq(s, ",") {
		site, role, ok := strings.Cut(part, "=")
		if ok && site != "" {
			g[site] = Role(role)
		}
	}
	return g
}

// Principal is who a request is: what its credential allows.
type Principal struct {
	Kind Kind
	// ID names the credential (a token's, a share link's or a key's id),
	// User the user of a session.
	ID, User string
	Admin    bool
	Grants   Grants
	// Level is the most a share link (Reports) or a public key (Public)
	// allows on its site, whatever the grants say; 0 for the others.
	Level Level
	// Origins are the pages a public key may be used from (CORS); empty
	// for any.
	Origins []string
}

// Can says whether p may act on site at level l.
func (p *Principal) Can(site string, l Level) bool {
	if p == nil {
		return false
	}
	if p.Admin {
		return true
	}
	role, ok := p.Grants[site]
	if !ok {
		return false
	}
	if p.Level != 0 {
		return l <= p.Level
	}
	return l <= role.level()
}

// CanSome says whether p may act at level l on some site: what a request
// that names no site yet (a list of one's sites) needs.
func (p *Principal) CanSome(l Level) bool {
	if p == nil {
		return false
	}
	if p.Admin {
		return true
	}
	for site := range p.Grants {
		if p.Can(site, l) {
			return true
		}
	}
	return false
}

// Errors of the store.
var (
	ErrNotFound  = errors.New("not found")
	ErrBadLogin  = errors.New("wrong user name or password")
	ErrThrottled = errors.New("too many failed logins for this user: wait a minute")
)
