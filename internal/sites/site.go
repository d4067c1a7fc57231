// Package sites is the site registry: each shop's settings (its domains,
// time zone, reporting currency, server API keys, lifecycle thresholds,
// affiliate commissions, retention), kept in ClickHouse's sites table and
// read by every program through a Registry that reloads every few
// seconds, so a change made through the dashboards' API reaches the
// collector and the processor without a restart.
package sites

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // a site's zone must load on a host without a zone database

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
	"golang.org/x/text/currency"
)

// Site is one shop's settings.
type Site struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Domains are the hosts the site's pages are on; each also covers its
	// subdomains (shop.example covers www.shop.example). Empty accepts
	// hits from any page.
	Domains []string `json:"domains"`
	// TimeZone is an IANA zone name (Europe/Paris): the site's days.
	TimeZone string `json:"time_zone"`
	// Currency is the ISO 4217 code reports show amounts in.
	Currency string `json:"currency"`
	// Keys are the server API keys, stored hashed.
	Keys []Key `json:"keys"`
	// LoyalOrders, LoyalRevenue and InactiveDays are the lifecycle rules
	// (internal/profiles): a customer with this many orders or this much
	// revenue is loyal; one without an order for this many days is to
	// reactivate.
	LoyalOrders  int     `json:"loyal_orders"`
	LoyalRevenue float64 `json:"loyal_revenue"`
	InactiveDays int     `json:"inactive_days"`
	// AffiliateRate is the commission on the revenue an affiliate or a
	// partner site brought, as a share (0.05 is 5%), unless AffiliateRates
	// names the partner.
	AffiliateRate  float64            `json:"affiliate_rate"`
	AffiliateRates map[string]float64 `json:"affiliate_rates"`
	// AcceptForeignDomains keeps hits whose page or Origin is on none of
	// Domains.
	AcceptForeignDomains bool `json:"accept_foreign_domains"`
	// RetentionDays is how long the site's events are kept; 0 keeps them.
	RetentionDays int       `json:"retention_days"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Key is one server API key of a site: its id (shown, to name it when
// revoking), a name the operator gave it, and the SHA-256 of the key.
type Key struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Hash    string    `json:"-"`
	Created time.Time `json:"created_at"`
}

var (
	// siteIDRe is what a site id may be: what the registry took before
	// NewIDRule, so that older sites can still be changed.
	siteIDRe = regexp.MustCompile(`^[A-Za-z0-9_.:@+-]{1,64}$`)
	// newIDRe is what a new site's id may be (ValidNewID).
	newIDRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	keyNameRe = regexp.MustCompile(`^[^\x00-\x1f\x7f]{0,64}$`)
)

// Validate checks s and puts its fields in their one spelling (domains
// in lower case, the currency in upper case), answering an error that
// says what is wrong, for a 400.
func (s *Site) Validate() error {
	if !siteIDRe.MatchString(s.ID) {
		return errors.New("id: want 1 to 64 of A-Z a-z 0-9 _ . : @ + -")
	}
	if len(s.Name) > 200 || strings.ContainsFunc(s.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("name: at most 200 characters, no control characters")
	}
	if s.TimeZone == "" {
		return errors.New("time_zone: required, an IANA zone name such as Europe/Paris or UTC")
	}
	if _, err := LoadLocation(s.TimeZone); err != nil {
		return fmt.Errorf("time_zone %q: %w", s.TimeZone, err)
	}
	cur, err := NormalizeCurrency(s.Currency)
	if err != nil {
		return err
	}
	s.Currency = cur
	if len(s.Domains) > 100 {
		return errors.New("domains: at most 100")
	}
	domains := make([]string, 0, len(s.Domains))
	for _, d := range s.Domains {
		n, err := NormalizeDomain(d)
		if err != nil {
			return err
		}
		if !slices.Contains(domains, n) {
			domains = append(domains, n)
		}
	}
	s.Domains = domains
	switch {
	case s.LoyalOrders < 0 || s.LoyalOrders > 1_000_000:
		return errors.New("loyal_orders: want 0 to 1000000 (0: orders alone never make a customer loyal)")
	case s.LoyalRevenue < 0 || s.LoyalRevenue > 1e12:
		return errors.New("loyal_revenue: want 0 to 1e12 (0: revenue alone never makes a customer loyal)")
	case s.InactiveDays < 1 || s.InactiveDays > 3650:
		return errors.New("inactive_days: want 1 to 3650")
	case s.RetentionDays < 0 || s.RetentionDays > 36500:
		return errors.New("retention_days: want 0 (keep for ever) to 36500")
	case !(s.AffiliateRate >= 0 && s.AffiliateRate <= 1):
		return errors.New("affiliate_rate: want a share from 0 to 1 (0.05 is 5%)")
	}
	if len(s.AffiliateRates) > 10_000 {
		return errors.New("affiliate_rates: at most 10000")
	}
	for id, r := range s.AffiliateRates {
		if id == "" || len(id) > 253 {
			return errors.New("affiliate_rates: an affiliate id or partner site of 1 to 253 characters")
		}
		if !(r >= 0 && r <= 1) {
			return fmt.Errorf("affiliate_rates[%q]: want a share from 0 to 1", id)
		}
	}
	for _, k := range s.Keys {
		if !keyNameRe.MatchString(k.Name) {
			return errors.New("key name: at most 64 characters, no control characters")
		}
	}
	return nil
}

// NewIDRule says what a new site's id may be. An id goes into URLs
// written by hand (the pixel's /p.gif?site=ID, an API path
// /api/v1/sites/ID) and must read back as itself without escaping: a +
// in a query string is a space (site=a+b asked for "a b", which no site
// is), and @, :, a leading . or - are read differently by some URL
// parsers or path cleaners (/api/v1/sites/.. is /api/v1). Letters, digits,
// _ . and - are unreserved in every part of a URL.
const NewIDRule = "id: want 1 to 64 of A-Z a-z 0-9 _ . -, beginning with a letter or a digit (an id must read the same unescaped in a URL: a + in ?site=a+b is a space)"

// ValidNewID checks the id of a site to create (NewIDRule). Sites made
// before the rule with +, @ or : keep working when their id is escaped
// in a URL (site=a%2Bb) and can still be changed.
func ValidNewID(id string) error {
	if !newIDRe.MatchString(id) {
		return errors.New(NewIDRule)
	}
	return nil
}

// LoadLocation loads an IANA zone by name. "Local" is refused: it is the
// host's zone, not a site's.
func LoadLocation(name string) (*time.Location, error) {
	if name == "Local" || strings.TrimSpace(name) != name {
		return nil, errors.New("want an IANA zone name such as Europe/Paris or UTC")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, errors.New("unknown time zone: want an IANA zone name such as Europe/Paris or UTC")
	}
	return loc, nil
}

// NormalizeCurrency checks an ISO 4217 code and returns it in upper case.
func NormalizeCurrency(code string) (string, error) {
	u, err := currency.ParseISO(code)
	if err != nil || len(code) != 3 || u.String() == "XXX" {
		return "", fmt.Errorf("currency %q: want an ISO 4217 code such as EUR, USD or JPY", code)
	}
	return u.String(), nil
}

// NormalizeDomain checks a host name and returns it in the form hosts
// are compared in: lower case, an internationalised name in ASCII
// (punycode), no trailing dot. A URL or a host with a port is refused,
// and so is a name that cannot be registered (IDNA 2008's registration
// rules: an empty label as in shop..example, a broken punycode label as
// xn--.fr) or a bare public suffix (com, co.uk, github.io: the Public
// Suffix List), which would take the pages of every site under it.
func NormalizeDomain(d string) (string, error) {
	d = strings.TrimSuffix(strings.TrimSpace(d), ".")
	bad := fmt.Errorf("domain %q: want a host name such as shop.example, without scheme, port or path", d)
	if d == "" || strings.ContainsAny(d, "/:@?# ") {
		return "", bad
	}
	if ip := net.ParseIP(d); ip != nil {
		return ip.String(), nil
	}
	a, err := idna.Lookup.ToASCII(d)                // maps: case, full-width forms
	a = strings.ToLower(strings.TrimSuffix(a, ".")) // a full-width or ideographic dot at the end, mapped to "."
	if err != nil || a == "" || len(a) > 253 {
		return "", bad
	}
	if r, err := idna.Registration.ToASCII(a); err != nil || r != a {
		return "", fmt.Errorf("domain %q: not a host name that can be registered (%v)", d, err)
	}
	// A name the list does not know and without a dot (localhost, an
	// intranet host) is its own suffix by the list's default rule: kept.
	if ps, icann := publicsuffix.PublicSuffix(a); ps == a && (icann || strings.Contains(a, ".")) {
		return "", fmt.Errorf("domain %q: a public suffix (every site under it is someone else's); name the site's own domain, such as shop.%s", d, a)
	}
	return a, nil
}

// keyPrefix starts every server API key, so that a leaked one is easy to
// recognise (secret scanners, logs).
const keyPrefix = "ffk_"

// NewKey makes a server API key: 32 random bytes, so that the SHA-256
// kept of it cannot be reversed by trying keys. It returns the key, to
// show once, and what the registry stores.
func NewKey(name string, now time.Time) (string, Key) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on a supported system
	}
	key := keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := HashKey([]byte(key))
	return key, Key{ID: h[:12], Name: name, Hash: h, Created: now.UTC().Truncate(time.Second)}
}

// HashKey is what the registry keeps of a server API key: the hex of its
// SHA-256. The keys are 256 random bits (NewKey), so a fast unsalted hash
// is as safe as a slow KDF (no one can try 2^256 keys; a KDF's cost only
// protects guessable secrets such as passwords), and it is cheap enough
// to check on every server API request.
func HashKey(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:])
}
