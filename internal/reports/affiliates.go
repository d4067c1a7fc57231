package reports

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"footfall/internal/chsql"
	"footfall/internal/money"
	"footfall/internal/orders"
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
	qPartnerTraffic = chsql.New("reports.partner_traffic", statement(
		partnerExpr+" AS partner, if(affiliate != '', 'affiliate', 'site') AS kind", source{overEvents, "events WHERE " + eventsWhere + " AND partner != ''"},
		[]Metric{Visitors, Sessions}, "partner, kind", ""))
	// An order is the partner's when one of the visitors that reported it
	// first came through the partner in the period and ordered within
	// @window seconds after. Orders are grouped by their key and visitor
	// first, since the browser and the shop's backend may both report one
	// order under two visitor ids (the backend's u:<user id>); the figures
	// then read the pairs of the partner's orders (internal/orders), which
	// count each order once however many of its visitors joined. The right side has one row per visitor, so an ALL
	// INNER JOIN keeps each of a visitor's orders (an ANY INNER JOIN keeps
	// one order per visitor on current ClickHouse).
	// Revenue is in the reporting currency (currency.go); lost are the
	// (currency, order key, amount) of the orders no rate converts.
	qPartnerOrders = chsql.New("reports.partner_orders", `SELECT partner, `+
		orders.Count("groupArrayArray(pairs)")+` AS m_orders, `+orders.Revenue("groupArrayArray(pairs)")+` AS m_revenue,
    arrayMap(x -> tupleElement(x, 1), arraySort(groupArrayArray(lost))) AS m_lost_currency,
    arrayMap(x -> tupleElement(x, 2), arraySort(groupArrayArray(lost))) AS m_lost_key,
    arrayMap(x -> tupleElement(x, 3), arraySort(groupArrayArray(lost))) AS m_lost_micros FROM (
    SELECT `+orders.Key+` AS order_key, visitor_id AS visitor, `+orders.PairsOf(money.Amount(partnerDays))+` AS pairs,
           groupUniqArrayIf((currency, `+orders.Key+`, revenue_micros), type = 'purchase' AND `+money.Missing(partnerDays)+`) AS lost,
           min(time) AS ordered
    FROM events WHERE site_id = @site AND type = 'purchase' AND time >= @from AND time < @to + @window
    GROUP BY order_key, visitor_id
) AS o ALL INNER JOIN (
    SELECT visitor_id AS visitor, argMin(`+partnerExpr+`, `+EventOrder+`) AS partner, min(time) AS arrived
    FROM events WHERE `+eventsWhere+` AND `+partnerExpr+` != ''
    GROUP BY visitor_id
) AS p USING visitor
WHERE ordered >= arrived AND ordered < arrived + @window
GROUP BY partner`)
)

// partnerDays are the days of the rates a partner's orders may need: they
// are placed up to @window after the period.
var partnerDays = money.DaysOf("@from", "@to + @window")

// Affiliates is the report of q's affiliate ids and partner sites: per
// partner, the visitors and sessions it brought, the orders they placed
// within windowDays of arriving, their revenue, and the commission due at
// c's rate; the most revenue first, then the most visitors.
func Affiliates(ctx context.Context, db *chsql.Conn, q Query, windowDays int, c Commission) (Table, error) {
	type partner struct {
		kind               string
		visitors, sessions any
		orders             any
		revenue            int64 // micros
	}
	byPartner := map[string]*partner{}
	var order []string
	args := chsql.Args{}
	filters := map[string]string{"filters": q.where(args)}
	err := each(ctx, db, qPartnerTraffic.With(filters), args, func(scan func(...any) error) error {
		var id string
		pt := partner{orders: Orders.zero()}
		vals, err := scanRow(scan, []Metric{Visitors, Sessions}, &id, &pt.kind)
		if err != nil {
			return err
		}
		pt.visitors, pt.sessions = vals[0], vals[1]
		byPartner[id] = &pt
		order = append(order, id)
		return nil
	})
	if err != nil {
		return Table{}, err
	}
	args["window"] = uint32(windowDays * 86400)
	orderStmt := qPartnerOrders.With(filters)
	lost := lostOrders{}
	err = each(ctx, db, orderStmt, q.priced(orderStmt, args), func(scan func(...any) error) error {
		// Revenue in micros: the commission is priced before rounding.
		var id string
		var n uint64
		var revenue int64
		var cur, key []string
		var micros []int64
		if err := scan(&id, &n, &revenue, &cur, &key, &micros); err != nil {
			return err
		}
		if byPartner[id] != nil {
			lost.add(cur, key, micros)
		}
		if pt := byPartner[id]; pt != nil {
			pt.orders, pt.revenue = n, revenue
		}
		return nil
	})
	if err != nil {
		return Table{}, err
	}
	t := q.table("affiliates", "partner", "kind", "visitors", "sessions", "orders", "revenue", "rate", "commission")
	t.Currency, t.Unconverted = q.currency(), lost.list()
	for _, id := range order {
		pt := byPartner[id]
		rate := c.Rate(id)
		rev := float64(pt.revenue) / 1e6
		t.Rows = append(t.Rows, []any{id, pt.kind, pt.visitors, pt.sessions, pt.orders, Revenue.value(&pt.revenue), rate, roundTo(rev*rate, 2)})
	}
	sortRows(t.Rows, 5, 2) // by revenue, then visitors
	return t, nil
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
