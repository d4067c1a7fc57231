package campaigns

import (
	"context"
	"fmt"
	"math"
	"time"

	"footfall/internal/chsql"
	"footfall/internal/money"
	"footfall/internal/orders"
	"footfall/internal/profiles"
)

// Report is how one campaign did. Counts of people are distinct
// recipients; opens are split by who fetched the pixel, and a click counts
// as an open by a person.
type Report struct {
	Campaign
	Sent         uint64       `json:"sent"`
	Opened       uint64       `json:"unique_opens"`         // any open, machine or person, or a click
	OpenedHuman  uint64       `json:"unique_opens_human"`   // at least one open by a person (PersonOpenKinds), or a click
	OpenedOnlyBy uint64       `json:"unique_opens_machine"` // opened only by Apple MPP or scanners, never clicked
	Clicked      uint64       `json:"unique_clicks"`
	Clicks       uint64       `json:"clicks"`
	ClickToOpen  float64      `json:"click_to_open_rate"` // unique clicks / unique opens
	Links        []LinkClicks `json:"links"`
	Unsubscribed uint64       `json:"unsubscribes"`
	Sessions     uint64       `json:"site_sessions"`
	Orders       uint64       `json:"orders"`
	Revenue      float64      `json:"revenue"`
	ROI          *float64     `json:"roi,omitempty"` // (revenue - cost) / cost, when a cost is known
	// ReportCurrency is what Revenue, and the cost in ROI, are in: the
	// site's currency, each order converted at the rate of its day, the
	// cost at that of the day the campaign was sent (internal/money).
	// Unconverted are the orders no rate converts, left out of Revenue;
	// NoCostRate says the cost could not be converted, and ROI is left out.
	ReportCurrency string              `json:"report_currency"`
	Unconverted    []money.Unconverted `json:"unconverted,omitempty"`
	NoCostRate     string              `json:"roi_unknown,omitempty"`
	WindowDays     int                 `json:"attribution_window_days"`
}

// LinkClicks is one link's clicks.
type LinkClicks struct {
	Link    string `json:"link"`
	URL     string `json:"url"`
	Clicks  uint64 `json:"clicks"`
	Clicked uint64 `json:"unique_clicks"`
}

// PersonOpenKinds are the open kinds (the open_kind the processor gives
// each email_open, processor/recipients.OpenKind) in which a person opened
// the mail: their mail client fetched the pixel, or an image proxy did as
// they opened it (Gmail's, Yahoo's). Apple Mail Privacy Protection and
// scanners fetch it whether or not anyone reads.
var PersonOpenKinds = []string{"human", "proxy"}

// Opened is the condition on a newsletter event that its recipient opened
// the mail: an open, or a click, since whoever clicks has opened it,
// though their mail client showed no images. Every report and segment
// reads opens through it.
const Opened = `type IN ('email_open', 'email_click')`

// OpenedByPerson is Opened by a person: an open of a PersonOpenKinds kind,
// or a click.
const OpenedByPerson = `(type = 'email_click' OR (type = 'email_open' AND prop_values[indexOf(prop_keys, 'open_kind')] IN ('human', 'proxy')))`

var (
	qSent    = chsql.New("campaigns.sent", `SELECT count() FROM (SELECT email FROM recipients WHERE site_id = @site AND campaign_id = @campaign GROUP BY email)`)
	qEngaged = chsql.New("campaigns.engaged", `SELECT
    uniqExactIf(user_id, `+Opened+`),
    uniqExactIf(user_id, `+OpenedByPerson+`),
    uniqExactIf(user_id, type = 'email_click'),
    countIf(type = 'email_click'),
    uniqExactIf(user_id, type = 'unsubscribe')
FROM events WHERE site_id = @site AND ingest = 'email' AND utm_campaign = @campaign AND time >= @since`)
	qLinks = chsql.New("campaigns.links", `SELECT prop_values[indexOf(prop_keys, 'link')] AS link, any(url), count(), uniqExact(user_id)
FROM events WHERE site_id = @site AND ingest = 'email' AND type = 'email_click' AND utm_campaign = @campaign AND time >= @since
GROUP BY link ORDER BY count() DESC, link`)
	// Sessions on the site that came through the campaign's links (their
	// UTM tags stay with every event of the session).
	qSessions = chsql.New("campaigns.sessions", `SELECT uniqExact(session_id) FROM events
WHERE site_id = @site AND ingest != 'email' AND utm_campaign = @campaign AND session_id != '' AND time >= @since`)
	// Orders of recipients who clicked, placed within the window after
	// their first click, each order once (internal/orders: an order_id, or
	// a purchase without one; the largest amount sent for it). Purchases
	// are grouped by order and person first, for the order's time; the
	// figures then read the pairs of the orders credited. The clickers
	// side has one row per person, so ALL INNER JOIN keeps every order of
	// a clicker; ANY INNER JOIN would keep them on ClickHouse 18.16 but
	// only one order per person on current ClickHouse.
	// Revenue is in @currency; lost are the (currency, micros) of the
	// orders no rate converts, each order once.
	qAttributed = chsql.New("campaigns.attributed", `SELECT `+orders.Count("groupArrayArray(pairs)")+`, `+orders.Revenue("groupArrayArray(pairs)")+`,
    arrayMap(x -> tupleElement(x, 1), arraySort(groupUniqArrayArray(lost))), arrayMap(x -> tupleElement(x, 3), arraySort(groupUniqArrayArray(lost))) FROM (
    SELECT `+orders.Key+` AS order_key, `+profiles.PersonKey+` AS person_key, `+orders.PairsOf(money.Amount(attributedDays))+` AS pairs,
           groupUniqArrayIf((currency, order_key, revenue_micros), `+money.Missing(attributedDays)+`) AS lost, min(time) AS ordered
    FROM (SELECT visitor_id, type, order_id, event_id, revenue_micros, currency, time FROM events
          WHERE site_id = @site AND type = 'purchase' AND time >= @since) AS purchases
    ANY LEFT JOIN (`+profiles.PersonMap+`) AS ids USING visitor_id
    GROUP BY order_key, person_key
) AS ords ALL INNER JOIN (
    SELECT user_id AS person_key, min(time) AS clicked FROM events
    WHERE site_id = @site AND ingest = 'email' AND type = 'email_click' AND utm_campaign = @campaign AND time >= @since
    GROUP BY user_id
) AS clicks USING person_key
WHERE ordered >= clicked AND ordered < clicked + @window`)
	// qCost is the campaign's cost (@cost, micros in @cost_currency) in
	// @currency at the rate of the day it was sent (@sent), 0 when none.
	qCost = chsql.New("campaigns.cost", `SELECT `+money.Convert(money.DaysOf("@sent", "@sent").AnyAmount(), "@cost", "@cost_currency", "toDate(@sent)"))
)

// attributedDays are the days of the rates the orders credited to a
// campaign may need: from a day before it was sent (@since) to now.
var attributedDays = money.DaysOf("@since", "now()")

// Report computes how c did, crediting orders placed within window of a
// recipient's first click.
func (s *Store) Report(ctx context.Context, c Campaign, window time.Duration) (Report, error) {
	db := s.db
	rep := Report{Campaign: c, Links: []LinkClicks{}, WindowDays: int(window.Hours() / 24)}
	// Nothing of a campaign happens before it is sent; a day's margin
	// covers tests and sends recorded late.
	since := c.SentAt.Add(-24 * time.Hour)
	args := chsql.Args{"site": c.Site, "campaign": c.ID, "since": since}
	if err := db.QueryRow(ctx, qSent, chsql.Args{"site": c.Site, "campaign": c.ID}).Scan(&rep.Sent); err != nil {
		return rep, fmt.Errorf("campaign %s: sent: %w", c.ID, err)
	}
	if err := db.QueryRow(ctx, qEngaged, args).Scan(&rep.Opened, &rep.OpenedHuman, &rep.Clicked, &rep.Clicks, &rep.Unsubscribed); err != nil {
		return rep, fmt.Errorf("campaign %s: opens and clicks: %w", c.ID, err)
	}
	rep.OpenedOnlyBy = rep.Opened - rep.OpenedHuman
	if rep.Opened > 0 {
		rep.ClickToOpen = float64(rep.Clicked) / float64(rep.Opened)
	}
	rows, err := db.Query(ctx, qLinks, args)
	if err != nil {
		return rep, fmt.Errorf("campaign %s: links: %w", c.ID, err)
	}
	for rows.Next() {
		var l LinkClicks
		if err := rows.Scan(&l.Link, &l.URL, &l.Clicks, &l.Clicked); err != nil {
			rows.Close()
			return rep, fmt.Errorf("campaign %s: links: %w", c.ID, err)
		}
		rep.Links = append(rep.Links, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("campaign %s: links: %w", c.ID, err)
	}
	if err := db.QueryRow(ctx, qSessions, args).Scan(&rep.Sessions); err != nil {
		return rep, fmt.Errorf("campaign %s: sessions: %w", c.ID, err)
	}
	var revenue int64
	var lostCurrency []string
	var lostMicros []int64
	rep.ReportCurrency = s.currencyOf(c.Site)
	err = db.QueryRow(ctx, qAttributed, chsql.Args{"site": c.Site, "campaign": c.ID, "since": since, "window": uint32(window.Seconds()),
		"currency": rep.ReportCurrency}).Scan(&rep.Orders, &revenue, &lostCurrency, &lostMicros)
	if err != nil {
		return rep, fmt.Errorf("campaign %s: orders: %w", c.ID, err)
	}
	rep.Revenue = float64(revenue) / 1e6
	rep.Unconverted = money.Sum(lostCurrency, lostMicros)
	if c.Cost > 0 {
		cost := c.Cost
		if c.Currency != "" && c.Currency != rep.ReportCurrency {
			var micros int64
			err := db.QueryRow(ctx, qCost, chsql.Args{"cost": int64(math.Round(c.Cost * 1e6)), "cost_currency": c.Currency,
				"sent": c.SentAt.UTC().Truncate(time.Second), "currency": rep.ReportCurrency}).Scan(&micros)
			if err != nil {
				return rep, fmt.Errorf("campaign %s: cost: %w", c.ID, err)
			}
			cost = float64(micros) / 1e6
			if micros == 0 {
				rep.NoCostRate = fmt.Sprintf("no rate from %s to %s on %s or the %d days before", c.Currency, rep.ReportCurrency,
					c.SentAt.UTC().Format(time.DateOnly), money.Lookback)
			}
		}
		if rep.NoCostRate == "" {
			roi := (rep.Revenue - cost) / cost
			rep.ROI = &roi
		}
	}
	return rep, nil
}
