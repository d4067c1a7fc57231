package weekly

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/chsql"
)

// MaxRecipients bounds a site's list of report addresses.
const MaxRecipients = 20

// Store keeps each site's report addresses and the weeks sent (tables
// report_recipients and weekly_reports_sent, migration 0026).
type Store struct {
	db  *chsql.Conn
	now func() time.Time
}

// NewStore returns the store on db: a connection that may write for Set
// and MarkSent, any for the reads.
func NewStore(db *chsql.Conn) *Store { return &Store{db: db, now: time.Now} }

var (
	qRecipients = chsql.New("weekly.recipients", `SELECT site_id, argMax(emails, version)
FROM report_recipients WHERE site_id = @site OR @site = '' GROUP BY site_id ORDER BY site_id`)
	qSetRecipients = chsql.New("weekly.set_recipients", `INSERT INTO report_recipients (site_id, emails, updated_at, version)`)
	qSent          = chsql.New("weekly.sent", `SELECT count() FROM weekly_reports_sent WHERE site_id = @site AND week = @week`)
	qMarkSent      = chsql.New("weekly.mark_sent", `INSERT INTO weekly_reports_sent (site_id, week, sent_at, recipients)`)
)

// CheckRecipients cleans a list of addresses: trimmed, lower-cased,
// deduplicated and sorted; an address that is not one is an error.
func CheckRecipients(emails []string) ([]string, error) {
	out := []string{}
	for _, e := range emails {
		e = strings.ToLower(strings.TrimSpace(e))
		if why := campaigns.CheckEmail(e); why != "" {
			return nil, fmt.Errorf("report_emails: %s", why)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) > MaxRecipients {
		return nil, fmt.Errorf("report_emails: at most %d addresses", MaxRecipients)
	}
	slices.Sort(out)
	return out, nil
}

// Recipients are the report addresses of site ("": of every site that
// has some), by site.
func (s *Store) Recipients(ctx context.Context, site string) (map[string][]string, error) {
	rows, err := s.db.Query(ctx, qRecipients, chsql.Args{"site": site})
	if err != nil {
		return nil, fmt.Errorf("read report recipients: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var id string
		var emails []string
		if err := rows.Scan(&id, &emails); err != nil {
			return nil, fmt.Errorf("read report recipients: %w", err)
		}
		if len(emails) > 0 {
			out[id] = emails
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read report recipients: %w", err)
	}
	return out, nil
}

// Set replaces site's report addresses (checked by CheckRecipients) and
// returns them as stored; an empty list stops the site's report.
func (s *Store) Set(ctx context.Context, site string, emails []string) ([]string, error) {
	clean, err := CheckRecipients(emails)
	if err != nil {
		return nil, err
	}
	now := s.now()
	b, err := s.db.PrepareBatch(ctx, qSetRecipients)
	if err != nil {
		return nil, fmt.Errorf("save report recipients: %w", err)
	}
	if err := b.Append(site, clean, now, uint64(now.UnixNano())); err != nil {
		return nil, fmt.Errorf("save report recipients: %w", err)
	}
	if err := b.Send(); err != nil {
		return nil, fmt.Errorf("save report recipients: %w", err)
	}
	return clean, nil
}

// Sent says whether site's report of the week starting week (its Monday's
// date on the site's clock) was sent.
func (s *Store) Sent(ctx context.Context, site string, week time.Time) (bool, error) {
	var n uint64
	if err := s.db.QueryRow(ctx, qSent, chsql.Args{"site": site, "week": chsql.Date(dateOf(week))}).Scan(&n); err != nil {
		return false, fmt.Errorf("read weekly reports sent: %w", err)
	}
	return n > 0, nil
}

// MarkSent records that site's report of week went to recipients.
func (s *Store) MarkSent(ctx context.Context, site string, week time.Time, recipients []string) error {
	b, err := s.db.PrepareBatch(ctx, qMarkSent)
	if err != nil {
		return fmt.Errorf("record a weekly report sent: %w", err)
	}
	if err := b.Append(site, dateOf(week), s.now(), recipients); err != nil {
		return fmt.Errorf("record a weekly report sent: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("record a weekly report sent: %w", err)
	}
	return nil
}

// dateOf is week's date on its own clock, as a Date column reads it.
func dateOf(week time.Time) time.Time {
	y, m, d := week.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
