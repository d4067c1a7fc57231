// Package recipients turns, in the processor's insert path, the recipient
// tokens of newsletter opens, clicks and unsubscribes into people, telling
// machine opens from human ones.
package recipients

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"footfall/internal/chsql"
	"footfall/internal/event"
	"footfall/internal/links"
	"footfall/internal/useragent"
	"footfall/processor/chstore"
)

// Target is what a recipient token stands for.
type Target struct {
	Site, Campaign, Email, Purpose string
}

// Resolver finds the targets of tokens, caching them: a campaign's opens
// and clicks come in bursts for the same few thousand tokens.
type Resolver struct {
	db    *chsql.Conn
	cache map[string]Target
}

// NewResolver returns a Resolver reading recipients through db.
func NewResolver(db *chsql.Conn) *Resolver {
	return &Resolver{db: db, cache: map[string]Target{}}
}

const maxCached = 200_000

// qTargets runs in the processor's insert path, which retries a failed
// batch until it succeeds: a statement one engine refuses would stop all
// ingestion at the first newsletter event, so both sides of the join carry
// an alias, as current ClickHouse requires of subqueries.
var qTargets = chsql.New("recipients.targets", `SELECT token, site_id, campaign_id, email, purpose FROM (
    SELECT token, site_id, campaign_id, email FROM recipients WHERE token IN @tokens
) AS r ANY LEFT JOIN (
    SELECT site_id, campaign_id, argMax(purpose, version) AS purpose FROM campaigns GROUP BY site_id, campaign_id
) AS c USING (site_id, campaign_id)`)

func token(e *event.Event) string {
	for _, p := range e.Props {
		if string(p.Key) == "token" {
			return string(p.Value)
		}
	}
	return ""
}

// needs says which token row i waits for: a newsletter event not yet
// resolved, or a landing page view of an unidentified visitor that came
// through a newsletter link (ff_rt).
func needs(row *chstore.Row) string {
	e := &row.Event
	switch {
	case e.Ingest == event.IngestEmail && len(e.F[event.Site]) == 0:
		return token(e)
	case row.Enriched.RecipientToken != "" && row.Enriched.UserID == "" && links.ValidToken([]byte(row.Enriched.RecipientToken)):
		return row.Enriched.RecipientToken
	}
	return ""
}

// Resolve fills in the rows that carry recipient tokens and returns the
// indexes of newsletter events whose token is unknown: they belong to no
// site. The caller drops those the collector could not verify
// (Unverified) and keeps the others in events_rejected.
func (r *Resolver) Resolve(ctx context.Context, rows []chstore.Row) ([]int, error) {
	var missing chsql.Set[string]
	seen := map[string]bool{}
	for i := range rows {
		if t := needs(&rows[i]); t != "" && !seen[t] {
			seen[t] = true
			if _, ok := r.cache[t]; !ok {
				missing = append(missing, t)
			}
		}
	}
	if len(seen) == 0 {
		return nil, nil
	}
	if len(missing) > 0 {
		if len(r.cache)+len(missing) > maxCached {
			clear(r.cache)
		}
		res, err := r.db.Query(ctx, qTargets, chsql.Args{"tokens": missing})
		if err != nil {
			return nil, fmt.Errorf("look up %d recipient tokens: %w", len(missing), err)
		}
		for res.Next() {
			var tok string
			var t Target
			if err := res.Scan(&tok, &t.Site, &t.Campaign, &t.Email, &t.Purpose); err != nil {
				res.Close()
				return nil, fmt.Errorf("read recipient: %w", err)
			}
			r.cache[tok] = t
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("look up recipient tokens: %w", err)
		}
	}
	var unknown []int
	for i := range rows {
		row := &rows[i]
		tok := needs(row)
		if tok == "" {
			continue
		}
		t, ok := r.cache[tok]
		switch {
		case row.Event.Ingest == event.IngestEmail && ok:
			Stamp(row, t)
		case row.Event.Ingest == event.IngestEmail:
			unknown = append(unknown, i)
		case ok && t.Site == string(row.Event.F[event.Site]):
			// The recipient landed on the site: their visitor id joins
			// them, proven by their mail's token. A consent the page
			// sends stays a browser's claim: the token proves who, not
			// what the page says they agreed to.
			row.Enriched.UserID = t.Email
			if !event.ConsentType(row.Event.F[event.Type]) {
				row.Enriched.Proof = event.ProofLink
			}
		}
	}
	return unknown, nil
}

// Unverified says whether e is a newsletter open or click whose token the
// collector did not verify (links.UnverifiedProp): a token an earlier
// version made, unsigned, or an invented one. Only a recipient having
// its token makes it an event; none, and it is dropped.
func Unverified(e *event.Event) bool {
	if e.Ingest != event.IngestEmail {
		return false
	}
	for _, p := range e.Props {
		if string(p.Key) == links.UnverifiedProp {
			return true
		}
	}
	return false
}

// Stamp makes a newsletter event the recipient's: site, person, and the
// campaign as its UTM tags; an unsubscribe withdraws the campaign's
// purpose; an open says whether a person or a machine fetched the pixel.
// The collector's unverified mark, answered by the recipient found, is
// not stored.
func Stamp(row *chstore.Row, t Target) {
	e, r := &row.Event, &row.Enriched
	props := e.Props[:0]
	for _, p := range e.Props {
		if string(p.Key) != links.UnverifiedProp {
			props = append(props, p)
		}
	}
	e.Props = props
	e.F[event.Site] = []byte(t.Site)
	r.UserID, r.VisitorID = t.Email, event.UserVisitorPrefix+t.Email
	r.Proof = event.ProofLink // its token is the recipient's own
	r.UTMCampaign, r.UTMSource, r.UTMMedium = t.Campaign, "newsletter", "email"
	r.Source, r.Medium = "newsletter", "email"
	switch string(e.F[event.Type]) {
	case "unsubscribe":
		e.Props = append(e.Props, event.Prop{Key: []byte("lists"), Value: []byte(t.Purpose)}, event.Prop{Key: []byte("source"), Value: []byte("email-link")})
	case "email_open":
		e.Props = append(e.Props, event.Prop{Key: []byte("open_kind"), Value: []byte(OpenKind(string(e.F[event.UserAgent]), string(e.F[event.IP])))})
	}
}

// Kinds of opens. A person opened the mail in "human" (their mail client
// fetched the pixel) and "proxy" (an image proxy fetched it for the
// reader as they opened it: Gmail's, on the web and in its apps, and
// Yahoo's fetch only when the mail is displayed, so each fetch is a
// reading); "apple_mpp" and "scanner" fetch the pixel whether or not
// anyone reads (Apple Mail Privacy Protection loads every image of every
// mail on arrival; security scanners and scripts inspect it).
const (
	OpenHuman   = "human"
	OpenProxy   = "proxy"
	OpenApple   = "apple_mpp"
	OpenScanner = "scanner"
)

// PersonOpen says whether an open of that kind is a person reading.
func PersonOpen(kind string) bool { return kind == OpenHuman || kind == OpenProxy }

// readingProxies mark the user agents of image proxies that fetch when
// the reader opens the mail ("Mozilla/5.0 (Windows NT 5.1; rv:11.0)
// Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"; YahooMailProxy).
var readingProxies = []string{"googleimageproxy", "ggpht.com", "yahoomailproxy"}

var scanners = []string{"barracuda", "mimecast", "proofpoint", "symantec", "messagelabs", "trendmicro", "fortinet", "sophos",
	"cisco", "ironport", "safelinks", "python", "curl", "wget", "go-http-client", "java/", "okhttp", "headless", "spider", "crawl", "scanner"}

// appleMail is 17.0.0.0/8, where Apple Mail Privacy Protection fetches
// every image of a mail when it arrives, read or not.
var appleMail = netip.MustParsePrefix("17.0.0.0/8")

// OpenKind tells, from the user agent and the (anonymised) address of a
// pixel fetch, who fetched it.
func OpenKind(ua, ip string) string {
	// A phone's model may hold any word ("POWER BOT", "Spider-Man
	// Edition", "Cisco Webex Desk"): the rules below never read it.
	l := strings.ToLower(useragent.WithoutDeviceModel(ua))
	for _, p := range readingProxies {
		if strings.Contains(l, p) {
			return OpenProxy
		}
	}
	if a, err := netip.ParseAddr(ip); err == nil && appleMail.Contains(a) {
		return OpenApple
	}
	if l == "" || l == "mozilla/5.0" {
		return OpenScanner // a bare user agent is no mail client
	}
	for _, s := range scanners {
		if strings.Contains(l, s) {
			return OpenScanner
		}
	}
	if useragent.IsBot([]byte(ua)) {
		return OpenScanner // a crawler of the maintained list
	}
	return OpenHuman
}
