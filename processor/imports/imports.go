// Package imports adds recipients to newsletter campaigns: their rows, and
// the events an import makes (a send per new recipient, the consent its
// sender states), written the way the processor writes events. The
// dashboards' writer uses it; the processor's insert path does not.
package imports

import (
	"context"
	"fmt"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/links"
	"footfall/internal/profiles"
	"footfall/processor/chstore"
	"footfall/processor/recipients"
)

// Importer adds recipients to campaigns: their rows, and the events an
// import makes, written the way the processor writes events.
type Importer struct {
	campaigns     *campaigns.Store
	events        *chstore.Store
	erasureSecret string
	tokens        *links.Signer
}

// SignTokens has the recipients' tokens made with s (links.Signer.NewToken),
// which the collector verifies with the same -link-secret: an open or a
// click with a token it did not make is never queued. It returns im.
func (im *Importer) SignTokens(s *links.Signer) *Importer {
	im.tokens = s
	return im
}

// newToken is a new recipient's token: signed when SignTokens was given
// a Signer, random otherwise (for a collector without -link-secret).
func (im *Importer) newToken() string {
	if im.tokens != nil {
		return im.tokens.NewToken()
	}
	return links.NewToken()
}

// NewImporter returns an Importer writing through events.
func NewImporter(events *chstore.Store) *Importer {
	return &Importer{campaigns: campaigns.NewStore(events.DB()), events: events}
}

var insertRecipient = chsql.New("imports.insert_recipients", `INSERT INTO recipients (site_id, campaign_id, token, email, external_id, added_at)`)

// MaxRecipients bounds one import.
const MaxRecipients = 1_000_000

// Rejected is a row of an import left out, and why.
type Rejected struct {
	Line   int    `json:"line"` // the CSV line (the header is line 1), or the place in the JSON list (from 1)
	Email  string `json:"email"`
	Reason string `json:"reason"`
}

// Result is what an import did: the recipients added now (those already
// in the campaign, or twice in the import, are added once), and the rows
// left out.
type Result struct {
	Added    []campaigns.Recipient
	Rejected []Rejected
	// NotSubscribed are recipients added without the consent the import
	// states: their latest proven word on the campaign's purpose is no
	// (an unsubscribe link, the server API), which an import never
	// undoes; only a new proven consent of theirs does.
	NotSubscribed []Rejected
}

// Add imports recipients into c. Addresses are normalised as every user
// id is (event.NormalizeUser); one already in the campaign keeps its
// token. A row whose address is not an e-mail address, or whose address
// or external id holds bytes that are not UTF-8 text (refused, not
// cleaned, as the collector refuses such ids), is left out and reported,
// the rest imported. Each new recipient also gets an email_sent event at
// the send time, so they are a person (visitor id 'u:' + address) that
// segments can select before they ever open a mail. With consentWording
// set, the sender states that these recipients agreed to the campaign's
// purpose in those words: a subscribe to that list, which the consent
// ledger records (source "import") and which makes them subscribers. An import is no visit: its events are
// stored with ingest 'email', which no traffic figure counts. A
// recipient whose address or external id is an erased person's is left
// out and reported (ReasonErased): an erasure stays.
func (im *Importer) Add(ctx context.Context, c campaigns.Campaign, in []campaigns.Recipient, consentWording string) (Result, error) {
	var res Result
	if len(in) > MaxRecipients {
		return res, fmt.Errorf("more than %d recipients in one import", MaxRecipients)
	}
	have, err := im.campaigns.Recipients(ctx, c)
	if err != nil {
		return res, err
	}
	gone, err := im.erasedFilter(ctx)
	if err != nil {
		return res, err
	}
	known := map[string]bool{}
	for _, r := range have {
		known[r.Email] = true
	}
	var added []campaigns.Recipient
	for i, r := range in {
		line := r.Line
		if line == 0 {
			line = i + 1
		}
		email, why := checkRecipient(r)
		if why != "" {
			res.Rejected = append(res.Rejected, Rejected{Line: line, Email: r.Email, Reason: why})
			continue
		}
		if erased(gone, c.Site, email, r) {
			res.Rejected = append(res.Rejected, Rejected{Line: line, Email: r.Email, Reason: ReasonErased})
			continue
		}
		r.Email, r.Line = email, line
		if known[r.Email] {
			continue
		}
		known[r.Email] = true
		r.Token = im.newToken()
		added = append(added, r)
	}
	res.Added = added
	if len(added) == 0 {
		return res, nil
	}
	b, err := im.events.DB().PrepareBatch(ctx, insertRecipient)
	if err != nil {
		return Result{}, fmt.Errorf("prepare recipients: %w", err)
	}
	defer b.Abort()
	now := time.Now().UTC()
	for _, r := range added {
		if err := b.Append(c.Site, c.ID, r.Token, r.Email, r.ExternalID, now); err != nil {
			return Result{}, fmt.Errorf("append recipient: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return Result{}, fmt.Errorf("write %d recipients: %w", len(added), err)
	}
	var withdrawn map[string]profiles.Withdrawal
	if consentWording != "" {
		if withdrawn, err = profiles.Withdrawn(ctx, im.events.DB(), c.Site, c.Purpose); err != nil {
			return Result{}, err
		}
	}
	// The sends, as events: written straight to ClickHouse, like the
	// processor writes, since the import is already here. The operator
	// imports through the dashboards' API with its token: the sends and
	// the consents it states are proven "server", not a link's.
	rows := make([]chstore.Row, len(added), 2*len(added))
	for i, r := range added {
		e := &rows[i].Event
		e.ID, e.TimeMs, e.Ingest = event.NewID(c.SentAt.UnixMilli()), c.SentAt.UnixMilli(), event.IngestEmail
		e.F[event.Site], e.F[event.Type] = []byte(c.Site), []byte("email_sent")
		e.F[event.UserID], e.F[event.UTMCampaign] = []byte(r.Email), []byte(c.ID)
		e.F[event.UTMSource], e.F[event.UTMMedium] = []byte("newsletter"), []byte("email")
		e.Props = []event.Prop{{Key: []byte("token"), Value: []byte(r.Token)}}
		recipients.Stamp(&rows[i], recipients.Target{Site: c.Site, Campaign: c.ID, Email: r.Email, Purpose: c.Purpose})
		rows[i].Enriched.Proof = event.ProofServer
		if w, ok := withdrawn[r.Email]; ok && consentWording != "" {
			res.NotSubscribed = append(res.NotSubscribed, Rejected{Line: r.Line, Email: r.Email, Reason: fmt.Sprintf(
				"unsubscribed from %s on %s (%s): an import does not subscribe them again, only a new consent of theirs does",
				c.Purpose, w.Time.UTC().Format(time.RFC3339), w.Proof)})
		} else if consentWording != "" {
			// A subscribe to the campaign's list: the ledger's row for
			// it (lists, source, wording), and the subscriber class.
			var cr chstore.Row
			ce := &cr.Event
			ce.ID, ce.TimeMs, ce.Ingest = event.NewID(now.UnixMilli()), now.UnixMilli(), event.IngestEmail
			ce.F[event.Site], ce.F[event.Type], ce.F[event.UserID] = []byte(c.Site), []byte("subscribe"), []byte(r.Email)
			ce.Props = []event.Prop{{Key: []byte("lists"), Value: []byte(c.Purpose)},
				{Key: []byte("source"), Value: []byte("import")}, {Key: []byte("wording"), Value: []byte(consentWording)}}
			cr.Enriched.UserID, cr.Enriched.VisitorID, cr.Enriched.Proof = r.Email, event.UserVisitorPrefix+r.Email, event.ProofServer
			rows = append(rows, cr)
		}
	}
	if err := im.events.Insert(ctx, rows); err != nil {
		return Result{}, fmt.Errorf("record %d sends: %w", len(rows), err)
	}
	return res, nil
}
