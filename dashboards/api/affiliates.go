package api

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"footfall/internal/chsql"
)

// Commission is what the shop pays its affiliates and partner sites: a
// share of the revenue they brought, per partner or by default.
type Commission struct {
	Default float64
	Rates   map[string]float64
}

// RegisterFlags declares -affiliate-rate and -affiliate-rates on fs.
func (c *Commission) RegisterFlags(fs *flag.FlagSet) {
	fs.Float64Var(&c.Default, "affiliate-rate", 0, "commission on the revenue an affiliate or partner site brought, as a share (0.05 is 5%), unless -affiliate-rates names it")
	fs.Func("affiliate-rates", "commission per affiliate id or partner site: id=rate,id=rate (e.g. blog1=0.1,partner.example=0.05)", func(s string) error {
		c.Rates = map[string]float64{}
		for _, pair := range strings.Split(s, ",") {
			id, rate, ok := strings.Cut(strings.TrimSpace(pair), "=")
			r, err := strconv.ParseFloat(rate, 64)
			if !ok || id == "" || err != nil || r < 0 || r > 1 {
				return fmt.Errorf("%q: want id=rate with a rate from 0 to 1", pair)
			}
			c.Rates[id] = r
		}
		return nil
	})
}

// Rate is the commission rate of partner.
func (c Commission) Rate(partner string) float64 {
	if r, ok := c.Rates[partner]; ok {
		return r
	}
	return c.Default
}

// A partner is the affiliate id a visitor landed with (the aff parameter,
// kept for the session), or else the site that referred them.
const partnerExpr = `if(affiliate != '', affiliate, if(medium = 'referral', referrer_host, ''))`

var (
	qPartnerTraffic = chsql.New("api.partner_traffic", `SELECT `+partnerExpr+` AS partner, if(affiliate != '', 'affiliate', 'site') AS kind,
       uniq(visitor_id) AS visitors, uniqIf(session_id, session_id != '') AS sessions
FROM events WHERE `+eventsWhere+` AND partner != ''
GROUP BY partner, kind`)
	// An order is the partner's when its visitor first came through the
	// partner in the period and ordered within @window seconds after; each
	// order once, each of a visitor's orders (an INNER JOIN of every
	// order row with the one row per visitor of the right side: an ANY
	// INNER JOIN keeps one order per visitor on current ClickHouse).
	qPartnerOrders = chsql.New("api.partner_orders", `SELECT partner, count(), sum(revenue) FROM (
    SELECT order_id, any(visitor_id) AS visitor, any(revenue_micros) AS revenue, min(time) AS ordered
    FROM events WHERE site_id = @site AND type = 'purchase' AND order_id != '' AND time >= @from AND time < @to + @window
    GROUP BY order_id
) AS o ALL INNER JOIN (
    SELECT visitor_id AS visitor, argMin(`+partnerExpr+`, time) AS partner, min(time) AS arrived
    FROM events WHERE `+eventsWhere+` AND `+partnerExpr+` != ''
    GROUP BY visitor_id
) AS p USING visitor
WHERE ordered >= arrived AND ordered < arrived + @window
GROUP BY partner`)
)

// affiliates answers GET /api/v1/affiliates?site=&from=&to=&window_days=30:
// per affiliate id or partner site, the visitors and sessions it brought,
// the orders they placed within window_days of arriving, the revenue and
// the commission due.
func (a *API) affiliates(w http.ResponseWriter, r *http.Request) {
	p, ok := a.reportParams(w, r)
	if !ok {
		return
	}
	days, err := intParam(r.URL.Query().Get("window_days"), 30, 1, 365)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("window_days: %w", err))
		return
	}
	window := uint32(days * 86400)
	type partner struct {
		kind                     string
		visitors, sessions, odrs uint64
		revenue                  int64
	}
	byPartner := map[string]*partner{}
	var order []string
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	args := chsql.Args{}
	filters := map[string]string{"filters": p.where(args)}
	err = a.each(ctx, qPartnerTraffic.With(filters), args, func(sc func(...any) error) error {
		var id string
		var pt partner
		if err := sc(&id, &pt.kind, &pt.visitors, &pt.sessions); err != nil {
			return err
		}
		byPartner[id] = &pt
		order = append(order, id)
		return nil
	})
	if err == nil {
		args["window"] = window
		err = a.each(ctx, qPartnerOrders.With(filters), args, func(sc func(...any) error) error {
			var id string
			var n uint64
			var rev int64
			if err := sc(&id, &n, &rev); err != nil {
				return err
			}
			if pt := byPartner[id]; pt != nil {
				pt.odrs, pt.revenue = n, rev
			}
			return nil
		})
	}
	if err != nil {
		a.fail(w, "affiliates", err)
		return
	}
	t := p.table("affiliates", "partner", "kind", "visitors", "sessions", "orders", "revenue", "rate", "commission")
	for _, id := range order {
		pt := byPartner[id]
		rev := float64(pt.revenue) / 1e6
		rate := a.cfg.Commission.Rate(id)
		t.Rows = append(t.Rows, []any{id, pt.kind, pt.visitors, pt.sessions, pt.odrs, roundTo(rev, 2), rate, roundTo(rev*rate, 2)})
	}
	sortRows(t.Rows, 5, 2) // by revenue, then visitors
	writeTable(w, r, t)
}

var affiliateID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// affiliateLink answers GET /api/v1/affiliates/link?url=&affiliate=: the
// landing URL an affiliate should use, with its id (aff) and UTM tags.
func (a *API) affiliateLink(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("affiliate")
	if !affiliateID.MatchString(id) {
		writeError(w, http.StatusBadRequest, errors.New("affiliate: want letters, digits, _ . -, up to 64"))
		return
	}
	u, err := url.Parse(q.Get("url"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		writeError(w, http.StatusBadRequest, errors.New("url: want an absolute http or https URL"))
		return
	}
	v := u.Query()
	v.Set("aff", id)
	v.Set("utm_source", id)
	v.Set("utm_medium", "affiliate")
	if c := q.Get("campaign"); c != "" {
		v.Set("utm_campaign", c)
	}
	u.RawQuery = v.Encode()
	writeJSON(w, map[string]string{"affiliate": id, "url": u.String()})
}

// sortRows orders rows by the numeric columns given, largest first, then
// by the first column.
func sortRows(rows [][]any, cols ...int) {
	num := func(v any) float64 {
		switch x := v.(type) {
		case float64:
			return x
		case uint64:
			return float64(x)
		}
		return 0
	}
	slices.SortStableFunc(rows, func(a, b []any) int {
		for _, c := range cols {
			if x, y := num(a[c]), num(b[c]); x != y {
				return cmp.Compare(y, x)
			}
		}
		return strings.Compare(fmt.Sprint(a[0]), fmt.Sprint(b[0]))
	})
}
