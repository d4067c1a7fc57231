// Package campaigns keeps newsletter campaigns, lists their recipients and
// reports on each campaign: opens, clicks, visits, orders, revenue and ROI.
// Importing recipients and resolving their tokens is the write side's
// (processor/recipients).
package campaigns

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"footfall/internal/chsql"
	"footfall/internal/money"
)

// Campaign is one newsletter send.
type Campaign struct {
	Site     string    `json:"site"`
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Purpose  string    `json:"purpose"` // the consent purpose (list) it is sent under
	SentAt   time.Time `json:"sent_at"`
	Cost     float64   `json:"cost"`
	Currency string    `json:"currency,omitempty"`
}

// Recipient is one address a campaign goes to.
type Recipient struct {
	Email      string `json:"email"`
	ExternalID string `json:"external_id,omitempty"`
	Token      string `json:"token"`
	// Line is where an import read it (its CSV line), for the import to
	// say which rows it left out; 0 for its place in the list.
	Line int `json:"-"`
}

// CheckEmail says what is wrong with a normalised e-mail address as a
// newsletter's recipient, or "" when nothing is: one @ between a local
// part (at most 64 bytes, no spaces, no leading, trailing or double dot)
// and a host name with a dot (labels of letters, digits and hyphens, or
// any non-ASCII letter of an internationalised name), 254 bytes at most
// (RFC 5321). Quoted local parts and address literals, which no mailing
// list holds, are refused.
func CheckEmail(email string) string {
	if email == "" {
		return "empty address"
	}
	if len(email) > 254 {
		return "longer than 254 bytes"
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return fmt.Sprintf("%q is not an e-mail address: no @", email)
	}
	local, domain := email[:at], email[at+1:]
	switch {
	case local == "":
		return fmt.Sprintf("%q is not an e-mail address: nothing before the @", email)
	case domain == "":
		return fmt.Sprintf("%q is not an e-mail address: nothing after the @", email)
	case len(local) > 64:
		return fmt.Sprintf("%q is not an e-mail address: more than 64 bytes before the @", email)
	case strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, ".."):
		return fmt.Sprintf("%q is not an e-mail address: a dot at the start or end of the name, or two in a row", email)
	}
	for _, c := range local {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(`@,;:<>()[]\"`, c) {
			return fmt.Sprintf("%q is not an e-mail address: %q before the @", email, c)
		}
	}
	labels := strings.Split(strings.TrimSuffix(domain, "."), ".")
	if len(labels) < 2 {
		return fmt.Sprintf("%q is not an e-mail address: %q is no domain name", email, domain)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Sprintf("%q is not an e-mail address: %q is no domain name", email, domain)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c > 0x7f && unicode.IsLetter(c) || c > 0x7f && unicode.IsDigit(c)) {
				return fmt.Sprintf("%q is not an e-mail address: %q is no domain name", email, domain)
			}
		}
	}
	return ""
}

// Store keeps campaigns in ClickHouse.
type Store struct {
	db *chsql.Conn
	// currency is a site's reporting currency (SetCurrency).
	currency func(site string) string
}

// NewStore returns a Store on db.
func NewStore(db *chsql.Conn) *Store { return &Store{db: db} }

// SetCurrency names each site's reporting currency, which a report's
// revenue and cost are converted to (internal/money); a site it names
// none for ("") and a store without it report in money.DefaultCurrency.
func (s *Store) SetCurrency(f func(site string) string) { s.currency = f }

func (s *Store) currencyOf(site string) string {
	if s.currency != nil {
		if c := s.currency(site); c != "" {
			return c
		}
	}
	return money.DefaultCurrency
}

// ErrNotFound says there is no such campaign.
var ErrNotFound = errors.New("no such campaign")

var (
	slugChars = regexp.MustCompile(`[^a-z0-9]+`)
	idShape   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

var (
	insertCampaign = chsql.New("campaigns.insert_campaign", `INSERT INTO campaigns (site_id, campaign_id, name, purpose, sent_at, cost_micros, currency, created_at, version)`)
	qCampaigns     = chsql.New("campaigns.list", `SELECT campaign_id, argMax(name, version), argMax(purpose, version), argMax(sent_at, version),
       argMax(cost_micros, version), argMax(currency, version)
FROM campaigns WHERE site_id = @site GROUP BY campaign_id ORDER BY max(sent_at) DESC, campaign_id`)
	qRecipients = chsql.New("campaigns.recipients", `SELECT email, any(external_id), any(token) FROM recipients
WHERE site_id = @site AND campaign_id = @campaign GROUP BY email ORDER BY email`)
)

// Save creates or replaces a campaign. Its id is the utm_campaign of its
// links, so that its visits show up under it in every report; made from
// the name when empty.
func (s *Store) Save(ctx context.Context, c Campaign) (Campaign, error) {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" || len(c.Name) > 200 {
		return c, errors.New("a campaign needs a name of at most 200 bytes")
	}
	if c.ID == "" {
		c.ID = strings.Trim(slugChars.ReplaceAllString(strings.ToLower(c.Name), "-"), "-")
		if len(c.ID) > 64 {
			c.ID = c.ID[:64]
		}
	}
	if !idShape.MatchString(c.ID) {
		return c, fmt.Errorf("campaign id %q: lower-case letters, digits, - and _, up to 64", c.ID)
	}
	if c.Purpose == "" {
		c.Purpose = "newsletter"
	}
	if c.Cost < 0 {
		return c, errors.New("cost must not be negative")
	}
	if c.SentAt.IsZero() {
		c.SentAt = time.Now()
	}
	c.SentAt = c.SentAt.UTC().Truncate(time.Second)
	b, err := s.db.PrepareBatch(ctx, insertCampaign)
	if err != nil {
		return c, fmt.Errorf("prepare campaign: %w", err)
	}
	defer b.Abort()
	now := time.Now()
	if err := b.Append(c.Site, c.ID, c.Name, c.Purpose, c.SentAt, int64(c.Cost*1e6), c.Currency, now.UTC(), uint64(now.UnixNano())); err != nil {
		return c, fmt.Errorf("append campaign: %w", err)
	}
	if err := b.Send(); err != nil {
		return c, fmt.Errorf("write campaign %s: %w", c.ID, err)
	}
	return c, nil
}

// List returns a site's campaigns, the latest sent first.
func (s *Store) List(ctx context.Context, site string) ([]Campaign, error) {
	rows, err := s.db.Query(ctx, qCampaigns, chsql.Args{"site": site})
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	defer rows.Close()
	out := []Campaign{}
	for rows.Next() {
		c := Campaign{Site: site}
		var cost int64
		if err := rows.Scan(&c.ID, &c.Name, &c.Purpose, &c.SentAt, &cost, &c.Currency); err != nil {
			return nil, fmt.Errorf("read campaign: %w", err)
		}
		c.Cost = float64(cost) / 1e6
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	return out, nil
}

// Get returns one campaign.
func (s *Store) Get(ctx context.Context, site, id string) (Campaign, error) {
	all, err := s.List(ctx, site)
	if err != nil {
		return Campaign{}, err
	}
	for _, c := range all {
		if c.ID == id {
			return c, nil
		}
	}
	return Campaign{}, ErrNotFound
}

// Recipients returns a campaign's recipients.
func (s *Store) Recipients(ctx context.Context, c Campaign) ([]Recipient, error) {
	rows, err := s.db.Query(ctx, qRecipients, chsql.Args{"site": c.Site, "campaign": c.ID})
	if err != nil {
		return nil, fmt.Errorf("list recipients: %w", err)
	}
	defer rows.Close()
	out := []Recipient{}
	for rows.Next() {
		var r Recipient
		if err := rows.Scan(&r.Email, &r.ExternalID, &r.Token); err != nil {
			return nil, fmt.Errorf("read recipient: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list recipients: %w", err)
	}
	return out, nil
}
