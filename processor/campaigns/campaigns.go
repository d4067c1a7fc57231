// Package campaigns keeps newsletter campaigns and their recipients, turns
// the recipient tokens of opens, clicks and unsubscribes into people (the
// processor's side), tells machine opens from human ones, and reports on
// each campaign: opens, clicks, visits, orders, revenue and ROI.
package campaigns

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/links"
	"footfall/processor/chstore"
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
}

// Store keeps campaigns in ClickHouse.
type Store struct {
	ch *chstore.Store
}

// NewStore returns a Store writing through ch.
func NewStore(ch *chstore.Store) *Store { return &Store{ch: ch} }

// ErrNotFound says there is no such campaign.
var ErrNotFound = errors.New("no such campaign")

var (
	slugChars = regexp.MustCompile(`[^a-z0-9]+`)
	idShape   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

var (
	insertCampaign  = chsql.New("campaigns.insert_campaign", `INSERT INTO campaigns (site_id, campaign_id, name, purpose, sent_at, cost_micros, currency, created_at, version)`)
	insertRecipient = chsql.New("campaigns.insert_recipients", `INSERT INTO recipients (site_id, campaign_id, token, email, external_id, added_at)`)
	qCampaigns      = chsql.New("campaigns.list", `SELECT campaign_id, argMax(name, version), argMax(purpose, version), argMax(sent_at, version),
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
	b, err := s.ch.DB().PrepareBatch(ctx, insertCampaign)
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
	rows, err := s.ch.DB().Query(ctx, qCampaigns, chsql.Args{"site": site})
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

// MaxRecipients bounds one import.
const MaxRecipients = 1_000_000

// AddRecipients imports recipients into c. Addresses are normalised; one
// already in the campaign keeps its token. Each new recipient also gets an
// email_sent event at the send time, so they are a person (visitor id
// 'u:' + address) that segments can select before they ever open a mail.
// With consentWording set, the sender states that these recipients agreed
// to the campaign's purpose in those words: the consent ledger records it
// (source "import"). It returns the recipients added now.
func (s *Store) AddRecipients(ctx context.Context, c Campaign, in []Recipient, consentWording string) ([]Recipient, error) {
	if len(in) > MaxRecipients {
		return nil, fmt.Errorf("more than %d recipients in one import", MaxRecipients)
	}
	have, err := s.Recipients(ctx, c)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, r := range have {
		known[r.Email] = true
	}
	var added []Recipient
	for i, r := range in {
		r.Email = event.NormalizeUser(r.Email)
		at := strings.IndexByte(r.Email, '@')
		if at < 1 || at == len(r.Email)-1 || len(r.Email) > 254 || strings.ContainsAny(r.Email, " ,;<>\"") {
			return nil, fmt.Errorf("recipient %d: %q is not an e-mail address", i+1, r.Email)
		}
		if known[r.Email] {
			continue
		}
		known[r.Email] = true
		r.Token = links.NewToken()
		added = append(added, r)
	}
	if len(added) == 0 {
		return added, nil
	}
	b, err := s.ch.DB().PrepareBatch(ctx, insertRecipient)
	if err != nil {
		return nil, fmt.Errorf("prepare recipients: %w", err)
	}
	defer b.Abort()
	now := time.Now().UTC()
	for _, r := range added {
		if err := b.Append(c.Site, c.ID, r.Token, r.Email, r.ExternalID, now); err != nil {
			return nil, fmt.Errorf("append recipient: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return nil, fmt.Errorf("write %d recipients: %w", len(added), err)
	}
	// The sends, as events: written straight to ClickHouse, like the
	// processor writes, since the import is already here.
	rows := make([]chstore.Row, len(added), 2*len(added))
	for i, r := range added {
		e := &rows[i].Event
		e.ID, e.TimeMs, e.Ingest = event.NewID(c.SentAt.UnixMilli()), c.SentAt.UnixMilli(), event.IngestEmail
		e.F[event.Site], e.F[event.Type] = []byte(c.Site), []byte("email_sent")
		e.F[event.UserID], e.F[event.UTMCampaign] = []byte(r.Email), []byte(c.ID)
		e.F[event.UTMSource], e.F[event.UTMMedium] = []byte("newsletter"), []byte("email")
		e.Props = []event.Prop{{Key: []byte("token"), Value: []byte(r.Token)}}
		resolved(&rows[i], Target{Site: c.Site, Campaign: c.ID, Email: r.Email, Purpose: c.Purpose})
		if consentWording != "" {
			var cr chstore.Row
			ce := &cr.Event
			ce.ID, ce.TimeMs, ce.Ingest = event.NewID(now.UnixMilli()), now.UnixMilli(), event.IngestAPI
			ce.F[event.Site], ce.F[event.Type], ce.F[event.UserID] = []byte(c.Site), []byte("consent"), []byte(r.Email)
			ce.Props = []event.Prop{{Key: []byte(c.Purpose), Value: []byte("granted")},
				{Key: []byte("source"), Value: []byte("import")}, {Key: []byte("wording"), Value: []byte(consentWording)}}
			cr.Enriched.UserID, cr.Enriched.VisitorID = r.Email, event.UserVisitorPrefix+r.Email
			rows = append(rows, cr)
		}
	}
	if err := s.ch.Insert(ctx, rows); err != nil {
		return nil, fmt.Errorf("record %d sends: %w", len(rows), err)
	}
	return added, nil
}

// Recipients returns a campaign's recipients.
func (s *Store) Recipients(ctx context.Context, c Campaign) ([]Recipient, error) {
	rows, err := s.ch.DB().Query(ctx, qRecipients, chsql.Args{"site": c.Site, "campaign": c.ID})
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
