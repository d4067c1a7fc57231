// Package weekly is the weekly e-mail report of a site: the figures of a
// week (Monday to Sunday on the site's clock) against the week before, its
// top pages and sources and its newsletters' results, as a plain-text
// e-mail sent by SMTP to the addresses the site lists (Recipients). Every
// figure comes from internal/reports and internal/campaigns, the code
// behind the API's overview, timeseries and campaign reports: the e-mail
// and the dashboard show the same numbers.
package weekly

import (
	"context"
	"fmt"
	"time"

	"footfall/internal/campaigns"
	"footfall/internal/chsql"
	"footfall/internal/money"
	"footfall/internal/reports"
)

// Site is what a report needs to know of a site.
type Site struct {
	ID, Name string
	Zone     *time.Location // nil: UTC
	Currency string         // "": money.DefaultCurrency
}

// Totals are a week's figures.
type Totals struct {
	Visitors  uint64
	Pageviews uint64
	Orders    uint64
	Revenue   float64 // in the site's currency
}

// Newsletter is a campaign's results.
type Newsletter struct {
	Name    string
	SentAt  time.Time
	Report  campaigns.Report
	Revenue float64
}

// Figures are one site's weekly report.
type Figures struct {
	Site     Site
	Currency string
	// Week is the Monday (the first instant of it, in the site's zone)
	// the week reported starts; End the next Monday's; Prev the Monday
	// before Week.
	Week, End, Prev time.Time
	This, Last      Totals
	Pages, Sources  []reports.Row // this week's, the most visitors first
	Newsletters     []Newsletter
}

// TopRows is how many pages and sources the report lists.
const TopRows = 5

// NewsletterDays is how far before the week's end a newsletter may have
// been sent to be in the report: a newsletter's orders come for days
// after it is sent.
const NewsletterDays = 28

// AttributionWindow is the newsletters' attribution window, the
// campaign report's default (GET /api/v1/campaigns/{id}/report).
const AttributionWindow = 7 * 24 * time.Hour

// Monday is the first instant of the Monday of the week t is in, on loc's
// clock.
func Monday(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	y, m, d := l.Date()
	return reports.DayStart(y, m, d-(int(l.Weekday())+6)%7, loc)
}

// LastWeek is the Monday of the last whole week before now, on loc's clock.
func LastWeek(now time.Time, loc *time.Location) time.Time {
	this := Monday(now, loc).In(loc)
	return reports.DayStart(this.Year(), this.Month(), this.Day()-7, loc)
}

// Build reads the report of site's week starting week (a Monday, as
// Monday gives it): db is a connection that reads, camps the campaigns.
func Build(ctx context.Context, db *chsql.Conn, camps *campaigns.Store, site Site, week time.Time) (Figures, error) {
	loc := site.Zone
	if loc == nil {
		loc = time.UTC
	}
	cur := site.Currency
	if cur == "" {
		cur = money.DefaultCurrency
	}
	w := week.In(loc)
	f := Figures{Site: site, Currency: cur, Week: w,
		End:  reports.DayStart(w.Year(), w.Month(), w.Day()+7, loc),
		Prev: reports.DayStart(w.Year(), w.Month(), w.Day()-7, loc)}
	var err error
	if f.This, f.Pages, f.Sources, err = totals(ctx, db, reports.Query{Site: site.ID, From: f.Week, To: f.End, Zone: loc, Currency: cur}); err != nil {
		return f, err
	}
	if f.Last, _, _, err = totals(ctx, db, reports.Query{Site: site.ID, From: f.Prev, To: f.Week, Zone: loc, Currency: cur}); err != nil {
		return f, err
	}
	if camps != nil {
		list, err := camps.List(ctx, site.ID)
		if err != nil {
			return f, fmt.Errorf("newsletters of %s: %w", site.ID, err)
		}
		since := f.End.Add(-NewsletterDays * 24 * time.Hour)
		for _, c := range list {
			if c.SentAt.Before(since) || !c.SentAt.Before(f.End) {
				continue
			}
			rep, err := camps.Report(ctx, c, AttributionWindow)
			if err != nil {
				return f, fmt.Errorf("newsletter %s of %s: %w", c.ID, site.ID, err)
			}
			f.Newsletters = append(f.Newsletters, Newsletter{Name: c.Name, SentAt: c.SentAt.In(loc), Report: rep, Revenue: rep.Revenue})
		}
	}
	return f, nil
}

// totals are q's visitors, page views and top lists as the overview
// reads them (reports.OverviewOf, GET /api/v1/overview), and its orders
// and revenue as the time series does (reports.Series by week, GET
// /api/v1/timeseries?interval=week&metrics=orders,revenue).
func totals(ctx context.Context, db *chsql.Conn, q reports.Query) (Totals, []reports.Row, []reports.Row, error) {
	var t Totals
	tr, err := reports.OverviewOf(ctx, db, q, "day")
	if err != nil {
		return t, nil, nil, fmt.Errorf("overview of %s: %w", q.Site, err)
	}
	t.Visitors, t.Pageviews = tr.Visitors, tr.Pageviews
	s, err := reports.Series(ctx, db, q, "week", []reports.Metric{reports.Orders, reports.Revenue})
	if err != nil {
		return t, nil, nil, fmt.Errorf("orders of %s: %w", q.Site, err)
	}
	for _, row := range s.Rows {
		if n, ok := row[1].(uint64); ok {
			t.Orders += n
		}
		if v, ok := row[2].(float64); ok {
			t.Revenue += v
		}
	}
	return t, first(tr.Pages, TopRows), first(tr.Sources, TopRows), nil
}

func first(rows []reports.Row, n int) []reports.Row {
	if len(rows) > n {
		return rows[:n]
	}
	return rows
}
